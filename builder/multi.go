package builder

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
)

// Job is one target of a build with several targets.
type Job struct {
	Name string
	Req  *Request
	// ContextTargets maps a named context of Req to the job whose result
	// it uses (bake's "target:NAME" contexts).
	ContextTargets map[string]string
}

// TargetError says which target of a multi-target build failed.
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %s: %v", e.Target, e.Err) }
func (e *TargetError) Unwrap() error { return e.Err }

// BuildRefError is a failed solve with the ref of its build record
// (BUILDER/NODE/REF): BuildKit's history keeps failed builds too, so the
// caller can point at the record, as buildx points Docker Desktop at it.
type BuildRefError struct {
	Ref string
	Err error
}

func (e *BuildRefError) Error() string { return e.Err.Error() }
func (e *BuildRefError) Unwrap() error { return e.Err }

// BuildAll runs jobs concurrently on inst, under one progress display
// (with GroupLogs, one per job, each printed whole when the job ends). A
// job runs on the node its platforms belong to; one whose platforms are
// spread over several nodes runs on each and is joined into one result
// where it lands: the registry, the containerd store it loads into, an
// archive, a folder or tar of files. Every job is planned before any starts, so a job the planner
// refuses stops them all before work. A job waits for the jobs its named
// contexts use; the first failure cancels the rest. With defer-output no
// job exports until every job has its result.
func BuildAll(ctx context.Context, inst *Instance, jobs []*Job, opts BuildOptions) (map[string]*Result, error) {
	if err := checkJobGraph(jobs); err != nil {
		return nil, err
	}
	if err := opts.Execution.check(jobs); err != nil {
		return nil, err
	}
	conns, err := connectNodes(ctx, inst, opts)
	if err != nil {
		return nil, err
	}
	defer closeNodes(conns)
	ctx, st := newRunState(ctx, jobs)
	st.exec = opts.Execution
	defer st.cleanup()
	runners, err := st.plan(inst, conns, opts)
	if err != nil {
		return nil, err
	}
	if opts.Execution.Mode == ExecutionDeferOutput {
		st.barrier = newBarrier(deferredSolves(runners))
	}
	ds, err := startDisplays(ctx, inst, runners, opts)
	if err != nil {
		return nil, err
	}
	st.runAll(ctx, runners, ds)
	return st.collect()
}

// plan plans every job, so a job the planner refuses stops them all
// before any work.
func (st *runState) plan(inst *Instance, conns []*nodeConn, opts BuildOptions) ([]*runner, error) {
	runners := make([]*runner, len(st.order))
	for i, j := range st.order {
		jp, err := planJob(inst, conns, j, st.isDependency(j.Name), opts.Switches)
		if err != nil {
			return nil, err
		}
		runners[i] = &runner{inst: inst, opts: opts, job: j, plan: jp, state: st}
	}
	return runners, nil
}

// runAll runs every job at once, or in order as places free up under a
// limit; a job waits for the jobs it uses itself.
func (st *runState) runAll(ctx context.Context, runners []*runner, ds *displays) {
	var wg sync.WaitGroup
	sl := newSlots(st.exec)
	for _, rn := range runners {
		if err := sl.acquire(ctx); err != nil {
			st.done(ctx, rn.job.Name, nil, err)
			ds.jobDone(rn.job.Name, rn.disp)
			continue
		}
		wg.Go(func() {
			defer sl.release()
			res, err := rn.run(ctx)
			st.done(ctx, rn.job.Name, res, err)
			ds.jobDone(rn.job.Name, rn.disp)
		})
	}
	wg.Wait()
	ds.close()
}

