package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/plugins/content/local"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"

	"github.com/xbuild/xbuild/exporter"
)

// runner runs one job of a BuildAll as named steps: for each solve,
// prepare (inputs synced, exports prepared) -> solve (the exports finished
// or undone right after) -> finalize (provenance for the metadata file,
// the metadata and image ID files). A job spread over several nodes adds a
// join around its shares (split.go). The runner holds what the steps
// share; each step takes the context as its first argument.
type runner struct {
	inst  *Instance
	opts  BuildOptions
	job   *Job
	plan  *jobPlan
	state *runState
	disp  *display
	// contexts are the results of the jobs this one uses as named
	// contexts, known once those have finished.
	contexts map[string]*contextStore
}

// run waits for the jobs this one uses, then builds it.
func (rn *runner) run(ctx context.Context) (*Result, error) {
	contexts, err := rn.state.waitFor(ctx, rn.job)
	if err != nil {
		return nil, err
	}
	rn.contexts = contexts
	release, err := balance(ctx, rn.plan.parts, stickyKey(rn.job.Req.Context))
	if err != nil {
		return nil, err
	}
	defer release()
	if rn.job.Req.Call != nil {
		return rn.call(ctx, rn.plan.parts[0])
	}
	if rn.plan.split() {
		return rn.buildJoined(ctx)
	}
	return rn.buildOne(ctx, rn.plan.parts[0])
}

