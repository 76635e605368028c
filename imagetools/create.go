package imagetools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/pkg/labels"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
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
}

// AssembleOptions shape the assembled index.
type AssembleOptions struct {
	// Annotations are set on the index itself.
	Annotations map[string]string
}

// Index is an image index assembled from existing images and not yet
// pushed. It remembers which input holds each of its manifests, so Push
// knows where to copy them from.
type Index struct {
	// Desc describes Raw.
	Desc ocispecs.Descriptor
	// Raw is the index exactly as Push stores it.
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
	var offered []candidate
	for _, in := range inputs {
		o, descs, err := readInput(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, d := range descs {
			offered = append(offered, candidate{desc: d, from: o})
		}
	}
	kept, err := combine(offered)
	if err != nil {
		return nil, err
	}
	return newIndex(kept, opts.Annotations)
}

// readInput returns the manifests in offers to the new index.
func readInput(ctx context.Context, in Input) (*origin, []ocispecs.Descriptor, error) {
	name, root, err := in.Source.Resolve(ctx, in.Ref)
	if cerrdefs.IsNotFound(err) {
		return nil, nil, fmt.Errorf("reading source %q: %w", in.Ref, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
	}
	o := &origin{ref: in.Ref, name: name, src: in.Source}
	data, err := in.Source.Fetch(ctx, root)
	if err != nil {
		return nil, nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
	}
	switch {
	case images.IsIndexType(root.MediaType):
		var idx ocispecs.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, nil, fmt.Errorf("reading the index of source %q: %w", in.Ref, err)
		}
		return o, idx.Manifests, nil
	case images.IsManifestType(root.MediaType):
		p, err := manifestPlatform(ctx, in.Source, data)
		if err != nil {
			return nil, nil, fmt.Errorf("reading source %q: %w", in.Ref, err)
		}
		return o, []ocispecs.Descriptor{{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size, Platform: p}}, nil
	}
	return nil, nil, fmt.Errorf("source %q is neither an image index nor an image manifest (%s)", in.Ref, root.MediaType)
}

// manifestPlatform reads the platform of a manifest from its
// configuration, as an index descriptor must carry it.
func manifestPlatform(ctx context.Context, src Source, manifest []byte) (*ocispecs.Platform, error) {
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
	p := cfg.Platform
	return &p, nil
}

// combine picks the manifests of the new index: images first, in the order
// offered, then the attestations of the images kept, as BuildKit lays an
// index out.
func combine(offered []candidate) ([]candidate, error) {
	var imgs, attests []candidate
	seen := map[digest.Digest]bool{}
	byPlatform := map[string]candidate{}
	for _, c := range offered {
		if seen[c.desc.Digest] {
			continue
		}
		seen[c.desc.Digest] = true
		if c.desc.Annotations[refTypeAnnotation] == attestationManifest {
			attests = append(attests, c)
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
	kept := imgs
	described := map[string]bool{}
	for _, c := range imgs {
		described[c.desc.Digest.String()] = false
	}
	for _, a := range attests {
		subject := a.desc.Annotations[refDigestAnnotation]
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

// ParseTag reads a name Push can store an index under: a repository and a
// tag (latest when none is given), without a digest.
func ParseTag(s string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("invalid tag %q: %w", s, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("invalid tag %q: an index is pushed under a tag, not a digest", s)
	}
	return reference.TagNameOnly(named).(reference.NamedTagged), nil
}

// Push stores idx under every tag, one after the other. For each tag it
// first copies every manifest idx references, with its configuration and
// layers, from the source repository into the tag's repository, and pushes
// the index last, so a registry never holds an index whose manifests it
// lacks. It stops at the first failure; blobs already copied stay. creds
// authenticates to registries, as for NewRegistry.
func Push(ctx context.Context, idx *Index, tags []reference.NamedTagged, creds func(host string) (string, string, error)) error {
	for _, tag := range tags {
		// A registry connection remembers what it pushed and would skip
		// it in the next repository, so every tag gets a fresh one.
		if err := pushTag(ctx, NewRegistry(creds), idx, tag); err != nil {
			return fmt.Errorf("pushing %s: %w", reference.FamiliarString(tag), err)
		}
	}
	return nil
}

func pushTag(ctx context.Context, reg *Registry, idx *Index, tag reference.NamedTagged) error {
	// With the digest in the reference, the pusher stores manifests by
	// digest and only the index under the tag.
	p, err := reg.resolver.Pusher(ctx, tag.String()+"@"+idx.Desc.Digest.String())
	if err != nil {
		return err
	}
	c := &copier{pusher: p, target: tag, done: map[digest.Digest]bool{}}
	for _, m := range idx.manifests {
		if err := c.copy(ctx, m.desc, m.from); err != nil {
			return err
		}
	}
	return putBytes(ctx, p, idx.Desc, idx.Raw)
}

// copier brings manifests, and the blobs they reference, into one
// repository.
type copier struct {
	pusher remotes.Pusher
	target reference.Named
	done   map[digest.Digest]bool
}

// copy copies desc and all it references, children before parents, as a
// registry refuses a manifest whose blobs it lacks.
func (c *copier) copy(ctx context.Context, desc ocispecs.Descriptor, from *origin) error {
	if c.done[desc.Digest] {
		return nil
	}
	switch {
	case images.IsIndexType(desc.MediaType), images.IsManifestType(desc.MediaType):
		data, err := from.src.Fetch(ctx, desc)
		if err != nil {
			return fmt.Errorf("reading %s from %s: %w", desc.Digest, from.name, err)
		}
		children, err := childrenOf(desc, data)
		if err != nil {
			return err
		}
		for _, ch := range children {
			if err := c.copy(ctx, ch, from); err != nil {
				return err
			}
		}
		if err := putBytes(ctx, c.pusher, desc, data); err != nil {
			return fmt.Errorf("pushing manifest %s: %w", desc.Digest, err)
		}
	case images.IsNonDistributable(desc.MediaType):
		// Registries do not hold these; clients fetch them from their URLs.
	default:
		if err := c.copyBlob(ctx, desc, from); err != nil {
			return fmt.Errorf("copying blob %s from %s: %w", desc.Digest, from.name, err)
		}
	}
	c.done[desc.Digest] = true
	return nil
}

func (c *copier) copyBlob(ctx context.Context, desc ocispecs.Descriptor, from *origin) error {
	w, err := c.pusher.Push(ctx, withMountSource(desc, from.name, c.target))
	if cerrdefs.IsAlreadyExists(err) {
		// Already there, or mounted from the source repository.
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	rc, err := openBlob(ctx, from.src, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	return content.Copy(ctx, w, rc, desc.Size, desc.Digest)
}

func childrenOf(desc ocispecs.Descriptor, data []byte) ([]ocispecs.Descriptor, error) {
	if images.IsIndexType(desc.MediaType) {
		var idx ocispecs.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("reading index %s: %w", desc.Digest, err)
		}
		return idx.Manifests, nil
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", desc.Digest, err)
	}
	return append([]ocispecs.Descriptor{m.Config}, m.Layers...), nil
}

func putBytes(ctx context.Context, p remotes.Pusher, desc ocispecs.Descriptor, data []byte) error {
	w, err := p.Push(ctx, desc)
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	return content.Copy(ctx, w, bytes.NewReader(data), desc.Size, desc.Digest)
}

// withMountSource lets a registry mount a blob from the source repository
// when both are on the same registry, rather than have it uploaded again.
// The pusher reads the source from the annotation containerd's own pulls
// leave.
func withMountSource(desc ocispecs.Descriptor, source string, target reference.Named) ocispecs.Descriptor {
	src, err := reference.ParseNormalizedNamed(source)
	if err != nil || reference.Domain(src) != reference.Domain(target) || reference.Path(src) == reference.Path(target) {
		return desc
	}
	u, err := url.Parse("dummy://" + reference.Domain(target))
	if err != nil {
		return desc
	}
	desc.Annotations = maps.Clone(desc.Annotations)
	if desc.Annotations == nil {
		desc.Annotations = map[string]string{}
	}
	desc.Annotations[labels.LabelDistributionSource+"."+u.Hostname()] = reference.Path(src)
	return desc
}

// blobOpener is a Source that streams blobs, so layers are copied without
// being held in memory.
type blobOpener interface {
	openBlob(ctx context.Context, desc ocispecs.Descriptor) (io.ReadCloser, error)
}

// openBlob returns a reader content.Copy can seek, as it does when an
// upload restarts.
func openBlob(ctx context.Context, src Source, desc ocispecs.Descriptor) (io.ReadCloser, error) {
	if o, ok := src.(blobOpener); ok {
		return o.openBlob(ctx, desc)
	}
	data, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return memBlob{bytes.NewReader(data)}, nil
}

type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }

// openBlob implements blobOpener; the fetcher's reader seeks.
func (r *Registry) openBlob(ctx context.Context, desc ocispecs.Descriptor) (io.ReadCloser, error) {
	f, err := r.fetcher(ctx, desc)
	if err != nil {
		return nil, err
	}
	return f.Fetch(ctx, desc)
}

var _ blobOpener = (*Registry)(nil)
