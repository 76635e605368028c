package builder

import (
	"context"
	"fmt"
	"sync"

	bkclient "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// barrier holds the solves of a defer-output run between their results
// and their exports: BuildKit exports a gateway build's result only once
// its callback returns, and each callback returns only once every solve
// has arrived, so no output is written unless all of them have a result.
// It is safe for concurrent use.
type barrier struct {
	mu     sync.Mutex
	left   int
	err    error
	closed bool
	open   chan struct{}
}

// newBarrier returns a barrier for n solves; with n of 0 it is open.
func newBarrier(n int) *barrier {
	b := &barrier{left: n, open: make(chan struct{})}
	if n <= 0 {
		b.release(nil)
	}
	return b
}

// Arrive counts one solve as having its result and waits for the others.
// It returns nil once all have arrived, Fail's error when a solve failed
// first, or ctx's cause when ctx ends first.
func (b *barrier) Arrive(ctx context.Context) error {
	b.mu.Lock()
	b.left--
	if b.left == 0 {
		b.release(nil)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Fail releases the waiting solves with err, so none exports. Once every
// solve has arrived the exports may have begun and Fail does nothing.
func (b *barrier) Fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release(err)
}

// release opens the barrier once; b.mu is held (or b is not yet shared).
func (b *barrier) release(err error) {
	if b.closed {
		return
	}
	b.closed, b.err = true, err
	close(b.open)
}

// deferredSolves counts the solves of runners that export a user's
// outputs and so wait at the barrier: one per node a job runs on, none for
// a frontend method or a job built only as another's context.
func deferredSolves(runners []*runner) int {
	n := 0
	for _, rn := range runners {
		switch {
		case rn.job.Req.Call != nil:
		case rn.plan.split():
			n += len(rn.plan.parts)
		case rn.state.isDependency(rn.job.Name) && onlyCacheOnly(rn.plan.parts[0].plan.Outputs):
		default:
			n++
		}
	}
	return n
}

// defers says whether s waits at the run's barrier: a solve of the user's
// outputs (one with stats) in a defer-output run.
func (rn *runner) defers(s *solve) bool {
	return rn.state.barrier != nil && s.stats != nil
}

// solveDeferred runs s as a gateway build whose callback solves the
// frontend, evaluates every ref of its result so a failing step fails
// here, then waits at the run's barrier before handing the result to
// BuildKit's exports. The named contexts are frontend attributes pointing
// at OCI stores, so the request needs no frontend inputs.
func (rn *runner) solveDeferred(ctx context.Context, s *solve, statuses chan *bkclient.SolveStatus) (*bkclient.SolveResponse, error) {
	so := *s.so
	req := gateway.SolveRequest{Frontend: so.Frontend, FrontendOpt: so.FrontendAttrs}
	so.Frontend = ""
	return s.part.conn.client.Build(ctx, so, "xbuild", func(gctx context.Context, c gateway.Client) (*gateway.Result, error) {
		res, err := c.Solve(gctx, req)
		if err != nil {
			return nil, err
		}
		err = res.EachRef(func(ref gateway.Reference) error {
			if ref == nil {
				return nil
			}
			return ref.Evaluate(gctx)
		})
		if err != nil {
			return nil, err
		}
		if err := rn.state.barrier.Arrive(ctx); err != nil {
			return nil, fmt.Errorf("waiting for the other targets before exporting: %w", err)
		}
		return res, nil
	}, statuses)
}
