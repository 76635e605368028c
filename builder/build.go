package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
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
	// MetadataProvenance is how much provenance goes into the results'
	// metadata; empty or disabled fetches none (no metadata file asked).
	MetadataProvenance MetadataProvenance
	// RegistryCreds authenticates this side's registry requests: joining
	// the images of a builder's nodes into one index, and the pushes an
	// engine makes for this side.
	RegistryCreds func(host string) (user, secret string, err error)
	// GroupLogs gives each job a display of its own, printed whole between
	// ::group::/::endgroup:: lines when the job ends, so a GitHub Actions
	// log folds concurrent targets apart instead of interleaving them.
	GroupLogs bool
	// Switches apply to every job of the run alike.
	Switches Switches
}

// Switches are the process-wide choices (commands read them from the
// environment) that change what the planner does with any request.
type Switches struct {
	// NoDefaultLoad keeps the docker driver from loading when no output
	// is given.
	NoDefaultLoad bool
	// NoDirectLoad makes --load go through the engine's image load
	// endpoint even when the engine's containerd is reachable.
	NoDirectLoad bool
	// NoDefaultAttestations turns off the provenance added by default.
	NoDefaultAttestations bool
	// LoadContainerd, when its address is set, replaces where the engine
	// said its containerd is (an engine whose socket path differs on this
	// host, or a namespace of one's own).
	LoadContainerd imagestore.Location
}

// Result is what a finished build produced.
type Result struct {
	// Metadata is the metadata file's object.
	Metadata map[string]any
	// ImageID is what --iidfile and -q print.
	ImageID string
	// Stats describe the solve, for summaries.
	Stats Stats
}

// Stats count what a solve did.
type Stats struct {
	Steps, CachedSteps int
	Duration           time.Duration
	// Warnings are the build checks' findings.
	Warnings []Warning
}

// Warning is one build check finding, placed in the Dockerfile.
type Warning struct {
	File    string
	Line    int
	Title   string
	Message string
}

// statsCollector reads a solve's status stream.
type statsCollector struct {
	started  time.Time
	vertexes map[string]bool // digest -> cached
	warnings []Warning
}

func newStatsCollector() *statsCollector {
	return &statsCollector{started: time.Now(), vertexes: map[string]bool{}}
}

func (c *statsCollector) observe(s *bkclient.SolveStatus) {
	for _, v := range s.Vertexes {
		if v.Completed != nil {
			c.vertexes[v.Digest.String()] = v.Cached
		}
	}
	for _, w := range s.Warnings {
		wa := Warning{Title: string(w.Short)}
		for _, d := range w.Detail {
			wa.Message += string(d)
		}
		if wa.Message == "" {
			wa.Message = wa.Title
		}
		if w.SourceInfo != nil {
			wa.File = w.SourceInfo.Filename
		}
		if len(w.Range) > 0 && w.Range[0].Start != nil {
			wa.Line = int(w.Range[0].Start.Line)
		}
		c.warnings = append(c.warnings, wa)
	}
}

func (c *statsCollector) stats() Stats {
	st := Stats{Duration: time.Since(c.started), Warnings: c.warnings}
	for _, cached := range c.vertexes {
		st.Steps++
		if cached {
			st.CachedSteps++
		}
	}
	return st
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

// display is one progress display shared by every solve of a command.
type display struct {
	ch   chan *bkclient.SolveStatus
	done chan struct{}
}

func progressOut(opts BuildOptions) io.Writer {
	if opts.Progress == nil {
		return os.Stderr
	}
	return opts.Progress
}

func startDisplay(ctx context.Context, inst *Instance, opts BuildOptions) (*display, error) {
	disp, err := progressui.NewDisplay(progressOut(opts), opts.ProgressMode, progressui.WithDesc(
		fmt.Sprintf("building with %q instance using %s driver", inst.Name, inst.Driver),
		fmt.Sprintf("%s:%s", inst.Driver, inst.Name)))
	if err != nil {
		return nil, err
	}
	d := &display{ch: make(chan *bkclient.SolveStatus), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		// The display drains its channel to the end, even after a cancel,
		// or the solves would block on it.
		_, _ = disp.UpdateFrom(context.WithoutCancel(ctx), d.ch)
	}()
	return d, nil
}

func (d *display) progress() progress { return progress{ch: d.ch} }

// close ends the display and waits until it has printed everything.
func (d *display) close() {
	close(d.ch)
	<-d.done
}

// solveOne runs one solve, its statuses forwarded to the shared display,
// then finishes its exports.
func solveOne(ctx context.Context, c *bkclient.Client, so *bkclient.SolveOpt, ex *exporter.Export, d *display, sc *statsCollector) (*bkclient.SolveResponse, error) {
	for _, n := range ex.Notes {
		d.progress().note(n)
	}
	solveCh := make(chan *bkclient.SolveStatus)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for s := range solveCh {
			if sc != nil {
				sc.observe(s)
			}
			d.ch <- s
		}
	}()
	resp, solveErr := c.Solve(ctx, nil, *so, solveCh)
	<-forwarded
	var exporterResp map[string]string
	if resp != nil {
		if resp.ExporterResponse == nil {
			resp.ExporterResponse = map[string]string{}
		}
		exporterResp = resp.ExporterResponse
	}
	finishErr := ex.Finish(ctx, exporterResp, solveErr, d.progress())
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

// finalize records what a build produced.
func finalize(inst *Instance, node Node, so *bkclient.SolveOpt, resp *bkclient.SolveResponse, req *Request, p *Plan) (*Result, error) {
	md := exporter.Metadata(resp.ExporterResponse, p.Destination.Store)
	md[exporter.KeyBuildRef] = fmt.Sprintf("%s/%s/%s", inst.Name, node.Name, so.Ref)
	return recordResult(req, md)
}

// recordResult writes the metadata and image ID files the request asks for.
func recordResult(req *Request, md map[string]any) (*Result, error) {
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
