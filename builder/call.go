package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/docker/buildx/util/buildflags"
	bkclient "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/xbuild/xbuild/exporter"
)

// callNames are the frontend methods the Dockerfile frontend answers;
// buildx's parser reads "check" as its older name, lint.
var callNames = map[string]bool{"lint": true, "outline": true, "targets": true, "subrequests.describe": true}

// ParseCall reads a call (--call, a bake target's call) with buildx's
// parser: NAME[,format=json][,ignorestatus=BOOL]. build, the default, and
// the empty value are nil.
func ParseCall(v string) (*buildflags.CallFunc, error) {
	cf, err := buildflags.ParseCallFunc(v)
	if err != nil {
		return nil, err
	}
	if cf == nil {
		return nil, nil
	}
	if !callNames[cf.Name] {
		return nil, fmt.Errorf("unknown method %q: use build, check, outline, targets or subrequests.describe", cf.Name)
	}
	if cf.Format != "" && cf.Format != "json" {
		return nil, fmt.Errorf("unknown format %q: use format=json, or leave it out for text", cf.Format)
	}
	return cf, nil
}

// subrequestsCap tells the frontend it may answer a subrequest through the
// gateway's result metadata.
const subrequestsCap = "moby.buildkit.frontend.subrequests+forward"

// call runs the request's frontend method (Request.Call) on one node in
// place of a build: the frontend answers in the metadata of its result, and
// nothing is exported, loaded or pushed, whatever the plan's outputs. The
// solve is marked internal and leaves no build record or local build state.
func (rn *runner) call(ctx context.Context, pt *partPlan) (*Result, error) {
	in, err := rn.inputs(pt)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	so, err := solveOpt(pt.req, pt.plan, in, &exporter.Export{})
	if err != nil {
		return nil, err
	}
	for _, cs := range rn.contexts {
		if so.OCIStores == nil {
			so.OCIStores = map[string]content.Store{}
		}
		so.OCIStores[cs.id] = cs.store
	}
	stats := newStatsCollector()
	answer, err := rn.solveCall(ctx, pt, so, stats)
	if err != nil {
		return nil, err
	}
	res := &Result{Metadata: callMetadata(answer), Call: map[string]string{}, Stats: stats.stats()}
	for k, v := range answer {
		res.Call[k] = string(v)
	}
	if f := rn.job.Req.MetadataFile; f != "" {
		if err := exporter.WriteJSON(f, res.Metadata); err != nil {
			return nil, fmt.Errorf("writing metadata file: %w", err)
		}
	}
	if rn.state.isDependency(rn.job.Name) {
		// A target that runs a method on a context of this one needs
		// that context all the same.
		if err := rn.exportContext(ctx, pt, in); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// solveCall asks the frontend for the method through a gateway build,
// whose result's metadata is the answer, with the statuses on the job's
// display.
func (rn *runner) solveCall(ctx context.Context, pt *partPlan, so *bkclient.SolveOpt, stats *statsCollector) (map[string][]byte, error) {
	release, err := bindPolicy(ctx, pt, so)
	if err != nil {
		return nil, err
	}
	defer release()
	so.Internal = true
	req := gateway.SolveRequest{Frontend: so.Frontend, FrontendOpt: callAttrs(so.FrontendAttrs, rn.job.Req.Call.Name)}
	so.Frontend = ""
	var answer map[string][]byte
	statuses, forwarded := rn.disp.forward(stats)
	_, err = pt.conn.client.Build(ctx, *so, "xbuild", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
		res, err := c.Solve(ctx, req)
		if err != nil {
			return nil, err
		}
		answer = res.Metadata
		return res, nil
	}, statuses)
	<-forwarded
	if err != nil && ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return answer, err
}

// callAttrs are a build's frontend attributes turned into a request for
// the frontend method name: the attestations go, since nothing is built
// to attest.
func callAttrs(attrs map[string]string, name string) map[string]string {
	out := maps.Clone(attrs)
	if out == nil {
		out = map[string]string{}
	}
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, "attest:") })
	if caps := out["frontend.caps"]; caps != "" {
		out["frontend.caps"] = caps + "," + subrequestsCap
	} else {
		out["frontend.caps"] = subrequestsCap
	}
	out["requestid"] = "frontend." + name
	return out
}

// callMetadata is the metadata file's object for a frontend method's
// answer: its values as text, result.json as the JSON it already is.
func callMetadata(answer map[string][]byte) map[string]any {
	md := map[string]any{}
	for k, v := range answer {
		md[k] = string(v)
		if k == "result.json" && json.Valid(v) {
			md[k] = json.RawMessage(v)
		}
	}
	return md
}

// KeyWarnings is the metadata file's key for the build checks' findings,
// as BuildKit sent them (Request.MetadataWarnings).
const KeyWarnings = "buildx.build.warnings"

// DropForCall drops what a request with a Call never does: a frontend
// method builds nothing to export or attest, whatever the outputs asked
// (--load, --push, -o), as in buildx.
func (r *Request) DropForCall() {
	if r.Call == nil {
		return
	}
	r.Outputs, r.Attests, r.IIDFile = nil, nil, ""
}
