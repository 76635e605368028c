package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/exporter"
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

// BuildAll runs jobs concurrently on inst, under one progress display
// (with GroupLogs, one per job, each printed whole when the job ends). A
// job runs on the node its platforms belong to; one whose platforms are
// spread over several nodes runs on each and is joined into one index in
// the registry. Every job is planned before any starts, so a job the
// planner refuses stops them all before work. A job waits for the jobs its
// named contexts use; the first failure cancels the rest.
func BuildAll(ctx context.Context, inst *Instance, jobs []*Job, opts BuildOptions) (map[string]*Result, error) {
	if err := checkJobGraph(jobs); err != nil {
		return nil, err
	}
	conns, err := connectNodes(ctx, inst)
	if err != nil {
		return nil, err
	}
	defer closeNodes(conns)
	r := newRun(ctx, jobs)
	defer r.cleanup()
	plans := map[string]*jobPlan{}
	for _, j := range jobs {
		jp, err := planJob(inst, conns, j, r.isDependency(j.Name), opts.Switches)
		if err != nil {
			return nil, err
		}
		plans[j.Name] = jp
	}
	// One display for all, or, grouping, one per job into its own buffer.
	group := opts.GroupLogs && len(jobs) > 1 && opts.ProgressMode == progressui.PlainMode
	displays := map[string]*display{}
	logs := map[string]*bytes.Buffer{}
	for _, j := range jobs {
		o := opts
		if group {
			logs[j.Name] = &bytes.Buffer{}
			o.Progress = logs[j.Name]
		} else if len(displays) > 0 {
			displays[j.Name] = displays[jobs[0].Name]
			continue
		}
		d, err := startDisplay(ctx, inst, o)
		if err != nil {
			for _, d := range displays {
				d.close()
			}
			return nil, err
		}
		displays[j.Name] = d
	}
	var wg sync.WaitGroup
	var printMu sync.Mutex
	for _, j := range jobs {
		d := displays[j.Name]
		jp := plans[j.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.runJob(j, func(ctx context.Context, ctxStores map[string]*contextStore) (*Result, error) {
				if jp.split() {
					return buildSplit(ctx, inst, j, jp, ctxStores, d, opts)
				}
				pt := jp.parts[0]
				return buildJob(ctx, inst, pt.conn.node, pt.conn.client, r, j, pt.plan, ctxStores, d, opts)
			})
			r.done(j.Name, res, err)
			if group {
				d.close()
				printMu.Lock()
				fmt.Fprintf(progressOut(opts), "::group::target %s\n%s::endgroup::\n", j.Name, logs[j.Name])
				printMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if !group {
		displays[jobs[0].Name].close()
	}
	return r.results, r.err
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

// run tracks the jobs of one BuildAll.
type run struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	jobs   map[string]*Job

	mu       sync.Mutex
	results  map[string]*Result
	stores   map[string]*contextStore
	finished map[string]chan struct{}
	err      error
	tempDirs []string
}

func newRun(ctx context.Context, jobs []*Job) *run {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &run{ctx: ctx, cancel: cancel, jobs: map[string]*Job{}, results: map[string]*Result{},
		stores: map[string]*contextStore{}, finished: map[string]chan struct{}{}}
	for _, j := range jobs {
		r.jobs[j.Name] = j
		r.finished[j.Name] = make(chan struct{})
	}
	return r
}

func (r *run) isDependency(name string) bool {
	for _, j := range r.jobs {
		for _, dep := range j.ContextTargets {
			if dep == name {
				return true
			}
		}
	}
	return false
}

// runJob waits for the job's dependencies, then builds it.
func (r *run) runJob(j *Job, build func(context.Context, map[string]*contextStore) (*Result, error)) (*Result, error) {
	ctxStores := map[string]*contextStore{}
	for ctxName, dep := range j.ContextTargets {
		select {
		case <-r.finished[dep]:
		case <-r.ctx.Done():
			return nil, context.Cause(r.ctx)
		}
		r.mu.Lock()
		cs := r.stores[dep]
		r.mu.Unlock()
		if cs == nil {
			return nil, context.Cause(r.ctx)
		}
		ctxStores[ctxName] = cs
	}
	return build(r.ctx, ctxStores)
}

func (r *run) done(name string, res *Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(r.finished[name])
	if err != nil {
		if r.err == nil && r.ctx.Err() == nil {
			r.err = &TargetError{Target: name, Err: err}
			r.cancel(r.err)
		} else if r.err == nil {
			r.err = context.Cause(r.ctx)
		}
		return
	}
	r.results[name] = res
}

func (r *run) keepStore(name string, cs *contextStore) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stores[name] = cs
}

func (r *run) tempDir() (string, error) {
	d, err := os.MkdirTemp("", "xbuild-context-")
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.tempDirs = append(r.tempDirs, d)
	r.mu.Unlock()
	return d, nil
}

func (r *run) cleanup() {
	r.cancel(nil)
	for _, d := range r.tempDirs {
		_ = os.RemoveAll(d)
	}
}

// buildJob runs one job: its own outputs, then, when other jobs use it as a
// context, an export of the same (now cached) result into a local store.
func buildJob(ctx context.Context, inst *Instance, node Node, c *bkclient.Client, r *run, j *Job, p *Plan,
	ctxStores map[string]*contextStore, d *display, opts BuildOptions) (*Result, error) {
	isDependency := r.isDependency(j.Name)
	in, err := prepareInputs(j.Req)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	for name, cs := range ctxStores {
		in.attrs["context:"+name] = "oci-layout://" + cs.id + "@" + cs.digest
	}
	var res *Result
	if !isDependency || !onlyCacheOnly(p.Outputs) {
		ex, err := exporter.Prepare(ctx, p.Outputs, p.Destination, exporter.PrepareOptions{Tags: j.Req.Tags, Stdout: opts.Stdout, RegistryCreds: opts.RegistryCreds})
		if err != nil {
			return nil, err
		}
		so, err := solveOpt(j.Req, p, in, ex)
		if err != nil {
			_ = ex.Finish(ctx, nil, err, nil)
			return nil, err
		}
		addContextStores(so, ctxStores)
		sc := newStatsCollector()
		resp, err := solveOne(ctx, c, so, ex, d, sc)
		if err != nil {
			return nil, sbomGeneratorError(err, p)
		}
		// BuildKit keeps a provenance record of every build, attested or
		// not, and buildx writes it whenever a metadata file is asked.
		if m := opts.MetadataProvenance; m != "" && m != MetadataProvenanceDisabled {
			// The image is out already: a record that cannot be read costs
			// the metadata file its provenance, not the build.
			st := d.progress().Step("resolving provenance for metadata file")
			if err := addProvenance(ctx, c, so.Ref, m, resp); err != nil {
				st.Log("warning: the metadata file has no provenance: %v", err)
			}
			st.Done(nil)
		}
		if res, err = finalize(inst, node, so, resp, j.Req, p); err != nil {
			return nil, err
		}
		res.Stats = sc.stats()
	}
	if isDependency {
		if err := exportContext(ctx, c, r, j, p, in, ctxStores, d); err != nil {
			return nil, err
		}
	}
	if res == nil {
		res = &Result{Metadata: map[string]any{}}
	}
	return res, nil
}

func addContextStores(so *bkclient.SolveOpt, ctxStores map[string]*contextStore) {
	for _, cs := range ctxStores {
		if so.OCIStores == nil {
			so.OCIStores = map[string]content.Store{}
		}
		so.OCIStores[cs.id] = cs.store
	}
}

// exportContext exports a job's result into a local content store, for the
// jobs that name it in a "target:" context. The solve is the job's own, so
// BuildKit answers it from cache.
func exportContext(ctx context.Context, c *bkclient.Client, r *run, j *Job, p *Plan, in *inputs,
	ctxStores map[string]*contextStore, d *display) error {
	dir, err := r.tempDir()
	if err != nil {
		return err
	}
	st, err := local.NewStore(dir)
	if err != nil {
		return fmt.Errorf("creating a context store for target %s: %w", j.Name, err)
	}
	ex := &exporter.Export{Entries: []bkclient.ExportEntry{{
		Type: exporter.TypeOCI, Attrs: map[string]string{"tar": "false"}, OutputStore: st,
	}}}
	so, err := solveOpt(j.Req, p, in, ex)
	if err != nil {
		return err
	}
	addContextStores(so, ctxStores)
	resp, err := solveOne(ctx, c, so, ex, d, nil)
	if err != nil {
		return err
	}
	dgst := resp.ExporterResponse[exporter.KeyDigest]
	if dgst == "" {
		return fmt.Errorf("exporting target %s as a context: the builder returned no digest", j.Name)
	}
	// Store IDs are image names to the frontend: lowercase, no '_'.
	r.keepStore(j.Name, &contextStore{id: "xbuildctx" + identity.NewID(), store: st, digest: dgst})
	return nil
}

func onlyCacheOnly(outs []exporter.Output) bool {
	for _, o := range outs {
		if o.Type != exporter.TypeCacheOnly {
			return false
		}
	}
	return true
}
