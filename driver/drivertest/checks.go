package drivertest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xbuild/xbuild/driver"
)

const (
	// unreachableBound is how long Info may take to say a node is
	// unreachable: `ls` asks every node, and a user waits for the slowest.
	unreachableBound = 10 * time.Second
	// cancelBound is how long Bootstrap may take to return once its context
	// is cancelled: a ^C must end the command promptly.
	cancelBound = 5 * time.Second
)

// checkBootstrapTwice: a second Bootstrap, from the same value or another
// command's, succeeds and finds the daemon the first one left.
func checkBootstrapTwice(ctx context.Context, t *testing.T, open Opener) {
	n := open.Node(t)
	d := n.New(t)
	bootstrap(ctx, t, d)
	first := running(ctx, t, d)
	before := daemons(t, n)
	if n.Daemons != nil && len(before) != 1 {
		t.Fatalf("daemons after Bootstrap() = %v, want exactly one", before)
	}
	if err := d.Bootstrap(ctx); err != nil {
		t.Fatalf("second Bootstrap() = %v, want nil", err)
	}
	if err := n.New(t).Bootstrap(ctx); err != nil {
		t.Fatalf("Bootstrap() from another driver value = %v, want nil", err)
	}
	sameDaemon(t, first, running(ctx, t, d))
	if after := daemons(t, n); !slices.Equal(after, before) {
		t.Errorf("daemons after bootstrapping again = %v, want %v", after, before)
	}
}

// checkInfoUnreachable: Info says unreachable, with the address in the
// error, instead of failing, hanging or claiming the node runs.
func checkInfoUnreachable(ctx context.Context, t *testing.T, open Opener) {
	d, addr := open.Unreachable(t)
	done := make(chan driver.Info, 1)
	go func() { done <- d.Info(ctx) }()
	var info driver.Info
	select {
	case info = <-done:
	case <-time.After(unreachableBound):
		t.Fatalf("Info() on unreachable %s did not return within %v", addr, unreachableBound)
	}
	if info.Status != driver.StatusUnreachable {
		t.Errorf("Info().Status = %q, want %q", info.Status, driver.StatusUnreachable)
	}
	if info.Err == nil {
		t.Fatalf("Info().Err = nil, want the cause")
	}
	if !strings.Contains(info.Err.Error(), addr) {
		t.Errorf("Info().Err = %q, want it to name %s", info.Err, addr)
	}
}

// checkSolve: the client of a bootstrapped node builds and reads back.
func checkSolve(ctx context.Context, t *testing.T, open Opener) {
	d := open.Node(t).New(t)
	bootstrap(ctx, t, d)
	c := client(ctx, t, d)
	if err := buildAndRead(ctx, c); err != nil {
		t.Fatalf("trivial build: %v", err)
	}
}

// checkCapabilities: each file exporter the node lists works and each it
// leaves out is refused; a node that claims MultiPlatform writes an index.
func checkCapabilities(ctx context.Context, t *testing.T, open Opener) {
	d := open.Node(t).New(t)
	bootstrap(ctx, t, d)
	caps := running(ctx, t, d).Capabilities
	c := client(ctx, t, d)
	for _, typ := range fileExporters {
		err := export(ctx, c, typ, t.TempDir())
		switch {
		case caps.Exports(typ) && err != nil:
			t.Errorf("Capabilities.Exporters lists %q, but exporting with it: %v", typ, err)
		case !caps.Exports(typ) && err == nil:
			t.Errorf("Capabilities.Exporters = %v leaves out %q, but the daemon exported with it", caps.Exporters, typ)
		case err != nil:
			t.Logf("exporter %q, not listed, is refused: %v", typ, err)
		}
	}
	if !caps.MultiPlatform {
		// A store that holds no index (the engine's classic one) must not
		// be asked for one: the planner refuses such builds before work.
		return
	}
	if !caps.Exports("oci") {
		t.Fatalf("Capabilities.MultiPlatform is set, but the node lists no oci exporter to write an index with")
	}
	if err := exportIndex(ctx, c, t.TempDir()); err != nil {
		t.Errorf("Capabilities.MultiPlatform is set, but a two-platform index: %v", err)
	}
}

// checkRemoveTwice: removing a removed node is not an error, and nothing
// the driver started survives removal.
func checkRemoveTwice(ctx context.Context, t *testing.T, open Opener) {
	n := open.Node(t)
	d := n.New(t)
	bootstrap(ctx, t, d)
	if err := d.Remove(ctx, driver.RemoveOptions{}); err != nil {
		t.Fatalf("Remove() = %v, want nil", err)
	}
	if err := d.Remove(ctx, driver.RemoveOptions{}); err != nil {
		t.Errorf("second Remove() = %v, want nil", err)
	}
	if err := n.New(t).Remove(ctx, driver.RemoveOptions{}); err != nil {
		t.Errorf("Remove() from another driver value = %v, want nil", err)
	}
	if pids := daemons(t, n); len(pids) != 0 {
		t.Errorf("daemons after Remove() = %v, want none", pids)
	}
}