// checkJobGraph rejects contexts naming unknown jobs and cycles.
func checkJobGraph(jobs []*Job) error {
	byName := map[string]*Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("targets depend on each other in a cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		j := byName[name]
		deps := make([]string, 0, len(j.ContextTargets))
		for _, dep := range j.ContextTargets {
			deps = append(deps, dep)
		}
		sort.Strings(deps)
		for _, dep := range deps {
			if _, ok := byName[dep]; !ok {
				return fmt.Errorf("target %s uses target %q as a context, but there is no such target", name, dep)
			}
			if err := visit(dep, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for _, j := range jobs {
		if err := visit(j.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// contextStore is a finished job's image, kept in a local content store for
// the jobs that use it as a named context.
type contextStore struct {
	id     string
	store  content.Store
	digest string
}

// runState is what the jobs of one BuildAll share: their results, the
// stores of those other jobs use as contexts, the first failure, which
// cancels the rest unless exec defers errors (then errs holds them all).
type runState struct {
	cancel context.CancelCauseFunc
	order  []*Job
	jobs   map[string]*Job
	exec   Execution
	// barrier holds the exports of a defer-output run; nil otherwise.
	barrier *barrier

	mu       sync.Mutex
	results  map[string]*Result
	stores   map[string]*contextStore
	finished map[string]chan struct{}
	// ready closes when a job's context store is kept or the job ends,
	// whichever is first; readied says which are closed.
	ready    map[string]chan struct{}
	readied  map[string]bool
	err      error
	errs     TargetErrors
	tempDirs []string
}

// newRunState returns the context the run's jobs share, cancelled at the
// first failure.
func newRunState(ctx context.Context, jobs []*Job) (context.Context, *runState) {
	ctx, cancel := context.WithCancelCause(ctx)
	st := &runState{cancel: cancel, order: jobs, jobs: map[string]*Job{}, results: map[string]*Result{},
		stores: map[string]*contextStore{}, finished: map[string]chan struct{}{},
		ready: map[string]chan struct{}{}, readied: map[string]bool{}}
	for _, j := range jobs {
		st.jobs[j.Name] = j
		st.finished[j.Name] = make(chan struct{})
		st.ready[j.Name] = make(chan struct{})
	}
	return ctx, st
}

func (st *runState) isDependency(name string) bool {
	for _, j := range st.jobs {
		for _, dep := range j.ContextTargets {
			if dep == name {
				return true
			}
		}
	}
	return false
}

// waitFor waits for the jobs j uses as named contexts and returns their
// stores by context name.
func (st *runState) waitFor(ctx context.Context, j *Job) (map[string]*contextStore, error) {
	stores := map[string]*contextStore{}
	for ctxName, dep := range j.ContextTargets {
		select {
		case <-st.ready[dep]:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		st.mu.Lock()
		cs := st.stores[dep]
		st.mu.Unlock()
		if cs == nil {
			if err := context.Cause(ctx); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("target %s, which context %s uses, failed", dep, ctxName)
		}
		stores[ctxName] = cs
	}
	return stores, nil
}

// done records how a job ended; ctx is the run's.
func (st *runState) done(ctx context.Context, name string, res *Result, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	defer close(st.finished[name])
	defer st.markReady(name)
	if err != nil {
		if st.exec.Mode == ExecutionDeferError && ctx.Err() == nil {
			st.errs = append(st.errs, &TargetError{Target: name, Err: err})
			return
		}
		if st.err == nil && ctx.Err() == nil {
			st.err = &TargetError{Target: name, Err: err}
			st.cancel(st.err)
		} else if st.err == nil {
			st.err = context.Cause(ctx)
		}
		if st.barrier != nil {
			st.barrier.Fail(st.err)
		}
		return
	}
	st.results[name] = res
}

func (st *runState) collect() (map[string]*Result, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil && len(st.errs) > 0 {
		slices.SortFunc(st.errs, func(a, b *TargetError) int { return strings.Compare(a.Target, b.Target) })
		return st.results, st.errs
	}
	return st.results, st.err
}

func (st *runState) keepStore(name string, cs *contextStore) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stores[name] = cs
	st.markReady(name)
}

// markReady lets the jobs using name as a context go on; st.mu is held.
func (st *runState) markReady(name string) {
	if !st.readied[name] {
		st.readied[name] = true
		close(st.ready[name])
	}
}

func (st *runState) tempDir() (string, error) {
	d, err := os.MkdirTemp("", "xbuild-context-")
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	st.tempDirs = append(st.tempDirs, d)
	st.mu.Unlock()
	return d, nil
}

func (st *runState) cleanup() {
	st.cancel(nil)
	for _, d := range st.tempDirs {
		_ = os.RemoveAll(d)
	}
}
