package imagetools

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// passThrough keeps a single source as it is stored, when opts.Single
// allows: an index (less the platforms not wanted), or a manifest. ok is
// false when the source is to be assembled into a new index instead.
func passThrough(r *read, opts AssembleOptions) (idx *Index, ok bool, err error) {
	switch {
	case opts.Single == SingleAssembled:
		return nil, false, nil
	case images.IsIndexType(r.root.MediaType):
		idx, err := copyIndex(r, opts.Platforms)
		return idx, true, err
	case opts.Single != SingleCopy:
		return nil, false, nil
	}
	d := r.offers[0]
	if len(opts.Platforms) > 0 && !platforms.Any(opts.Platforms...).Match(*d.Platform) {
		return nil, true, fmt.Errorf("source %q is a %s image, not one for %s", r.from.ref, platforms.Format(*d.Platform), formatPlatforms(opts.Platforms))
	}
	blobs, err := childrenOf(d, r.raw)
	if err != nil {
		return nil, true, err
	}
	idx = &Index{Desc: d, Raw: r.raw}
	for _, b := range blobs {
		idx.manifests = append(idx.manifests, candidate{desc: b, from: r.from})
	}
	return idx, true, nil
}

// copyIndex keeps an index as it is stored, or, when some platforms are
// not wanted, the same index less their images and attestations, in the
// same order.
func copyIndex(r *read, plats []ocispecs.Platform) (*Index, error) {
	kept := selectPlatforms(r.offers, plats)
	if len(kept) == 0 {
		return nil, noPlatformError(plats)
	}
	idx := &Index{Desc: ocispecs.Descriptor{MediaType: r.root.MediaType, Digest: r.root.Digest, Size: r.root.Size}, Raw: r.raw}
	if len(kept) < len(r.offers) {
		var stored ocispecs.Index
		if err := json.Unmarshal(r.raw, &stored); err != nil {
			return nil, fmt.Errorf("reading the index of source %q: %w", r.from.ref, err)
		}
		stored.Manifests = kept
		raw, err := json.MarshalIndent(stored, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encoding the index: %w", err)
		}
		idx.Raw = raw
		idx.Desc = ocispecs.Descriptor{MediaType: r.root.MediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	}
	for _, d := range kept {
		idx.manifests = append(idx.manifests, candidate{desc: d, from: r.from})
	}
	return idx, nil
}

// selectPlatforms keeps, in order, the images for one of plats (all with
// none), the manifests without a platform, and the attestations of the
// images kept.
func selectPlatforms(descs []ocispecs.Descriptor, plats []ocispecs.Platform) []ocispecs.Descriptor {
	if len(plats) == 0 {
		return descs
	}
	wanted := platformFilter(plats)
	subjects := map[string]bool{}
	for _, d := range descs {
		if !isAttestation(d) && wanted(d) {
			subjects[d.Digest.String()] = true
		}
	}
	var kept []ocispecs.Descriptor
	for _, d := range descs {
		if subjects[d.Digest.String()] || (isAttestation(d) && subjects[attestationSubject(d)]) {
			kept = append(kept, d)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	return kept
}

// platformFilter says whether an image is wanted: with no platforms, all
// are; else those for one of them, and those that name no platform, as
// buildx keeps them.
func platformFilter(plats []ocispecs.Platform) func(ocispecs.Descriptor) bool {
	if len(plats) == 0 {
		return func(ocispecs.Descriptor) bool { return true }
	}
	m := platforms.Any(plats...)
	return func(d ocispecs.Descriptor) bool { return d.Platform == nil || m.Match(*d.Platform) }
}

func noPlatformError(plats []ocispecs.Platform) error {
	return fmt.Errorf("no image of the sources is for %s", formatPlatforms(plats))
}

func formatPlatforms(plats []ocispecs.Platform) string {
	s := make([]string, len(plats))
	for i, p := range plats {
		s[i] = platforms.Format(p)
	}
	return strings.Join(s, ", ")
}

// Annotations BuildKit (and older BuildKit, under com.docker) puts on the
// descriptor of an attestation manifest, naming the image it describes.
var subjectAnnotations = []string{refDigestAnnotation, "com.docker.reference.digest"}

func isAttestation(d ocispecs.Descriptor) bool {
	return d.Annotations[refTypeAnnotation] == attestationManifest
}

func attestationSubject(d ocispecs.Descriptor) string {
	for _, k := range subjectAnnotations {
		if s := d.Annotations[k]; s != "" {
			return s
		}
	}
	return ""
}
