package commands

import (
	"context"
	"fmt"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/imagetools"
)

// pushDisplay shows imagetools.Push's steps on a BuildKit display, as
// vertexes with logs, the way build shows its own steps.
type pushDisplay struct {
	ch   chan *bkclient.SolveStatus
	done chan struct{}
}

var _ imagetools.Progress = (*pushDisplay)(nil)

func startPushDisplay(ctx context.Context, d progressui.Display) *pushDisplay {
	p := &pushDisplay{ch: make(chan *bkclient.SolveStatus), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// The display drains its channel to the end, even after a
		// cancel, or Push would block on it.
		_, _ = d.UpdateFrom(context.WithoutCancel(ctx), p.ch)
	}()
	return p
}

// close ends the display once it has shown everything.
func (p *pushDisplay) close() {
	close(p.ch)
	<-p.done
}

// Step implements imagetools.Progress.
func (p *pushDisplay) Step(name string) imagetools.ProgressStep {
	now := time.Now()
	v := &bkclient.Vertex{Digest: digest.FromString(identity.NewID()), Name: name, Started: &now}
	p.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{v}}
	return &pushStep{ch: p.ch, v: v}
}

type pushStep struct {
	ch chan<- *bkclient.SolveStatus
	v  *bkclient.Vertex
}

func (s *pushStep) Log(format string, args ...any) {
	s.ch <- &bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{
		Vertex: s.v.Digest, Stream: 1, Timestamp: time.Now(),
		Data: []byte(fmt.Sprintf(format, args...) + "\n"),
	}}}
}

func (s *pushStep) Done(err error) {
	now := time.Now()
	v := *s.v
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	s.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&v}}
}
