package builder

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
)

// RejectedError is a build refused by the planner before any work: nothing
// was sent to the daemon.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// ErrMultiPlatformNotSupported is the docker driver on a classic store asked
// for more than one platform. The text is the one Docker documents.
var ErrMultiPlatformNotSupported = errors.New(notSupported("Multi-platform build", "https://docs.docker.com/go/build-multi-platform/"))

// ErrAttestationNotSupported is the docker driver on a classic store asked
// for attestations.
var ErrAttestationNotSupported = errors.New(notSupported("Attestation", "https://docs.docker.com/go/attestations/"))

func notSupported(feature, docs string) string {
	return feature + ` is not supported for the docker driver.
Switch to a different driver, or turn on the containerd image store, and try again.
Learn more at ` + docs
}

// Plan is what the planner decided for one node.
type Plan struct {
	// Attests are the frontend attestation attributes to send.
	Attests map[string]string
	// Outputs are the request's outputs, or the default one.
	Outputs []exporter.Output
	// Destination is where the node's exports go.
	Destination exporter.Destination
	// SBOMGenerator is the generator image an SBOM attestation runs, and
	// SBOMGeneratorFrom where that choice came from; empty without SBOM.
	SBOMGenerator     string
	SBOMGeneratorFrom string
	// ExtraHosts are the request's, with host-gateway resolved for the
	// node.
	ExtraHosts []string
}

// plan applies the image-store rules to a request for a node with the
// given capabilities and the run's switches. It is the only place those
// rules live. sbomGenerator is the builder's default SBOM generator (from:
// where it was set).
func plan(req *Request, caps driver.Capabilities, sw Switches, sbomGenerator, sbomGeneratorFrom string) (*Plan, error) {
	multi := len(req.Platforms) > 1
	explicitAttests := false
	for _, v := range req.Attests {
		if !v.Off {
			explicitAttests = true
		}
	}
	if !caps.MultiPlatform {
		if multi {
			return nil, &RejectedError{ErrMultiPlatformNotSupported}
		}
		if explicitAttests {
			return nil, &RejectedError{ErrAttestationNotSupported}
		}
	}
	if err := checkExporters(req, caps); err != nil {
		return nil, &RejectedError{err}
	}
	outputs := req.Outputs
	if len(outputs) == 0 && (caps.Load == driver.LoadNative || caps.DefaultLoad) && !sw.NoDefaultLoad {
		// The engine's own builder loads by default, as `docker build` does,
		// and so does a node created with default-load.
		outputs = []exporter.Output{{Type: exporter.TypeDocker, Attrs: map[string]string{}}}
	}
	loadsIntoClassic := false
	for _, o := range outputs {
		if !o.Loads() || caps.Load == driver.LoadNative {
			continue
		}
		switch caps.ImageStore {
		case imagestore.Unknown:
			return nil, &RejectedError{fmt.Errorf("cannot load the image: the docker engine at %s does not answer; start it, point DOCKER_HOST at a running engine, or use --output/--push instead of --load", hostOrDefault(caps))}
		case imagestore.Classic:
			loadsIntoClassic = true
			if multi || explicitAttests {
				return nil, &RejectedError{classicLoadError(caps, multi)}
			}
		}
	}
	p := &Plan{Outputs: outputs, Attests: map[string]string{}, Destination: destination(req, caps, sw)}
	if err := p.addAttests(req, sbomGenerator, sbomGeneratorFrom); err != nil {
		return nil, &RejectedError{err}
	}
	_, provenanceSet := req.Attests["provenance"]
	// Default provenance follows buildx (the action's own default when it
	// sets one), except where it would turn a single image meant for a
	// classic store into an index that store cannot take.
	if caps.MultiPlatform && !provenanceSet && !sw.NoDefaultAttestations && !loadsIntoClassic {
		p.Attests["attest:provenance"] = cmp.Or(sw.DefaultProvenance, defaultProvenance)
	}
	return p, nil
}

