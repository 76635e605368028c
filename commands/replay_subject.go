package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	"github.com/docker/buildx/replay"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	"github.com/moby/buildkit/util/attestation"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/imagetools"
)

// replaySubject is one manifest a replay may rebuild; its provenance is
// read only once the platform is chosen, so a platform without any does
// not stop the replay of another.
type replaySubject struct {
	subject   *replay.Subject
	predicate func(context.Context) (*replay.Predicate, error)
}

// replayTargets loads the subject input names, keeps the platform asked
// for (or the only one, or the builder's default) and reads its
// provenance.
func replayTargets(ctx context.Context, env *Env, builderName, input string, platformFlags []string) ([]replay.Target, error) {
	subjects, err := loadReplaySubjects(ctx, env, input)
	if err != nil {
		return nil, err
	}
	subjects, err = selectReplayPlatform(subjects, platformFlags, func() (ocispecs.Platform, error) {
		return builderDefaultPlatform(ctx, env, builderName)
	})
	if err != nil {
		return nil, err
	}
	targets := make([]replay.Target, 0, len(subjects))
	for _, s := range subjects {
		pred, err := s.predicate(ctx)
		if err != nil {
			return nil, err
		}
		if s.subject.Descriptor.Platform == nil && len(platformFlags) == 0 {
			// An attestation file has no index to carry the platform.
			if p, ok := pred.TargetPlatform(); ok {
				withPlatform := *s.subject
				withPlatform.Descriptor.Platform = p
				s.subject = &withPlatform
			}
		}
		targets = append(targets, replay.Target{Subject: s.subject, Predicate: pred})
	}
	return targets, nil
}

// loadReplaySubjects reads the subject: OCI layouts and attestation files
// as buildx reads them, images from their registry with this host's
// credentials.
func loadReplaySubjects(ctx context.Context, env *Env, input string) ([]replaySubject, error) {
	in := strings.TrimSpace(input)
	if in == "" {
		return nil, errors.New("empty subject input: name an image, oci-layout://PATH or an attestation file")
	}
	if ref, ok := strings.CutPrefix(in, "docker-image://"); ok || !isLocalSubject(in) {
		return loadRegistrySubjects(ctx, env, ref)
	}
	subjects, err := replay.LoadSubjects(ctx, nil, "", in)
	if err != nil {
		return nil, err
	}
	out := make([]replaySubject, len(subjects))
	for i, s := range subjects {
		out[i] = replaySubject{subject: s, predicate: s.Predicate}
	}
	return out, nil
}

// isLocalSubject reports whether in names an OCI layout or a file rather
// than an image reference.
func isLocalSubject(in string) bool {
	if strings.HasPrefix(in, "oci-layout://") {
		return true
	}
	if _, err := os.Stat(in); err == nil {
		return true
	}
	return filepath.IsAbs(in) || strings.HasPrefix(in, "./") || strings.HasPrefix(in, "../") ||
		strings.HasSuffix(in, ".json") || strings.HasSuffix(in, ".jsonl")
}

