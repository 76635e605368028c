package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
	"github.com/xbuild/xbuild/imagetools"
)

// jobPlan says where a job runs: on one node, or, when its platforms are
// spread over several nodes, in one part per node whose results are
// joined into one index afterwards: in the registry, as buildx does, or in
// the containerd store a load goes to.
type jobPlan struct {
	parts []*partPlan
	// load, for a split job, is the load into a containerd store the parts
	// are joined in; nil joins them in the registry.
	load *exporter.Output
	// dst is where the joined load goes, with every platform of the job.
	dst exporter.Destination
	// tags name the joined index in the registry.
	tags []reference.NamedTagged
	// indexAnnotations go on the joined index.
	indexAnnotations map[string]string
}

// partPlan is what one node builds of a job.
type partPlan struct {
	conn  *nodeConn
	share share
	req   *Request // the job's request, with this node's platforms
	plan  *Plan
}

func (jp *jobPlan) split() bool { return len(jp.parts) > 1 }

// String says what the part builds where: "linux/arm64 on node n1".
func (pt *partPlan) String() string {
	names := make([]string, len(pt.share.platforms))
	for i, p := range pt.share.platforms {
		names[i] = platforms.Format(p)
	}
	return fmt.Sprintf("%s on node %s", strings.Join(names, ","), pt.conn.node.Name)
}

// planJob assigns a job's platforms to nodes and applies the store rules to
// each part. A split job is checked here, before any work: its parts can
// only be joined in a registry.
func planJob(inst *Instance, conns []*nodeConn, j *Job, isDependency bool, sw Switches) (*jobPlan, error) {
	shares := assignPlatforms(j.Req.Platforms, platformsOf(conns))
	jp := &jobPlan{}
	for _, s := range shares {
		req := j.Req
		if len(shares) > 1 {
			r := *j.Req
			r.Platforms = s.platforms
			req = &r
		}
		p, err := plan(req, conns[s.node].info.Capabilities, sw, inst.SBOMGenerator, inst.SBOMGeneratorFrom)
		if err != nil {
			return nil, err
		}
		jp.parts = append(jp.parts, &partPlan{conn: conns[s.node], share: s, req: req, plan: p})
	}
	if !jp.split() {
		return jp, nil
	}
	if err := jp.prepareJoin(inst, j, isDependency); err != nil {
		return nil, &RejectedError{err}
	}
	return jp, nil
}

// prepareJoin turns a split job's outputs into pushes by digest, one per
// node, and keeps the names the joined index gets.
func (jp *jobPlan) prepareJoin(inst *Instance, j *Job, isDependency bool) error {
	where := make([]string, len(jp.parts))
	for i, pt := range jp.parts {
		where[i] = pt.String()
	}
	split := fmt.Sprintf("builder %s builds %s", inst.Name, strings.Join(where, " and "))
	if isDependency {
		return fmt.Errorf("%s, so target %s cannot be another target's context; give one node all its platforms", split, j.Name)
	}
	outs := jp.parts[0].plan.Outputs
	dst := jp.parts[0].plan.Destination
	if len(outs) == 1 && exporter.JoinsLoad(outs[0], dst) {
		jp.load = &outs[0]
		jp.dst = dst
		jp.dst.Platforms = j.Req.Platforms
		return nil
	}
	if len(outs) == 1 && outs[0].Loads() && dst.Store == imagestore.Classic {
		return fmt.Errorf("%s: the classic image store of the docker engine at %s cannot hold a multi-platform image; turn on its containerd image store, or use --push", split, dst.Engine.Host)
	}
	if len(outs) == 0 || slices.ContainsFunc(outs, func(o exporter.Output) bool { return !o.Pushes() }) {
		return fmt.Errorf("%s: results of several nodes can only be joined in a registry (--push) or in a containerd image store (--load into an engine with the containerd store, or type=containerd); or create the nodes so that one takes every platform", split)
	}
	var names []string
	for _, o := range outs {
		if n := o.Attrs["name"]; n != "" {
			names = append(names, strings.Split(n, ",")...)
		}
	}
	if len(names) == 0 {
		names = j.Req.Tags
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: the joined index needs a name; add -t/--tag", split)
	}
	var repos []string
	for _, n := range names {
		tag, err := imagetools.ParseTag(strings.TrimSpace(n))
		if err != nil {
			return err
		}
		jp.tags = append(jp.tags, tag)
		if r := reference.TrimNamed(tag).String(); !slices.Contains(repos, r) {
			repos = append(repos, r)
		}
	}
	for k, v := range j.Req.Annotations {
		if key, ok := strings.CutPrefix(k, "annotation-index."); ok {
			if jp.indexAnnotations == nil {
				jp.indexAnnotations = map[string]string{}
			}
			jp.indexAnnotations[key] = v
		}
	}
	for _, pt := range jp.parts {
		attrs := maps.Clone(outs[0].Attrs)
		attrs["name"] = strings.Join(repos, ",")
		attrs["push"] = "true"
		attrs["push-by-digest"] = "true"
		pt.plan.Outputs = []exporter.Output{{Type: exporter.TypeImage, Attrs: attrs}}
	}
	return nil
}