// destination is where a node's exports go, with the run's switches for
// direct loads applied.
func destination(req *Request, caps driver.Capabilities, sw Switches) exporter.Destination {
	dst := exporter.Destination{
		Native:            caps.Load == driver.LoadNative,
		Store:             caps.ImageStore,
		Engine:            caps.LoadEngine,
		FileExporters:     caps.Exporters,
		Containerd:        caps.LoadLocation,
		Platforms:         req.Platforms,
		PushThroughEngine: caps.PushThroughEngine,
	}
	if a := sw.LoadContainerd; a.Address != "" {
		if a.Snapshotter == "" {
			a.Snapshotter = dst.Containerd.Snapshotter
		}
		if a.Namespace == "" {
			a.Namespace = dst.Containerd.Namespace
		}
		dst.Containerd = a
	}
	if sw.NoDirectLoad {
		dst.Containerd = imagestore.Location{}
	}
	return dst
}

// addAttests adds the attestations the request asks for, an SBOM with the
// generator chosen for it.
func (p *Plan) addAttests(req *Request, sbomGenerator, sbomGeneratorFrom string) error {
	for k, v := range req.Attests {
		if v.Off {
			continue
		}
		params := v.Params
		if k == "sbom" {
			var err error
			params, p.SBOMGenerator, p.SBOMGeneratorFrom, err = sbomParams(params, sbomGenerator, sbomGeneratorFrom)
			if err != nil {
				return err
			}
		}
		p.Attests["attest:"+k] = params
	}
	return nil
}

// defaultProvenance is buildx's: minimal, and only where the image itself
// carries it.
const defaultProvenance = "mode=min,inline-only=true"

// Errors for exporters a node lacks, in the words Docker documents.
var (
	ErrCacheExportNotSupported    = errors.New(notSupported("Cache export", "https://docs.docker.com/go/build-cache-backends/"))
	ErrOCIExporterNotSupported    = errors.New(notSupported("OCI exporter", "https://docs.docker.com/go/build-exporters/"))
	ErrDockerExporterNotSupported = errors.New(notSupported("Docker exporter", "https://docs.docker.com/go/build-exporters/"))
)

// checkExporters refuses, before any work, cache exports and file outputs
// the node would fail on only after building.
func checkExporters(req *Request, caps driver.Capabilities) error {
	for _, c := range req.CacheTo {
		if c.Type != "inline" && !caps.CacheExport {
			return ErrCacheExportNotSupported
		}
	}
	for _, o := range req.Outputs {
		switch {
		case (o.Type == exporter.TypeOCI || o.Type == exporter.TypeContainerd) && !caps.Exports(exporter.TypeOCI):
			return ErrOCIExporterNotSupported
		case o.Type == exporter.TypeDocker && o.Dest != "" && !caps.Exports(exporter.TypeDocker):
			return ErrDockerExporterNotSupported
		}
	}
	return nil
}

func hostOrDefault(caps driver.Capabilities) string {
	if caps.LoadEngine.Host == "" {
		return "the default address"
	}
	return caps.LoadEngine.Host
}

func classicLoadError(caps driver.Capabilities, multi bool) error {
	what := "an image with attestations"
	if multi {
		what = "a multi-platform image"
	}
	return fmt.Errorf("cannot load %s into the classic image store of the docker engine at %s: %s",
		what, caps.LoadEngine.Host, strings.Join([]string{
			"turn on the containerd image store in that engine",
			"or build a single platform without attestations (--platform=ONE --provenance=false)",
		}, ", "))
}

// checkRegistryJoin refuses outputs a build split over several nodes
// cannot be joined for, in the registry: an image-store rule, so here.
func checkRegistryJoin(outs []exporter.Output, dst exporter.Destination) error {
	if len(outs) == 1 && outs[0].Loads() && dst.Store == imagestore.Classic {
		return fmt.Errorf("the classic image store of the docker engine at %s cannot hold a multi-platform image; turn on its containerd image store, or use --push", dst.Engine.Host)
	}
	if len(outs) == 0 || slices.ContainsFunc(outs, func(o exporter.Output) bool { return !o.Pushes() }) {
		return errors.New("results of several nodes can only be joined as one output: in a registry (--push), in a containerd image store (--load into an engine with the containerd store, or type=containerd), in one archive (type=oci or type=docker with dest=) or as files (type=local or type=tar); or create the nodes so that one takes every platform")
	}
	return nil
}
