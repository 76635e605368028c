package imagetools

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations BuildKit puts on attestation manifests in an index.
const (
	refTypeAnnotation   = "vnd.docker.reference.type"
	refDigestAnnotation = "vnd.docker.reference.digest"
	predicateAnnotation = "in-toto.io/predicate-type"
	attestationManifest = "attestation-manifest"
)

// Result is an inspected image.
type Result struct {
	Name     string              `json:"name"`
	Manifest ocispecs.Descriptor `json:"manifest"`
	Raw      json.RawMessage     `json:"-"`
	// Index is the root when it is an index; nil for a manifest.
	Index      *ocispecs.Index        `json:"-"`
	Platforms  []*Platform            `json:"platforms"`
	Provenance map[string]*Provenance `json:"provenance,omitempty"`
	SBOM       map[string]*SBOM       `json:"sbom,omitempty"`
}

// Platform is one platform's image.
type Platform struct {
	Platform string              `json:"platform"`
	Manifest ocispecs.Descriptor `json:"manifest"`
	Config   ocispecs.Image      `json:"config"`
	// Attestations is the attestation manifest describing this image.
	Attestations *ocispecs.Descriptor `json:"attestations,omitempty"`
}

// Provenance is one image's SLSA provenance: the predicate under SLSA, as
// buildx's templates show it, and a summary of it.
type Provenance struct {
	// SLSA is the predicate, decoded as buildx decodes it, so templates
	// can reach into it ({{.Provenance.SLSA.buildType}}).
	SLSA          any               `json:"SLSA,omitempty"`
	PredicateType string            `json:"predicateType,omitempty"`
	Builder       string            `json:"builder,omitempty"`
	BuildArgs     map[string]string `json:"buildArgs,omitempty"`
	Source        string            `json:"source,omitempty"`
	Materials     []string          `json:"materials,omitempty"`
}

// SBOM is one image's SPDX documents, as buildx's templates show them,
// and the packages of the first, the image's own (the others describe
// build stages).
type SBOM struct {
	SPDX            any       `json:",omitempty"`
	AdditionalSPDXs []any     `json:",omitempty"`
	Packages        []Package `json:"packages,omitempty"`
}

// Package is one SBOM package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Inspect reads ref from src: the index (or single manifest), each
// platform's manifest and configuration, and the attestations.
func Inspect(ctx context.Context, src Source, ref string) (*Result, error) {
	name, root, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	raw, err := src.Fetch(ctx, root)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: name, Manifest: root, Raw: raw}
	var manifests []ocispecs.Descriptor
	if images.IsIndexType(root.MediaType) {
		var idx ocispecs.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("reading the index of %s: %w", name, err)
		}
		manifests = idx.Manifests
		res.Index = &idx
	} else {
		manifests = []ocispecs.Descriptor{root}
	}
	attests := map[string]ocispecs.Descriptor{}
	for _, m := range manifests {
		if isAttestation(m) {
			attests[attestationSubject(m)] = m
			continue
		}
		p, err := readPlatform(ctx, src, m)
		if err != nil {
			return nil, err
		}
		res.Platforms = append(res.Platforms, p)
	}
	sort.Slice(res.Platforms, func(i, j int) bool { return res.Platforms[i].Platform < res.Platforms[j].Platform })
	for _, p := range res.Platforms {
		a, ok := attests[p.Manifest.Digest.String()]
		if !ok {
			continue
		}
		p.Attestations = &a
		if err := readAttestations(ctx, src, res, p, a); err != nil {
			return nil, fmt.Errorf("reading the attestations of %s: %w", p.Platform, err)
		}
	}
	return res, nil
}

func readPlatform(ctx context.Context, src Source, desc ocispecs.Descriptor) (*Platform, error) {
	data, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", desc.Digest, err)
	}
	cfgData, err := src.Fetch(ctx, m.Config)
	if err != nil {
		return nil, err
	}
	p := &Platform{Manifest: desc}
	if err := json.Unmarshal(cfgData, &p.Config); err != nil {
		return nil, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	pl := p.Config.Platform
	if desc.Platform != nil {
		pl = *desc.Platform
	}
	// Normalized, as buildx keys its per-platform maps.
	p.Platform = platforms.Format(platforms.Normalize(pl))
	return p, nil
}

