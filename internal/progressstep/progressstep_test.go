package progressstep

import (
	"errors"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
)

func TestStep(t *testing.T) {
	t.Parallel()
	ch := make(chan *bkclient.SolveStatus, 3)
	started := time.Now().Add(-time.Second)
	s := Start(ch, "pushing r/a:1", started)
	s.Log("layer %d: %s", 1, "Pushed")
	s.Done(errors.New("denied"))
	first, log, last := <-ch, <-ch, <-ch
	v := first.Vertexes[0]
	if v.Name != "pushing r/a:1" || !v.Started.Equal(started) || v.Completed != nil {
		t.Errorf("start = %+v", v)
	}
	if l := log.Logs[0]; l.Vertex != v.Digest || string(l.Data) != "layer 1: Pushed\n" {
		t.Errorf("log = %+v", l)
	}
	if d := last.Vertexes[0]; d.Digest != v.Digest || d.Completed == nil || d.Error != "denied" {
		t.Errorf("done = %+v", d)
	}
}