// checkConcurrentBootstrap: two commands booting the same node at once
// both succeed and end up with one daemon between them.
func checkConcurrentBootstrap(ctx context.Context, t *testing.T, open Opener) {
	n := open.Node(t)
	ds := []driver.Driver{n.New(t), n.New(t)}
	errs := make([]error, len(ds))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			<-start
			errs[i] = d.Bootstrap(ctx)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Bootstrap(): %v", err)
	}
	if pids := daemons(t, n); n.Daemons != nil && len(pids) != 1 {
		t.Errorf("daemons after concurrent Bootstrap() = %v, want exactly one", pids)
	}
	sameDaemon(t, running(ctx, t, ds[0]), running(ctx, t, ds[1]))
}

// checkCancelBootstrap: Bootstrap returns promptly on a cancelled
// context, whether cancelled before the call or during it, leaves no
// daemon behind, and does not spoil the node for the next Bootstrap.
func checkCancelBootstrap(ctx context.Context, t *testing.T, open Opener) {
	t.Run("Before", func(t *testing.T) {
		n := open.Node(t)
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(errCancelled)
		if err := bootstrapWithin(cctx, t, n.New(t), func(<-chan struct{}) {}); err == nil {
			t.Errorf("Bootstrap() on a cancelled context = nil, want an error")
		}
		if pids := daemons(t, n); len(pids) != 0 {
			t.Errorf("daemons after a cancelled Bootstrap() = %v, want none", pids)
		}
	})
	t.Run("During", func(t *testing.T) {
		n := open.Node(t)
		cctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		err := bootstrapWithin(cctx, t, n.New(t), func(returned <-chan struct{}) {
			waitForDaemon(ctx, t, n, returned)
			cancel(errCancelled)
		})
		if err == nil {
			t.Logf("Bootstrap() finished before the cancel landed")
		} else if pids := daemons(t, n); len(pids) != 0 {
			t.Errorf("daemons after a cancelled Bootstrap() = %v, want none", pids)
		}
		bootstrap(ctx, t, n.New(t))
		if pids := daemons(t, n); n.Daemons != nil && len(pids) != 1 {
			t.Errorf("daemons after bootstrapping again = %v, want exactly one", pids)
		}
	})
}

var errCancelled = errors.New("cancelled by drivertest")

// bootstrapWithin runs Bootstrap, calls cancel once it is under way (with
// a channel closed when Bootstrap returns), and fails t unless Bootstrap
// returns within cancelBound of cancel returning.
func bootstrapWithin(ctx context.Context, t *testing.T, d driver.Driver, cancel func(returned <-chan struct{})) error {
	t.Helper()
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		done <- d.Bootstrap(ctx)
		close(returned)
	}()
	cancel(returned)
	select {
	case err := <-done:
		return err
	case <-time.After(cancelBound):
	}
	// Wait anyway: a Bootstrap still running would outlive the check and
	// race with the node's cleanup.
	err := <-done
	t.Errorf("Bootstrap() returned %v more than %v after its context was cancelled", err, cancelBound)
	return err
}

// waitForDaemon returns once the node's daemon process exists, so that a
// cancel lands while the driver waits for it to answer, or once Bootstrap
// returned without one. Drivers that start no daemon give nothing to wait
// for.
func waitForDaemon(ctx context.Context, t *testing.T, n Node, returned <-chan struct{}) {
	t.Helper()
	if n.Daemons == nil {
		return
	}
	for len(n.Daemons(t)) == 0 {
		select {
		case <-ctx.Done():
			return
		case <-returned:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func bootstrap(ctx context.Context, t *testing.T, d driver.Driver) {
	t.Helper()
	if err := d.Bootstrap(ctx); err != nil {
		t.Fatalf("Bootstrap() = %v, want nil", err)
	}
}

// running returns the node's Info and fails t unless it describes a
// daemon that answered.
func running(ctx context.Context, t *testing.T, d driver.Driver) driver.Info {
	t.Helper()
	info := d.Info(ctx)
	if info.Status != driver.StatusRunning || info.Err != nil {
		t.Fatalf("Info() = status %q, err %v; want %q and no error", info.Status, info.Err, driver.StatusRunning)
	}
	if info.BuildKitVersion == "" || len(info.Platforms) == 0 {
		t.Errorf("Info() = version %q, platforms %v; want both set", info.BuildKitVersion, info.Platforms)
	}
	return info
}

// sameDaemon fails t unless two Infos describe the same daemon, as far as
// Info can tell.
func sameDaemon(t *testing.T, a, b driver.Info) {
	t.Helper()
	if a.BuildKitVersion != b.BuildKitVersion {
		t.Errorf("BuildKit version %q, then %q", a.BuildKitVersion, b.BuildKitVersion)
	}
	if pa, pb := driver.FormatPlatforms(a.Platforms), driver.FormatPlatforms(b.Platforms); pa != pb {
		t.Errorf("platforms %s, then %s", pa, pb)
	}
	if !maps.Equal(a.WorkerLabels, b.WorkerLabels) {
		t.Errorf("worker labels %v, then %v", a.WorkerLabels, b.WorkerLabels)
	}
}

// daemons returns the node's daemon processes, sorted; nil when the driver
// starts none.
func daemons(t *testing.T, n Node) []int {
	t.Helper()
	if n.Daemons == nil {
		return nil
	}
	pids := n.Daemons(t)
	slices.Sort(pids)
	return pids
}