// partResult is what one node exported.
type partResult struct {
	desc     ocispecs.Descriptor
	ref      string
	metadata map[string]any
	stats    Stats
}

// buildSplit builds each part on its node, all at once, then joins the
// results into one index under the job's names. In a registry the parts
// stay by digest only until the index names them, and in a containerd
// store under a lease until then, so a failed part leaves no name behind.
func buildSplit(ctx context.Context, inst *Instance, j *Job, jp *jobPlan, ctxStores map[string]*contextStore,
	d *display, opts BuildOptions) (*Result, error) {
	var load *exporter.JoinedLoad
	if jp.load != nil {
		var err error
		if load, err = exporter.StartJoinedLoad(ctx, *jp.load, jp.dst, j.Req.Tags); err != nil {
			return nil, fmt.Errorf("loading the images of several nodes as one needs the store's containerd on this host (or use --push): %w", err)
		}
	}
	results := make([]partResult, len(jp.parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, pt := range jp.parts {
		g.Go(func() error {
			r, err := buildPart(gctx, pt, load, ctxStores, d, opts)
			if err != nil {
				return fmt.Errorf("node %s: %w", pt.conn.node.Name, err)
			}
			results[i] = *r
			return nil
		})
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	var idx *imagetools.Index
	var names []string
	if load != nil {
		idx, names, err = joinInStore(ctx, load, jp, results, err, d)
	} else if err == nil {
		idx, names, err = joinInRegistry(ctx, jp, results, d, opts)
	}
	if err != nil {
		return nil, err
	}
	desc, err := json.Marshal(idx.Desc)
	if err != nil {
		return nil, err
	}
	md := map[string]any{}
	var stats Stats
	for _, r := range results {
		maps.Copy(md, r.metadata)
		stats.Steps += r.stats.Steps
		stats.CachedSteps += r.stats.CachedSteps
		stats.Duration = max(stats.Duration, r.stats.Duration)
		stats.Warnings = append(stats.Warnings, r.stats.Warnings...)
	}
	md[exporter.KeyDigest] = idx.Desc.Digest.String()
	md[exporter.KeyDescriptor] = json.RawMessage(desc)
	if len(names) > 0 {
		md[exporter.KeyImageName] = strings.Join(names, ",")
	}
	md[exporter.KeyBuildRef] = inst.Name + "/" + results[0].ref
	res, err := recordResult(j.Req, md)
	if err != nil {
		return nil, err
	}
	res.Stats = stats
	return res, nil
}

// joinInRegistry pushes the index of the parts' images, which they pushed
// by digest, under the job's tags.
func joinInRegistry(ctx context.Context, jp *jobPlan, results []partResult, d *display, opts BuildOptions) (*imagetools.Index, []string, error) {
	repo := reference.TrimNamed(jp.tags[0]).String()
	inputs := make([]imagetools.Input, len(results))
	for i, r := range results {
		inputs[i] = imagetools.Input{Ref: repo + "@" + r.desc.Digest.String(), Source: imagetools.NewRegistry(opts.RegistryCreds)}
	}
	names := make([]string, len(jp.tags))
	for i, t := range jp.tags {
		names[i] = t.String()
	}
	st := d.progress().Step("joining the nodes' images into one index for " + strings.Join(names, ", "))
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: jp.indexAnnotations})
	if err == nil {
		err = imagetools.Push(ctx, idx, jp.tags, opts.RegistryCreds)
	}
	st.Done(err)
	if err != nil {
		return nil, nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	return idx, names, nil
}

// joinInStore assembles the index of the images the parts wrote into the
// load's containerd store, then has the load name it; with buildErr, it
// only releases the load.
func joinInStore(ctx context.Context, load *exporter.JoinedLoad, jp *jobPlan, results []partResult, buildErr error, d *display) (*imagetools.Index, []string, error) {
	if buildErr != nil {
		_ = load.Finish(ctx, ocispecs.Descriptor{}, nil, buildErr, d.progress())
		return nil, nil, buildErr
	}
	inputs := make([]imagetools.Input, len(results))
	for i, r := range results {
		inputs[i] = imagetools.Input{Ref: "node " + jp.parts[i].conn.node.Name, Source: storeSource{root: r.desc, p: load.Provider()}}
	}
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: jp.indexAnnotations})
	if err != nil {
		_ = load.Finish(ctx, ocispecs.Descriptor{}, nil, err, d.progress())
		return nil, nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	if err := load.Finish(ctx, idx.Desc, idx.Raw, nil, d.progress()); err != nil {
		return nil, nil, err
	}
	return idx, load.Names(), nil
}

// storeSource shows Assemble one image a part wrote into a content store.
type storeSource struct {
	root ocispecs.Descriptor
	p    content.Provider
}

func (s storeSource) Resolve(_ context.Context, ref string) (string, ocispecs.Descriptor, error) {
	return ref, s.root, nil
}

func (s storeSource) Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	return content.ReadBlob(ctx, s.p, desc)
}

