package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
)

// BuildOptions say where a build's output goes on this side.
type BuildOptions struct {
	// ProgressMode is one of progressui's modes: auto, tty, plain, quiet,
	// rawjson.
	ProgressMode progressui.DisplayMode
	// Progress receives the progress display (stderr).
	Progress io.Writer
	// Stdout receives outputs with dest "-".
	Stdout io.Writer
}

// Result is what a finished build produced.
type Result struct {
	// Metadata is the metadata file's object.
	Metadata map[string]any
	// ImageID is what --iidfile and -q print.
	ImageID string
}

// Build runs req on the first node of inst: boot -> plan -> prepare ->
// solve -> finalize.
func Build(ctx context.Context, inst *Instance, req *Request, opts BuildOptions) (*Result, error) {
	node := inst.Nodes[0]
	info, err := boot(ctx, inst, node)
	if err != nil {
		return nil, err
	}
	p, err := plan(req, info.Capabilities)
	if err != nil {
		return nil, err
	}
	in, err := prepareInputs(req)
	if err != nil {
		return nil, err
	}
	defer in.cleanup()
	ex, err := exporter.Prepare(ctx, p.Outputs, p.Destination, exporter.PrepareOptions{Tags: req.Tags, Stdout: opts.Stdout})
	if err != nil {
		return nil, err
	}
	so, err := solveOpt(req, p, in, ex)
	if err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	resp, err := solve(ctx, inst, node, so, ex, opts)
	if err != nil {
		return nil, err
	}
	return finalize(inst, node, so, resp, req, p)
}

// boot makes the node ready and reads its capabilities.
func boot(ctx context.Context, inst *Instance, node Node) (driver.Info, error) {
	if err := node.Driver.Bootstrap(ctx); err != nil {
		return driver.Info{}, fmt.Errorf("booting builder %q: %w", inst.Name, err)
	}
	info := node.Driver.Info(ctx)
	if info.Status != driver.StatusRunning {
		return driver.Info{}, fmt.Errorf("booting builder %q: %w", inst.Name, info.Err)
	}
	return info, nil
}

// solve runs the solve and finishes the exports under one progress
// display. The display's description names the builder the way buildx
// users know.
func solve(ctx context.Context, inst *Instance, node Node, so *bkclient.SolveOpt, ex *exporter.Export, opts BuildOptions) (*bkclient.SolveResponse, error) {
	c, err := node.Driver.Client(ctx)
	if err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	defer c.Close()
	out := opts.Progress
	if out == nil {
		out = os.Stderr
	}
	disp, err := progressui.NewDisplay(out, opts.ProgressMode, progressui.WithDesc(
		fmt.Sprintf("building with %q instance using %s driver", inst.Name, inst.Driver),
		fmt.Sprintf("%s:%s", inst.Driver, inst.Name)))
	if err != nil {
		_ = ex.Finish(ctx, nil, err, nil)
		return nil, err
	}
	displayCh := make(chan *bkclient.SolveStatus)
	displayDone := make(chan struct{})
	go func() {
		defer close(displayDone)
		// The display must drain its channel to the end, even after a
		// cancel, or the solve blocks.
		_, _ = disp.UpdateFrom(context.WithoutCancel(ctx), displayCh)
	}()
	pr := progress{ch: displayCh}
	for _, n := range ex.Notes {
		pr.note(n)
	}

	solveCh := make(chan *bkclient.SolveStatus)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for s := range solveCh {
			displayCh <- s
		}
	}()
	resp, solveErr := c.Solve(ctx, nil, *so, solveCh)
	<-forwarded
	var exporterResp map[string]string
	if resp != nil {
		exporterResp = resp.ExporterResponse
	}
	finishErr := ex.Finish(ctx, exporterResp, solveErr, pr)
	close(displayCh)
	<-displayDone
	switch {
	case solveErr != nil && ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case solveErr != nil:
		return nil, solveErr
	case finishErr != nil:
		return nil, finishErr
	}
	return resp, nil
}

// finalize records what the build produced.
func finalize(inst *Instance, node Node, so *bkclient.SolveOpt, resp *bkclient.SolveResponse, req *Request, p *Plan) (*Result, error) {
	md := exporter.Metadata(resp.ExporterResponse, p.Destination.Store)
	md[exporter.KeyBuildRef] = fmt.Sprintf("%s/%s/%s", inst.Name, node.Name, so.Ref)
	res := &Result{Metadata: md, ImageID: exporter.ImageID(md)}
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

func newRef() string { return identity.NewID() }