// buildOne builds a job on one node: its own outputs, then, when other
// jobs use it as a context, an export of the same (now cached) result into
// a local store.
func (rn *runner) buildOne(ctx context.Context, pt *partPlan) (*Result, error) {
	in, err := rn.inputs(pt)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	isDependency := rn.state.isDependency(rn.job.Name)
	// Held at the barrier, this job would keep the jobs using it from
	// ever reaching it: their context goes first.
	contextFirst := isDependency && rn.state.barrier != nil
	if contextFirst {
		if err := rn.exportContext(ctx, pt, in); err != nil {
			return nil, err
		}
	}
	res := &Result{Metadata: map[string]any{}}
	if !isDependency || !onlyCacheOnly(pt.plan.Outputs) {
		ex, err := exporter.Prepare(ctx, pt.plan.Outputs, pt.plan.Destination, rn.prepareOptions(rn.job.Req.Tags))
		if err != nil {
			return nil, err
		}
		s, err := rn.prepare(ctx, pt, in, ex)
		if err != nil {
			return nil, err
		}
		resp, err := rn.solve(ctx, s)
		if err != nil {
			return nil, err
		}
		if res, err = rn.finalize(ctx, s, resp); err != nil {
			return nil, err
		}
	}
	if isDependency && !contextFirst {
		if err := rn.exportContext(ctx, pt, in); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (rn *runner) prepareOptions(tags []string) exporter.PrepareOptions {
	return exporter.PrepareOptions{Tags: tags, Stdout: rn.opts.Stdout, RegistryCreds: rn.opts.RegistryCreds}
}

// inputs syncs what a part builds from, the finished jobs it uses among
// its named contexts.
func (rn *runner) inputs(pt *partPlan) (*inputs, error) {
	in, err := prepareInputs(pt.req)
	if err != nil {
		return nil, err
	}
	for name, cs := range rn.contexts {
		in.attrs["context:"+name] = "oci-layout://" + cs.id + "@" + cs.digest
	}
	return in, nil
}

// solve is one solve of a job on one node, prepared.
type solve struct {
	part *partPlan
	ex   *exporter.Export
	so   *bkclient.SolveOpt
	// stats counts the solve's steps; nil for a solve the user did not
	// ask for, which the job's counts leave out.
	stats *statsCollector
}

// prepare is the step before a solve: with ex, the exports already
// prepared, it assembles the solve options, pointing at the synced inputs
// and at the stores of the contexts. A failure undoes ex.
func (rn *runner) prepare(ctx context.Context, pt *partPlan, in *inputs, ex *exporter.Export) (*solve, error) {
	so, err := solveOpt(pt.req, pt.plan, in, ex)
	if err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	for _, cs := range rn.contexts {
		if so.OCIStores == nil {
			so.OCIStores = map[string]content.Store{}
		}
		so.OCIStores[cs.id] = cs.store
	}
	if err := rn.describeSource(ctx, pt.req, pt.conn.node.Name, so, ex); err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	return &solve{part: pt, ex: ex, so: so, stats: newStatsCollector()}, nil
}

// solve runs s with its statuses on the job's display, then finishes its
// exports: completed after a solve that succeeded, undone after one that
// failed.
func (rn *runner) solve(ctx context.Context, s *solve) (*bkclient.SolveResponse, error) {
	for _, n := range s.ex.Notes {
		rn.disp.progress().note(n)
	}
	if err := checkSBOMGenerator(ctx, s.part.conn.client, s.part.plan, s.so.Session); err != nil {
		_ = rn.finishExports(ctx, s, nil, err)
		return nil, err
	}
	release, err := bindPolicy(ctx, s.part, s.so)
	if err != nil {
		_ = rn.finishExports(ctx, s, nil, err)
		return nil, err
	}
	defer release()
	statuses, forwarded := rn.disp.forward(s.stats)
	var resp *bkclient.SolveResponse
	var solveErr error
	if rn.defers(s) {
		resp, solveErr = rn.solveDeferred(ctx, s, statuses)
	} else {
		resp, solveErr = s.part.conn.client.Solve(ctx, nil, *s.so, statuses)
	}
	<-forwarded
	if s.stats != nil && rn.disp.warnings != nil {
		// Failed solves too: a finding may be why it failed.
		rn.disp.warnings.add(s.stats.warnings)
	}
	err = rn.finishExports(ctx, s, resp, solveErr)
	if solveErr != nil && err != nil && ctx.Err() == nil {
		err = &BuildRefError{Ref: fmt.Sprintf("%s/%s/%s", rn.inst.Name, s.part.conn.node.Name, s.so.Ref), Err: err}
	}
	return resp, err
}

// finishExports hands the solve's outcome to its exports. The solve's own
// error wins over theirs, and a cancel over both, except when an export
// knows the cause of the solve's failure (a full disk on this side).
func (rn *runner) finishExports(ctx context.Context, s *solve, resp *bkclient.SolveResponse, solveErr error) error {
	var exporterResp map[string]string
	if resp != nil {
		if resp.ExporterResponse == nil {
			resp.ExporterResponse = map[string]string{}
		}
		exporterResp = resp.ExporterResponse
	}
	finishErr := s.ex.Finish(ctx, exporterResp, solveErr, rn.disp.progress())
	switch {
	case solveErr != nil && ctx.Err() != nil:
		return context.Cause(ctx)
	case solveErr != nil && exporter.IsCause(finishErr):
		return finishErr
	case solveErr != nil:
		return solveErr
	}
	return finishErr
}

// finalize is the step after a job's solve on one node: its provenance for
// the metadata file, then the metadata and image ID files.
func (rn *runner) finalize(ctx context.Context, s *solve, resp *bkclient.SolveResponse) (*Result, error) {
	rn.metadataProvenance(ctx, s, resp.ExporterResponse)
	md := exporter.Metadata(resp.ExporterResponse, s.part.plan.Destination.Store)
	md[exporter.KeyBuildRef] = fmt.Sprintf("%s/%s/%s", rn.inst.Name, s.part.conn.node.Name, s.so.Ref)
	if w := s.stats.raw; rn.job.Req.MetadataWarnings && len(w) > 0 {
		md[KeyWarnings] = w
	}
	res, err := rn.record(md)
	if err != nil {
		return nil, err
	}
	res.Stats = s.stats.stats()
	return res, nil
}

// record writes the metadata and image ID files the job's request asks for.
func (rn *runner) record(md map[string]any) (*Result, error) {
	req := rn.job.Req
	res := &Result{Metadata: md, ImageID: exporter.ImageID(md), Attestations: map[string]string{}}
	for k, v := range rn.plan.parts[0].plan.Attests {
		res.Attestations[strings.TrimPrefix(k, "attest:")] = v
	}
	if req.MetadataFile != "" {
		if err := exporter.WriteJSON(req.MetadataFile, md); err != nil {
			return nil, fmt.Errorf("writing metadata file: %w", err)
		}
	}
	if req.IIDFile != "" {
		if res.ImageID == "" {
			return nil, errors.New("writing image ID file: the build produced no image (add --load, --push or an image output)")
		}
		if err := exporter.WriteFile(req.IIDFile, []byte(res.ImageID)); err != nil {
			return nil, fmt.Errorf("writing image ID file: %w", err)
		}
	}
	return res, nil
}

// exportContext exports a job's result into a local content store, for the
// jobs that name it in a "target:" context. The solve is the job's own, so
// BuildKit answers it from cache.
func (rn *runner) exportContext(ctx context.Context, pt *partPlan, in *inputs) error {
	dir, err := rn.state.tempDir()
	if err != nil {
		return err
	}
	st, err := local.NewStore(dir)
	if err != nil {
		return fmt.Errorf("creating a context store for target %s: %w", rn.job.Name, err)
	}
	ex := &exporter.Export{Entries: []bkclient.ExportEntry{{
		Type: exporter.TypeOCI, Attrs: map[string]string{"tar": "false"}, OutputStore: st,
	}}}
	s, err := rn.prepare(ctx, pt, in, ex)
	if err != nil {
		return err
	}
	s.stats = nil
	resp, err := rn.solve(ctx, s)
	if err != nil {
		return err
	}
	dgst := resp.ExporterResponse[exporter.KeyDigest]
	if dgst == "" {
		return fmt.Errorf("exporting target %s as a context: the builder returned no digest", rn.job.Name)
	}
	// Store IDs are image names to the frontend: lowercase, no '_'.
	rn.state.keepStore(rn.job.Name, &contextStore{id: "xbuildctx" + identity.NewID(), store: st, digest: dgst})
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
