package builder

import (
	"context"
	"fmt"
	"io"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/driver"
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
	// StateDir is the config folder that keeps buildx's local build state
	// (refs/); empty keeps none.
	StateDir string
	// Group, for a bake run, records its builds as one group.
	Group *LocalGroup
	// Execution limits how many jobs run at once and says what a failing
	// job does to the others.
	Execution Execution
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
	// DefaultProvenance replaces the parameters of the provenance
	// attestation added by default (buildx's mode=min,inline-only=true),
	// as GitHub's build actions choose mode=max for public repositories.
	DefaultProvenance string
	// LoadContainerd, when its address is set, replaces where the engine
	// said its containerd is (an engine whose socket path differs on this
	// host, or a namespace of one's own).
	LoadContainerd imagestore.Location
	// Git is what builds record of the Git checkout of their context.
	Git GitInfo
}

// Result is what a finished build produced.
type Result struct {
	// Metadata is the metadata file's object.
	Metadata map[string]any
	// ImageID is what --iidfile and -q print.
	ImageID string
	// Attestations are the attestations the build asked BuildKit for, by
	// type (provenance, sbom), with their parameters: the ones the request
	// named and the ones added by default.
	Attestations map[string]string
	// Stats describe the solve, for summaries.
	Stats Stats
	// Call is the frontend's answer to the request's Call (result.json,
	// result.txt, result.statuscode, version); nil for a build.
	Call map[string]string
}

// Stats count what a solve did.
type Stats struct {
	Steps, CachedSteps int
	Duration           time.Duration
	// Warnings are the build checks' findings.
	Warnings []Warning
	// VertexWarnings are the same findings as BuildKit sent them, for the
	// metadata file.
	VertexWarnings []bkclient.VertexWarning
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
	raw      []bkclient.VertexWarning
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
		c.raw = append(c.raw, *w)
	}
}

func (c *statsCollector) stats() Stats {
	st := Stats{Duration: time.Since(c.started), Warnings: c.warnings, VertexWarnings: c.raw}
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

func newRef() string { return identity.NewID() }
