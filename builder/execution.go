package builder

import (
	"context"
	"fmt"
	"strings"
)

// ExecutionMode says what one failing job of a BuildAll does to the rest.
type ExecutionMode string

const (
	// ExecutionFailFast cancels the jobs still running at the first
	// failure; outputs already written stay.
	ExecutionFailFast ExecutionMode = "fail-fast"
	// ExecutionDeferError lets the jobs that do not use the failed one
	// finish, then reports every failure.
	ExecutionDeferError ExecutionMode = "defer-error"
	// ExecutionDeferOutput holds every export until all jobs have their
	// results; the first failure cancels the rest and nothing is exported.
	ExecutionDeferOutput ExecutionMode = "defer-output"
)

// Execution is how the jobs of one BuildAll run. The zero value runs them
// all at once, failing fast.
type Execution struct {
	Mode ExecutionMode
	// Parallel is how many jobs run at the same time; 0 is no limit.
	Parallel int
}

// check refuses what cannot run: a limit below the number of jobs when
// jobs use others as contexts (a waiting job would hold a slot its
// context needs, so buildx refuses the same), or with defer-output, whose
// jobs all wait for each other before exporting.
func (e Execution) check(jobs []*Job) error {
	if e.Parallel <= 0 || e.Parallel >= len(jobs) {
		return nil
	}
	if e.Mode == ExecutionDeferOutput {
		return fmt.Errorf("--jobs mode defer-output needs every target running at once, but parallel=%d is below the %d targets (counting those used as target: contexts): raise parallel to %d or drop it", e.Parallel, len(jobs), len(jobs))
	}
	for _, j := range jobs {
		if len(j.ContextTargets) > 0 {
			return fmt.Errorf("--jobs parallel=%d is below the %d targets, and target %s uses another target as a context, which needs them to run together: raise parallel to %d or drop it", e.Parallel, len(jobs), j.Name, len(jobs))
		}
	}
	return nil
}

// slots hands out the run's places, one per running job; nil means no
// limit.
type slots chan struct{}

func newSlots(e Execution) slots {
	if e.Parallel <= 0 {
		return nil
	}
	return make(slots, e.Parallel)
}

// acquire waits for a place; it fails only when ctx ends first.
func (s slots) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s slots) release() {
	if s != nil {
		<-s
	}
}

// TargetErrors are the failures of a run that let the other jobs finish
// (defer-error), in the order of the jobs.
type TargetErrors []*TargetError

func (e TargetErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	lines := make([]string, len(e))
	for i, te := range e {
		lines[i] = te.Error()
	}
	return fmt.Sprintf("%d targets failed:\n%s", len(e), strings.Join(lines, "\n"))
}

func (e TargetErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, te := range e {
		out[i] = te
	}
	return out
}
