// Package progressstep shows xbuild's own steps (notes, loads, pushes,
// boots) on a BuildKit progress display, as vertexes with logs beside the
// solve's.
package progressstep

import (
	"fmt"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	digest "github.com/opencontainers/go-digest"
)

// Step is one step on a display's channel. Log and Done must not be called
// after the channel is closed.
type Step struct {
	ch chan<- *bkclient.SolveStatus
	v  bkclient.Vertex
}

// Start shows a step named name as started at started (when the work began,
// which may be before the display existed).
func Start(ch chan<- *bkclient.SolveStatus, name string, started time.Time) *Step {
	s := &Step{ch: ch, v: bkclient.Vertex{Digest: digest.FromString(identity.NewID()), Name: name, Started: &started}}
	v := s.v
	ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&v}}
	return s
}

// Log adds a line to the step's log.
func (s *Step) Log(format string, args ...any) {
	s.ch <- &bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{
		Vertex: s.v.Digest, Stream: 1, Timestamp: time.Now(),
		Data: []byte(fmt.Sprintf(format, args...) + "\n"),
	}}}
}

// Done ends the step, failed when err is not nil.
func (s *Step) Done(err error) {
	now := time.Now()
	v := s.v
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	s.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&v}}
}
