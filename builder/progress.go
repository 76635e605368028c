package builder

import (
	"fmt"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/exporter"
)

// progress adds xbuild's own steps (notes, loads) to the display that
// shows the solve, as vertexes of their own.
type progress struct {
	ch chan<- *bkclient.SolveStatus
}

var _ exporter.Progress = progress{}

// Step implements exporter.Progress.
func (p progress) Step(name string) exporter.Step {
	now := time.Now()
	v := &bkclient.Vertex{Digest: digest.FromString(identity.NewID()), Name: name, Started: &now}
	p.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{v}}
	return &step{ch: p.ch, v: v}
}

// note shows a message as a finished step of its own.
func (p progress) note(msg string) {
	s := p.Step(msg)
	s.Done(nil)
}

type step struct {
	ch chan<- *bkclient.SolveStatus
	v  *bkclient.Vertex
}

func (s *step) Log(format string, args ...any) {
	s.ch <- &bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{
		Vertex: s.v.Digest, Stream: 1, Timestamp: time.Now(),
		Data: []byte(fmt.Sprintf(format, args...) + "\n"),
	}}}
}

func (s *step) Done(err error) {
	now := time.Now()
	v := *s.v
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	s.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&v}}
}
