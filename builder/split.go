package builder

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagetools"
)

// jobPlan says where a job runs: on one node, or, when its platforms are
// spread over several nodes, in one part per node whose results are
// joined into one result afterwards: one index in the registry, as buildx
// does, in the containerd store a load goes to or in one archive; or one
// folder or tar of files, a folder per platform.
type jobPlan struct {
	parts []*partPlan
	// load, for a split job, is the load into a containerd store the parts
	// are joined in, archive the OCI or Docker archive they are written to
	// as one, and files the folder or tar of files; all nil joins them in
	// the registry.
	load    *exporter.Output
	archive *exporter.Output
	files   *exporter.Output
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
// each part. A split job is checked here, before any work: its parts must
// have one output they can be joined for.
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
		if p.ExtraHosts, err = resolveHostGateway(req.ExtraHosts, conns[s.node].info.WorkerLabels); err != nil {
			return nil, &RejectedError{err}
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
// node, and keeps the names the joined index gets; or keeps the load, the
// archive or the files the shares are joined in. Outputs the shares cannot
// be joined for are refused.
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
	if len(outs) == 1 && exporter.JoinsFiles(outs[0]) {
		jp.files = &outs[0]
		return nil
	}
	if len(outs) == 1 && exporter.JoinsArchive(outs[0]) {
		jp.archive = &outs[0]
		jp.indexAnnotations = indexAnnotations(j.Req.Annotations)
		return nil
	}
	if err := checkRegistryJoin(outs, dst); err != nil {
		return fmt.Errorf("%s: %w", split, err)
	}
	names := outputNames(outs)
	if len(names) == 0 {
		names = j.Req.Tags
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: the joined index needs a name; add -t/--tag", split)
	}
	repos, err := jp.parseTags(names)
	if err != nil {
		return err
	}
	jp.indexAnnotations = indexAnnotations(j.Req.Annotations)
	for _, pt := range jp.parts {
		attrs := maps.Clone(outs[0].Attrs)
		attrs["name"] = strings.Join(repos, ",")
		attrs["push"] = "true"
		attrs["push-by-digest"] = "true"
		pt.plan.Outputs = []exporter.Output{{Type: exporter.TypeImage, Attrs: attrs}}
	}
	return nil
}

// outputNames are the names the outputs give the image.
func outputNames(outs []exporter.Output) []string {
	var names []string
	for _, o := range outs {
		if n := o.Attrs["name"]; n != "" {
			names = append(names, strings.Split(n, ",")...)
		}
	}
	return names
}

// parseTags keeps the joined index's tags and returns their repositories,
// which the shares push to by digest.
func (jp *jobPlan) parseTags(names []string) ([]string, error) {
	var repos []string
	for _, n := range names {
		tag, err := imagetools.ParseTag(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		jp.tags = append(jp.tags, tag)
		if r := reference.TrimNamed(tag).String(); !slices.Contains(repos, r) {
			repos = append(repos, r)
		}
	}
	return repos, nil
}

// indexAnnotations picks the annotations meant for the index, nil when
// there are none.
func indexAnnotations(annotations map[string]string) map[string]string {
	var out map[string]string
	for k, v := range annotations {
		if key, ok := strings.CutPrefix(k, "annotation-index."); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = v
		}
	}
	return out
}

// shareResult is what one node built of a split job.
type shareResult struct {
	ref      string
	metadata map[string]any
	stats    Stats
}

// buildJoined builds each share of a job on its node, all at once, and
// has the exporter join them into one result (an index under the job's
// names, or files): the join is started before the solves and finished
// after all of them.
func (rn *runner) buildJoined(ctx context.Context) (*Result, error) {
	join, err := rn.startJoin(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]*shareResult, len(rn.plan.parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, pt := range rn.plan.parts {
		g.Go(func() error {
			r, err := rn.buildShare(gctx, join, i)
			if err != nil {
				return fmt.Errorf("node %s: %w", pt.conn.node.Name, err)
			}
			results[i] = r
			return nil
		})
	}
	err = g.Wait()
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	joined, err := join.Finish(ctx, err, rn.disp.progress())
	if err != nil {
		return nil, err
	}
	return rn.finalizeJoined(joined, results)
}

func (rn *runner) startJoin(ctx context.Context) (*exporter.Join, error) {
	jp := rn.plan
	return exporter.StartJoin(ctx, exporter.JoinOptions{
		Shares: len(jp.parts), Load: jp.load, Archive: jp.archive, Files: jp.files, Stdout: rn.opts.Stdout, Destination: jp.dst, Names: rn.job.Req.Tags,
		Tags: jp.tags, IndexAnnotations: jp.indexAnnotations, RegistryCreds: rn.opts.RegistryCreds,
		PlainHTTP: plainHTTPOf(jp.parts),
	})
}

// buildShare prepares, solves and exports the i-th share: pushed by
// digest, or written where the join collects the shares.
func (rn *runner) buildShare(ctx context.Context, join *exporter.Join, i int) (*shareResult, error) {
	pt := rn.plan.parts[i]
	in, err := rn.inputs(pt)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	rn.disp.progress().note("building " + pt.String())
	ex, err := join.Share(ctx, exporter.Share{
		Index: i, Node: pt.conn.node.Name, Outputs: pt.plan.Outputs, Destination: pt.plan.Destination,
	}, rn.prepareOptions(nil))
	if err != nil {
		return nil, err
	}
	s, err := rn.prepare(ctx, pt, in, ex)
	if err != nil {
		return nil, err
	}
	if rn.plan.files != nil {
		// A result of platforms even when the share has one, as buildx
		// asks of each node: the files land in a folder per platform.
		s.so.FrontendAttrs["multi-platform"] = "true"
	}
	if _, err := rn.solve(ctx, s); err != nil {
		return nil, err
	}
	return &shareResult{
		ref:      fmt.Sprintf("%s/%s", pt.conn.node.Name, s.so.Ref),
		metadata: rn.shareProvenance(ctx, s),
		stats:    s.stats.stats(),
	}, nil
}

// shareProvenance is a share's provenance for the metadata file, keyed by
// platform even when the share has one, so the shares' records do not
// overwrite each other.
func (rn *runner) shareProvenance(ctx context.Context, s *solve) map[string]any {
	md := map[string]any{}
	only := map[string]string{}
	if !rn.metadataProvenance(ctx, s, only) {
		return md
	}
	ps := s.part.share.platforms
	for k, v := range only {
		if k == provenanceKey && len(ps) == 1 {
			k = provenanceKey + "/" + platforms.Format(ps[0])
		}
		md[k] = exporter.Metadata(map[string]string{k: v}, "")[k]
	}
	return md
}

// finalizeJoined records the joined image with what the shares add: their
// provenance, their counts summed.
func (rn *runner) finalizeJoined(joined *exporter.Joined, results []*shareResult) (*Result, error) {
	md := map[string]any{}
	var stats Stats
	for _, r := range results {
		maps.Copy(md, r.metadata)
		stats.Steps += r.stats.Steps
		stats.CachedSteps += r.stats.CachedSteps
		stats.Duration = max(stats.Duration, r.stats.Duration)
		stats.Warnings = append(stats.Warnings, r.stats.Warnings...)
	}
	jmd, err := joined.Metadata()
	if err != nil {
		return nil, err
	}
	maps.Copy(md, jmd)
	md[exporter.KeyBuildRef] = rn.inst.Name + "/" + results[0].ref
	res, err := rn.record(md)
	if err != nil {
		return nil, err
	}
	res.Stats = stats
	return res, nil
}