// buildPart solves one node's share of a split job: pushed by digest, or
// written into the joined load's store.
func buildPart(ctx context.Context, pt *partPlan, load *exporter.JoinedLoad, ctxStores map[string]*contextStore, d *display, opts BuildOptions) (*partResult, error) {
	in, err := prepareInputs(pt.req)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	for name, cs := range ctxStores {
		in.attrs["context:"+name] = "oci-layout://" + cs.id + "@" + cs.digest
	}
	d.progress().note("building " + pt.String())
	ex := &exporter.Export{}
	if load != nil {
		ex.Entries = []bkclient.ExportEntry{load.Entry()}
	} else if ex, err = exporter.Prepare(ctx, pt.plan.Outputs, pt.plan.Destination, exporter.PrepareOptions{Stdout: opts.Stdout, RegistryCreds: opts.RegistryCreds}); err != nil {
		return nil, err
	}
	so, err := solveOpt(pt.req, pt.plan, in, ex)
	if err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	addContextStores(so, ctxStores)
	sc := newStatsCollector()
	resp, err := solveOne(ctx, pt.conn.client, so, ex, d, sc)
	if err != nil {
		return nil, sbomGeneratorError(err, pt.plan)
	}
	desc, err := exporter.DescriptorFrom(resp.ExporterResponse)
	if err != nil {
		return nil, err
	}
	md := map[string]any{}
	if m := opts.MetadataProvenance; m != "" && m != MetadataProvenanceDisabled {
		partProvenance(ctx, pt, so.Ref, m, md, d)
	}
	return &partResult{
		desc: desc, metadata: md, stats: sc.stats(),
		ref: fmt.Sprintf("%s/%s", pt.conn.node.Name, so.Ref),
	}, nil
}

// partProvenance adds a part's provenance to the metadata, keyed by
// platform even when the part has one, so the parts' records do not
// overwrite each other.
func partProvenance(ctx context.Context, pt *partPlan, ref string, m MetadataProvenance, md map[string]any, d *display) {
	st := d.progress().Step("resolving provenance for metadata file")
	defer st.Done(nil)
	only := map[string]string{}
	if err := addProvenance(ctx, pt.conn.client, ref, m, &bkclient.SolveResponse{ExporterResponse: only}); err != nil {
		st.Log("warning: the metadata file has no provenance for %s: %v", pt, err)
		return
	}
	for k, v := range only {
		if k == provenanceKey && len(pt.share.platforms) == 1 {
			k = provenanceKey + "/" + platforms.Format(pt.share.platforms[0])
		}
		md[k] = exporter.Metadata(map[string]string{k: v}, "")[k]
	}
}