func readAttestations(ctx context.Context, src Source, res *Result, p *Platform, desc ocispecs.Descriptor) error {
	data, err := src.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("reading attestation manifest %s: %w", desc.Digest, err)
	}
	for _, l := range m.Layers {
		pt := l.Annotations[predicateAnnotation]
		switch {
		case strings.HasPrefix(pt, "https://slsa.dev/provenance/"):
			stmt, err := fetchStatement(ctx, src, l)
			if err != nil {
				return err
			}
			prov, err := parseProvenance(pt, stmt)
			if err != nil {
				return err
			}
			if res.Provenance == nil {
				res.Provenance = map[string]*Provenance{}
			}
			res.Provenance[p.Platform] = prov
		case strings.HasPrefix(pt, "https://spdx.dev/Document"):
			stmt, err := fetchStatement(ctx, src, l)
			if err != nil {
				return err
			}
			if res.SBOM == nil {
				res.SBOM = map[string]*SBOM{}
			}
			if res.SBOM[p.Platform] == nil {
				res.SBOM[p.Platform] = &SBOM{}
			}
			if err := res.SBOM[p.Platform].add(stmt); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchStatement reads an in-toto statement, bare or in a DSSE envelope,
// and returns its predicate.
func fetchStatement(ctx context.Context, src Source, desc ocispecs.Descriptor) (json.RawMessage, error) {
	data, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	if dsseMediaType.MatchString(desc.MediaType) {
		var env struct {
			Payload []byte `json:"payload"` // base64, which encoding/json decodes
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("attestation %s is not a DSSE envelope: %w", desc.Digest, err)
		}
		data = env.Payload
	}
	var stmt struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &stmt); err != nil || len(stmt.Predicate) == 0 {
		return nil, fmt.Errorf("attestation %s is not an in-toto statement", desc.Digest)
	}
	return stmt.Predicate, nil
}

// dsseMediaType matches the media types of signed in-toto statements.
var dsseMediaType = regexp.MustCompile(`^application/vnd\.in-toto\..*\+dsse$`)

func parseProvenance(predicateType string, pred json.RawMessage) (*Provenance, error) {
	var v02 struct {
		Builder    struct{ ID string } `json:"builder"`
		Invocation struct {
			ConfigSource struct {
				URI        string `json:"uri"`
				EntryPoint string `json:"entryPoint"`
			} `json:"configSource"`
			Parameters struct {
				Args map[string]string `json:"args"`
			} `json:"parameters"`
		} `json:"invocation"`
		Materials []struct{ URI string } `json:"materials"`
		// SLSA v1 names the same things differently.
		BuildDefinition struct {
			ExternalParameters struct {
				ConfigSource struct {
					URI  string `json:"uri"`
					Path string `json:"path"`
				} `json:"configSource"`
				Request struct {
					Args map[string]string `json:"args"`
				} `json:"request"`
			} `json:"externalParameters"`
			ResolvedDependencies []struct{ URI string } `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct{ ID string } `json:"builder"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(pred, &v02); err != nil {
		return nil, fmt.Errorf("reading provenance: %w", err)
	}
	p := &Provenance{PredicateType: predicateType, BuildArgs: map[string]string{}}
	if err := json.Unmarshal(pred, &p.SLSA); err != nil {
		return nil, fmt.Errorf("reading provenance: %w", err)
	}
	p.Builder = firstNonEmpty(v02.Builder.ID, v02.RunDetails.Builder.ID)
	args := v02.Invocation.Parameters.Args
	if len(args) == 0 {
		args = v02.BuildDefinition.ExternalParameters.Request.Args
	}
	for k, v := range args {
		if name, ok := strings.CutPrefix(k, "build-arg:"); ok {
			p.BuildArgs[name] = v
		}
	}
	p.Source = firstNonEmpty(v02.Invocation.ConfigSource.EntryPoint, v02.BuildDefinition.ExternalParameters.ConfigSource.Path)
	if uri := firstNonEmpty(v02.Invocation.ConfigSource.URI, v02.BuildDefinition.ExternalParameters.ConfigSource.URI); uri != "" {
		p.Source = strings.TrimSpace(uri + " " + p.Source)
	}
	for _, m := range v02.Materials {
		p.Materials = append(p.Materials, m.URI)
	}
	for _, m := range v02.BuildDefinition.ResolvedDependencies {
		p.Materials = append(p.Materials, m.URI)
	}
	return p, nil
}

// add adds an SPDX document: the first is the image's own, whose
// packages are listed.
func (s *SBOM) add(pred json.RawMessage) error {
	var doc any
	if err := json.Unmarshal(pred, &doc); err != nil {
		return fmt.Errorf("reading SBOM: %w", err)
	}
	if s.SPDX != nil {
		s.AdditionalSPDXs = append(s.AdditionalSPDXs, doc)
		return nil
	}
	pkgs, err := spdxPackages(pred)
	if err != nil {
		return err
	}
	s.SPDX, s.Packages = doc, pkgs
	return nil
}

func spdxPackages(pred json.RawMessage) ([]Package, error) {
	var doc struct {
		Describes []string `json:"documentDescribes"`
		Packages  []struct {
			ID          string `json:"SPDXID"`
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(pred, &doc); err != nil {
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	// The package a document describes is the scanned folder itself (syft
	// names it after the scan path), not something installed in the image.
	root := map[string]bool{}
	for _, id := range doc.Describes {
		root[id] = true
	}
	var pkgs []Package
	for _, p := range doc.Packages {
		if root[p.ID] || strings.HasPrefix(p.ID, "SPDXRef-DocumentRoot-") {
			continue
		}
		pkgs = append(pkgs, Package{Name: p.Name, Version: p.VersionInfo})
	}
	return pkgs, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
