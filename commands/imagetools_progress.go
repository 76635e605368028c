package commands

import (
	"context"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/imagetools"
	"github.com/xbuild/xbuild/internal/progressstep"
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
	return progressstep.Start(p.ch, name, time.Now())
}
