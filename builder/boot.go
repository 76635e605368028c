package builder

import (
	"context"
	"fmt"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/driver"
)

// bootQuiet is how long a bootstrap may take before it is shown: a node
// that runs answers in far less, one that starts a daemon (pulls an image,
// creates a container) takes seconds, and the user should see why.
const bootQuiet = 300 * time.Millisecond

// bootShown boots a node, showing the boot as a step of a display of its
// own once it takes longer than bootQuiet. The build's display starts only
// after every node answered, because planning needs their capabilities.
func bootShown(ctx context.Context, inst *Instance, n Node, opts BuildOptions) (driver.Info, error) {
	type booted struct {
		info driver.Info
		err  error
	}
	done := make(chan booted, 1)
	started := time.Now()
	go func() {
		info, err := boot(ctx, inst, n)
		done <- booted{info, err}
	}()
	select {
	case b := <-done:
		return b.info, b.err
	case <-time.After(bootQuiet):
	}
	d, err := startDisplay(ctx, inst, opts)
	if err != nil {
		b := <-done
		return b.info, b.err
	}
	v := &bkclient.Vertex{Digest: digest.FromString(identity.NewID()), Name: fmt.Sprintf("[internal] booting buildkit (node %s)", n.Name), Started: &started}
	d.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{v}}
	b := <-done
	end := time.Now()
	fin := *v
	fin.Completed = &end
	if b.err != nil {
		fin.Error = b.err.Error()
	}
	d.ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&fin}}
	d.close()
	return b.info, b.err
}
