package imagetools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/pkg/labels"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

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

// Progress shows what Push does as it goes, one step per tag.
type Progress interface {
	// Step starts a step; Push ends every step it starts.
	Step(name string) ProgressStep
}

// ProgressStep is one step of a Progress.
type ProgressStep interface {
	Log(format string, args ...any)
	Done(err error)
}

// PushOption changes how Push works.
type PushOption func(*pushOptions)

type pushOptions struct {
	progress  Progress
	plainHTTP []string
}

// WithPlainHTTP has Push speak plain HTTP to these hosts, besides loopback.
func WithPlainHTTP(hosts []string) PushOption {
	return func(o *pushOptions) { o.plainHTTP = hosts }
}

// WithProgress has Push show its steps on p.
func WithProgress(p Progress) PushOption {
	return func(o *pushOptions) { o.progress = p }
}

// Push stores idx under every tag, one after the other. For each tag it
// first copies every manifest idx references, with its configuration and
// layers, from the source repository into the tag's repository, and pushes
// idx itself last, so a registry never holds an index whose manifests it
// lacks. It stops at the first failure; blobs already copied stay. creds
// authenticates to registries, as for NewRegistry.
func Push(ctx context.Context, idx *Index, tags []reference.NamedTagged, creds func(host string) (string, string, error), opts ...PushOption) error {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	for _, tag := range tags {
		var step ProgressStep = noStep{}
		if o.progress != nil {
			step = o.progress.Step("pushing " + reference.FamiliarString(tag))
		}
		// A registry connection remembers what it pushed and would skip
		// it in the next repository, so every tag gets a fresh one.
		err := pushTag(ctx, NewRegistry(creds, o.plainHTTP...), idx, tag, step)
		step.Done(err)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", reference.FamiliarString(tag), err)
		}
	}
	return nil
}

type noStep struct{}

func (noStep) Log(string, ...any) {}
func (noStep) Done(error)         {}

func pushTag(ctx context.Context, reg *Registry, idx *Index, tag reference.NamedTagged, step ProgressStep) error {
	// With the digest in the reference, the pusher stores manifests by
	// digest and only the root under the tag.
	p, err := reg.resolver.Pusher(ctx, tag.String()+"@"+idx.Desc.Digest.String())
	if err != nil {
		return err
	}
	c := &copier{pusher: p, target: tag, done: map[digest.Digest]bool{}}
	for _, m := range idx.manifests {
		if images.IsIndexType(m.desc.MediaType) || images.IsManifestType(m.desc.MediaType) {
			step.Log("copying %s from %s", m.desc.Digest, m.from.name)
		}
		if err := c.copyCandidate(ctx, m); err != nil {
			return err
		}
	}
	step.Log("pushing %s to %s", idx.Desc.Digest, reference.FamiliarString(tag))
	return putBytes(ctx, p, idx.Desc, idx.Raw)
}

// copier brings manifests, and the blobs they reference, into one
// repository.
type copier struct {
	pusher remotes.Pusher
	target reference.Named
	done   map[digest.Digest]bool
}

// copyCandidate copies one manifest of an index: as its source stores it,
// or as Assemble rewrote it.
func (c *copier) copyCandidate(ctx context.Context, m candidate) error {
	if m.raw == nil {
		return c.copy(ctx, m.desc, m.from)
	}
	if c.done[m.desc.Digest] {
		return nil
	}
	if err := c.copyChildren(ctx, m.desc, m.raw, m.from); err != nil {
		return err
	}
	if err := putBytes(ctx, c.pusher, m.desc, m.raw); err != nil {
		return fmt.Errorf("pushing manifest %s: %w", m.desc.Digest, err)
	}
	c.done[m.desc.Digest] = true
	return nil
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
		if err := c.copyChildren(ctx, desc, data, from); err != nil {
			return err
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

func (c *copier) copyChildren(ctx context.Context, desc ocispecs.Descriptor, data []byte, from *origin) error {
	children, err := childrenOf(desc, data)
	if err != nil {
		return err
	}
	for _, ch := range children {
		if err := c.copy(ctx, ch, from); err != nil {
			return err
		}
	}
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
