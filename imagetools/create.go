package imagetools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotFound is returned when a source image does not exist.
var ErrNotFound = fmt.Errorf("image %w", cerrdefs.ErrNotFound)

// Input is one image Assemble combines into a new index.
type Input struct {
	// Ref names the image, by tag or by digest.
	Ref string
	// Source reads Ref. Each input needs a Source of its own: a Registry
	// fetches from the repository it resolved last.
	Source Source
	// Desc, when not nil, is what the user wrote of the image: a
	// descriptor, or only a digest. Its media type, platform and
	// annotations replace what the registry says, as buildx merges a
	// descriptor file with the registry's descriptor.
	Desc *ocispecs.Descriptor
}

// SingleSource says what one source becomes when nothing is to be added
// to it (no annotation).
type SingleSource int

const (
	// SingleAssembled: a new index holding its manifests, as for several.
	SingleAssembled SingleSource = iota
	// SingleCopyIndex: an index is kept as it is stored; a manifest gets
	// an index of its own. buildx's create does this by default.
	SingleCopyIndex
	// SingleCopy: an index or a manifest is kept as it is stored, as
	// buildx's create does with --prefer-index=false.
	SingleCopy
)

// AssembleOptions shape the assembled index.
type AssembleOptions struct {
	// Annotations are set on the index itself.
	Annotations map[string]string
	// ManifestAnnotations are set on the image manifests, which then get
	// new digests; their attestations follow them.
	ManifestAnnotations []PlatformAnnotation
	// DescriptorAnnotations are set on the descriptors in the index.
	DescriptorAnnotations []PlatformAnnotation
	// Platforms, when not empty, keeps only the images for one of them,
	// with their attestations.
	Platforms []ocispecs.Platform
	// Single says what a single source becomes.
	Single SingleSource
}

func (o AssembleOptions) annotated() bool {
	return len(o.Annotations)+len(o.ManifestAnnotations)+len(o.DescriptorAnnotations) > 0
}

// Index is what Push stores: an image index assembled from existing
// images, or a single source's own index or manifest as it is stored. It
// remembers which input holds each of its manifests, so Push knows where
// to copy them from.
type Index struct {
	// Desc describes Raw.
	Desc ocispecs.Descriptor
	// Raw is the index (or manifest) exactly as Push stores it.
	Raw []byte

	manifests []candidate
}

// origin is an input once resolved.
type origin struct {
	ref  string // as the user wrote it
	name string // as the source resolved it
	src  Source
}

// candidate is one manifest an input offers to the new index.
type candidate struct {
	desc ocispecs.Descriptor
	from *origin
	// raw, when not nil, is the manifest as Assemble rewrote it; else
	// it is copied as its source stores it.
	raw []byte
}

// read is one input as read: its root and what it offers.
type read struct {
	from   *origin
	root   ocispecs.Descriptor
	raw    []byte
	offers []ocispecs.Descriptor
}

// Assemble reads every input and combines their manifests into one OCI
// index. An index input gives all its manifests; a single-manifest input
// gives itself, with the platform its configuration names. A manifest
// offered twice appears once; attestation manifests are kept with the
// image they describe and dropped without it. Two inputs offering
// different images for the same platform is an error. Assemble only reads.
func Assemble(ctx context.Context, inputs []Input, opts AssembleOptions) (*Index, error) {
	if len(inputs) == 0 {
		return nil, errors.New("no source image to assemble an index from")
	}
	reads := make([]*read, len(inputs))
	for i, in := range inputs {
		r, err := readInput(ctx, in)
		if err != nil {
			return nil, err
		}
		reads[i] = r
	}
	if len(reads) == 1 && !opts.annotated() {
		if idx, ok, err := passThrough(reads[0], opts); ok || err != nil {
			return idx, err
		}
	}
	var offered []candidate
	for _, r := range reads {
		for _, d := range r.offers {
			offered = append(offered, candidate{desc: d, from: r.from})
		}
	}
	kept, err := combine(offered, opts.Platforms)
	if err != nil {
		return nil, err
	}
	if kept, err = annotateManifests(ctx, kept, opts.ManifestAnnotations); err != nil {
		return nil, err
	}
	annotateDescriptors(kept, opts.DescriptorAnnotations)
	return newIndex(kept, opts.Annotations)
}

// readInput reads the root of an input and the manifests it offers.
func readInput(ctx context.Context, in Input) (*read, error) {
	name, root, err := in.Source.Resolve(ctx, in.Ref)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("reading source %q: %w", in.Ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
	}
	var given ocispecs.Descriptor
	if in.Desc != nil {
		given = *in.Desc
		if root, err = mergeDescriptor(root, given); err != nil {
			return nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
		}
	}
	data, err := in.Source.Fetch(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
	}
	r := &read{from: &origin{ref: in.Ref, name: name, src: in.Source}, root: root, raw: data}
	switch {
	case images.IsIndexType(root.MediaType):
		var idx ocispecs.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("reading the index of source %q: %w", in.Ref, err)
		}
		r.offers = idx.Manifests
	case images.IsManifestType(root.MediaType):
		p, err := manifestPlatform(ctx, in.Source, data, given.Platform)
		if err != nil {
			return nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
		}
		d := ocispecs.Descriptor{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size, Platform: p, Annotations: given.Annotations}
		r.offers = []ocispecs.Descriptor{d}
	default:
		return nil, fmt.Errorf("source %q is neither an image index nor an image manifest (%s)", in.Ref, root.MediaType)
	}
	return r, nil
}

