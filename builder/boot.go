package builder

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/internal/progressstep"
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
	log := &bootLog{}
	ctx = driver.WithBootLog(ctx, log.add)
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
	st := progressstep.Start(d.ch, fmt.Sprintf("[internal] booting buildkit (node %s)", n.Name), started)
	log.show(st)
	b := <-done
	st.Done(b.err)
	d.close()
	return b.info, b.err
}

// bootLog keeps what a bootstrap says it waits for until its step is
// shown, then logs it under the step.
type bootLog struct {
	mu      sync.Mutex
	pending []string
	step    *progressstep.Step
}

func (l *bootLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.step == nil {
		l.pending = append(l.pending, line)
		return
	}
	l.step.Log("%s", line)
}

func (l *bootLog) show(st *progressstep.Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.step = st
	for _, line := range l.pending {
		st.Log("%s", line)
	}
	l.pending = nil
}