// loadRegistrySubjects resolves ref in its registry: one subject per image
// manifest of an index, with the attestation manifest BuildKit attached
// to it; a lone manifest carries no provenance.
func loadRegistrySubjects(ctx context.Context, env *Env, ref string) ([]replaySubject, error) {
	reg := imagetools.NewRegistry(registryCreds(env))
	_, root, err := reg.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	switch root.MediaType {
	case ocispecs.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
		noProvenance := func(context.Context) (*replay.Predicate, error) { return nil, replay.ErrNoProvenanceForManifest(ref) }
		return []replaySubject{{subject: &replay.Subject{Descriptor: root}, predicate: noProvenance}}, nil
	case ocispecs.MediaTypeImageIndex, images.MediaTypeDockerSchema2ManifestList:
	default:
		return nil, fmt.Errorf("reading %s: unsupported root media type %q", ref, root.MediaType)
	}
	raw, err := reg.Fetch(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("reading the index of %s: %w", ref, err)
	}
	attestFor := map[digest.Digest]ocispecs.Descriptor{}
	var out []replaySubject
	for _, m := range idx.Manifests {
		if m.Annotations[attestation.DockerAnnotationReferenceType] == attestation.DockerAnnotationReferenceTypeDefault {
			if d, err := digest.Parse(m.Annotations[attestation.DockerAnnotationReferenceDigest]); err == nil {
				if _, seen := attestFor[d]; !seen {
					attestFor[d] = m
				}
				continue
			}
		}
		out = append(out, replaySubject{subject: &replay.Subject{Descriptor: m}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("index %s of %s has no image manifests", root.Digest, ref)
	}
	for i := range out {
		att, ok := attestFor[out[i].subject.Descriptor.Digest]
		out[i].predicate = func(ctx context.Context) (*replay.Predicate, error) {
			if !ok {
				return nil, replay.ErrNoProvenance(ref)
			}
			return readRegistryProvenance(ctx, reg, att, ref)
		}
	}
	return out, nil
}

// readRegistryProvenance reads the SLSA provenance layer of an
// attestation manifest.
func readRegistryProvenance(ctx context.Context, reg *imagetools.Registry, att ocispecs.Descriptor, ref string) (*replay.Predicate, error) {
	raw, err := reg.Fetch(ctx, att)
	if err != nil {
		return nil, fmt.Errorf("reading the attestations of %s: %w", ref, err)
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading the attestations of %s: %w", ref, err)
	}
	for _, l := range m.Layers {
		pt := l.Annotations["in-toto.io/predicate-type"]
		if pt != slsa1.PredicateSLSAProvenance && pt != slsa02.PredicateSLSAProvenance {
			continue
		}
		blob, err := reg.Fetch(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("reading the provenance of %s: %w", ref, err)
		}
		return decodeProvenanceStatement(blob, pt)
	}
	return nil, replay.ErrNoProvenance(ref)
}

// decodeProvenanceStatement reads an in-toto statement's provenance, as
// SLSA v1 (v0.2 converted).
func decodeProvenanceStatement(dt []byte, predType string) (*replay.Predicate, error) {
	var st struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(dt, &st); err != nil {
		return nil, fmt.Errorf("reading the provenance statement: %w", err)
	}
	if predType == slsa02.PredicateSLSAProvenance {
		var old provenancetypes.ProvenancePredicateSLSA02
		if err := json.Unmarshal(st.Predicate, &old); err != nil {
			return nil, fmt.Errorf("reading the SLSA v0.2 provenance: %w", err)
		}
		p := replay.Predicate(*old.ConvertToSLSA1())
		return &p, nil
	}
	var p replay.Predicate
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		return nil, fmt.Errorf("reading the SLSA v1 provenance: %w", err)
	}
	return &p, nil
}

// parseReplayPlatforms reads --platform values, comma-separated or
// repeated; a replay builds one platform, so "all" is refused.
func parseReplayPlatforms(values []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			switch part {
			case "":
				return nil, errors.New("invalid empty --platform value")
			case "all":
				return nil, errors.New(`--platform "all" is not supported by replay build; select a single platform`)
			}
			p, err := platforms.Parse(part)
			if err != nil {
				return nil, fmt.Errorf("invalid --platform: %w", err)
			}
			p = platforms.Normalize(p)
			if !slices.ContainsFunc(out, func(q ocispecs.Platform) bool { return platforms.Format(q) == platforms.Format(p) }) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// selectReplayPlatform keeps the subjects of the platforms asked for; with
// none asked, the only one, else the builder's default (asked only then).
// A lone subject without a platform (an attestation file) takes the one
// asked for.
func selectReplayPlatform(subjects []replaySubject, flags []string, defaultPlatform func() (ocispecs.Platform, error)) ([]replaySubject, error) {
	want, err := parseReplayPlatforms(flags)
	if err != nil {
		return nil, err
	}
	var available []string
	for _, s := range subjects {
		if p := s.subject.Descriptor.Platform; p != nil {
			available = append(available, platforms.Format(*p))
		}
	}
	if len(want) == 0 {
		if len(available) <= 1 {
			return subjects, nil
		}
		p, err := defaultPlatform()
		if err != nil {
			return nil, fmt.Errorf("selecting the default platform from %v (pass --platform): %w", available, err)
		}
		return pickPlatforms(subjects, []ocispecs.Platform{p}, available, false)
	}
	if len(subjects) == 1 && subjects[0].subject.Descriptor.Platform == nil {
		out := make([]replaySubject, len(want))
		for i, p := range want {
			s := *subjects[0].subject
			s.Descriptor.Platform = &p
			out[i] = replaySubject{subject: &s, predicate: subjects[0].predicate}
		}
		return out, nil
	}
	return pickPlatforms(subjects, want, available, true)
}

// pickPlatforms picks, for each platform, the subject that matches it
// best; subjects without a platform stay. explicit: every platform must
// match one.
func pickPlatforms(subjects []replaySubject, want []ocispecs.Platform, available []string, explicit bool) ([]replaySubject, error) {
	var out []replaySubject
	var missing []string
	picked := map[int]bool{}
	for _, w := range want {
		m := platforms.OnlyStrict(w)
		best := -1
		for i, s := range subjects {
			p := s.subject.Descriptor.Platform
			if p != nil && m.Match(*p) && (best < 0 || m.Less(*p, *subjects[best].subject.Descriptor.Platform)) {
				best = i
			}
		}
		switch {
		case best < 0:
			missing = append(missing, platforms.Format(w))
		case !picked[best]:
			picked[best] = true
			out = append(out, subjects[best])
		}
	}
	for _, s := range subjects {
		if s.subject.Descriptor.Platform == nil {
			out = append(out, s)
		}
	}
	if explicit && len(missing) > 0 {
		return nil, fmt.Errorf("requested platform(s) not present: %v (available: %v)", missing, available)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no subject for builder default platform %v (available: %v): pass --platform", missing, available)
	}
	return out, nil
}

// builderDefaultPlatform is the platform a build without --platform gets
// on the builder: its first node's first worker platform.
func builderDefaultPlatform(ctx context.Context, env *Env, builderName string) (ocispecs.Platform, error) {
	r, err := env.resolver()
	if err != nil {
		return ocispecs.Platform{}, err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return ocispecs.Platform{}, err
	}
	n, err := builder.BootNodeFor(ctx, inst, nil)
	if err != nil {
		return ocispecs.Platform{}, err
	}
	info := n.Driver.Info(ctx)
	if info.Err != nil {
		return ocispecs.Platform{}, info.Err
	}
	if len(info.Platforms) == 0 {
		return ocispecs.Platform{}, fmt.Errorf("could not determine the default platform of builder %q", inst.Name)
	}
	return platforms.Normalize(info.Platforms[0]), nil
}