// mergeDescriptor lays what the user wrote of an image over what its
// registry says. The annotations replace the registry's whole, so a
// descriptor can also drop some.
func mergeDescriptor(reg, given ocispecs.Descriptor) (ocispecs.Descriptor, error) {
	if given.Size != 0 && given.Size != reg.Size {
		return ocispecs.Descriptor{}, fmt.Errorf("the descriptor gives %s a size of %d bytes, the registry holds %d", reg.Digest, given.Size, reg.Size)
	}
	if given.MediaType != "" {
		if images.IsIndexType(given.MediaType) != images.IsIndexType(reg.MediaType) {
			return ocispecs.Descriptor{}, fmt.Errorf("the descriptor says %s is a %s, the registry holds a %s", reg.Digest, given.MediaType, reg.MediaType)
		}
		reg.MediaType = given.MediaType
	}
	if given.Platform != nil {
		p := *given.Platform
		reg.Platform = &p
	}
	if len(given.Annotations) > 0 {
		reg.Annotations = given.Annotations
	}
	return reg, nil
}

// manifestPlatform reads the platform of a manifest from its
// configuration, as an index descriptor must carry it. What given names
// (os.version, features) is kept; only a missing OS or architecture is
// read from the configuration.
func manifestPlatform(ctx context.Context, src Source, manifest []byte, given *ocispecs.Platform) (*ocispecs.Platform, error) {
	if given != nil && given.OS != "" && given.Architecture != "" {
		p := *given
		return &p, nil
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	data, err := src.Fetch(ctx, m.Config)
	if err != nil {
		return nil, err
	}
	var cfg ocispecs.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("reading configuration %s: %w", m.Config.Digest, err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return nil, fmt.Errorf("configuration %s names no platform", m.Config.Digest)
	}
	if given == nil {
		p := cfg.Platform
		return &p, nil
	}
	p := *given
	if p.OS == "" {
		p.OS = cfg.OS
	}
	if p.Architecture == "" {
		p.Architecture, p.Variant = cfg.Architecture, cfg.Variant
	}
	return &p, nil
}

// combine picks the manifests of the new index: images first, in the order
// offered, then the attestations of the images kept, as BuildKit lays an
// index out. With plats, only the images for one of them are kept.
func combine(offered []candidate, plats []ocispecs.Platform) ([]candidate, error) {
	var imgs, attests []candidate
	seen := map[digest.Digest]bool{}
	byPlatform := map[string]candidate{}
	wanted := platformFilter(plats)
	for _, c := range offered {
		if seen[c.desc.Digest] {
			continue
		}
		seen[c.desc.Digest] = true
		if isAttestation(c.desc) {
			attests = append(attests, c)
			continue
		}
		if !wanted(c.desc) {
			continue
		}
		if c.desc.Platform != nil {
			key := platforms.FormatAll(platforms.Normalize(*c.desc.Platform))
			prev, ok := byPlatform[key]
			switch {
			case !ok:
				byPlatform[key] = c
			case prev.from != c.from:
				// One index may hold two images for a platform, its
				// author's choice; two inputs doing so leave no way to
				// tell which one is meant.
				return nil, fmt.Errorf("sources %q and %q both hold a %s image (%s and %s)", prev.from.ref, c.from.ref, key, prev.desc.Digest, c.desc.Digest)
			}
		}
		imgs = append(imgs, c)
	}
	if len(imgs) == 0 && len(plats) > 0 {
		return nil, noPlatformError(plats)
	}
	kept := imgs
	described := map[string]bool{}
	for _, c := range imgs {
		described[c.desc.Digest.String()] = false
	}
	for _, a := range attests {
		subject := attestationSubject(a.desc)
		// An image offered by two sources keeps the attestation of the
		// first: a client reads one attestation per image.
		if done, ok := described[subject]; !ok || done {
			continue
		}
		described[subject] = true
		kept = append(kept, a)
	}
	return kept, nil
}

func newIndex(kept []candidate, annotations map[string]string) (*Index, error) {
	idx := ocispecs.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispecs.MediaTypeImageIndex,
		Manifests:   make([]ocispecs.Descriptor, 0, len(kept)),
		Annotations: annotations,
	}
	for _, c := range kept {
		idx.Manifests = append(idx.Manifests, c.desc)
	}
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the index: %w", err)
	}
	return &Index{
		Desc:      ocispecs.Descriptor{MediaType: idx.MediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))},
		Raw:       raw,
		manifests: kept,
	}, nil
}
