package invariant

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Images is the part of an image store the checks read; containerd's
// images.Store is one.
type Images interface {
	Get(ctx context.Context, name string) (images.Image, error)
	List(ctx context.Context, filters ...string) ([]images.Image, error)
}

// Complete walks the image that name points at through desc, from its
// index or manifest down to every configuration and layer, and returns a
// violation of I1 for each blob that is missing, has another size than its
// descriptor says, or whose content does not match its digest. A blob that
// several manifests share is read once.
func Complete(ctx context.Context, p content.Provider, name string, desc ocispecs.Descriptor) []Violation {
	w := walker{p: p, name: name, seen: map[digest.Digest]bool{}}
	w.walk(ctx, desc)
	return w.out
}

// Store checks every image st names (I1). Use it only on a store no one
// else changes meanwhile: an image removed during the walk reads as
// incomplete.
func Store(ctx context.Context, st Images, p content.Provider) []Violation {
	imgs, err := st.List(ctx)
	if err != nil {
		return []Violation{violation(ImagesComplete, "listing images: %v", err)}
	}
	var out []Violation
	for _, img := range imgs {
		out = append(out, Complete(ctx, p, img.Name, img.Target)...)
	}
	return out
}

// Tag checks I2 for name, which pointed at old before something went
// wrong (empty when it did not exist): it still points at old, or at
// another image that is complete; it is never gone once it existed. It
// returns what name points at now, empty when nothing. A partial image is
// one violation of I2 here; Store reports its blobs under I1.
func Tag(ctx context.Context, st Images, p content.Provider, name string, old digest.Digest) (digest.Digest, []Violation) {
	img, err := st.Get(ctx, name)
	switch {
	case cerrdefs.IsNotFound(err) && old == "":
		return "", nil
	case cerrdefs.IsNotFound(err):
		return "", []Violation{violation(TagOldOrNew, "%s is gone; it pointed at %s", name, old)}
	case err != nil:
		return "", []Violation{violation(TagOldOrNew, "reading %s: %v", name, err)}
	}
	if missing := Complete(ctx, p, name, img.Target); len(missing) > 0 {
		return img.Target.Digest, []Violation{violation(TagOldOrNew, "%s points at %s, which is not complete (%s, and %d more)",
			name, img.Target.Digest, missing[0].Detail, len(missing)-1)}
	}
	return img.Target.Digest, nil
}

type walker struct {
	p    content.Provider
	name string
	seen map[digest.Digest]bool
	out  []Violation
}

func (w *walker) fail(desc ocispecs.Descriptor, format string, args ...any) {
	w.out = append(w.out, violation(ImagesComplete, "%s: %s %s: %s", w.name, desc.MediaType, desc.Digest, fmt.Sprintf(format, args...)))
}

func (w *walker) walk(ctx context.Context, desc ocispecs.Descriptor) {
	if w.seen[desc.Digest] {
		return
	}
	w.seen[desc.Digest] = true
	if err := desc.Digest.Validate(); err != nil {
		w.fail(desc, "invalid digest: %v", err)
		return
	}
	parent := images.IsIndexType(desc.MediaType) || images.IsManifestType(desc.MediaType)
	data, err := w.read(ctx, desc, parent)
	if err != nil {
		w.fail(desc, "%v", err)
		return
	}
	if !parent {
		return
	}
	children, err := childrenOf(desc.MediaType, data)
	if err != nil {
		w.fail(desc, "%v", err)
		return
	}
	for _, c := range children {
		w.walk(ctx, c)
	}
}

// read checks one blob against its descriptor, keeping its bytes when
// keep is set (indexes and manifests, which are small).
func (w *walker) read(ctx context.Context, desc ocispecs.Descriptor, keep bool) ([]byte, error) {
	ra, err := w.p.ReaderAt(ctx, desc)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("missing")
	}
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	defer ra.Close()
	if ra.Size() != desc.Size {
		return nil, fmt.Errorf("size %d, descriptor says %d", ra.Size(), desc.Size)
	}
	v := desc.Digest.Verifier()
	var kept bytes.Buffer
	dst := io.Writer(v)
	if keep {
		dst = io.MultiWriter(v, &kept)
	}
	if _, err := io.Copy(dst, content.NewReader(ra)); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if !v.Verified() {
		return nil, fmt.Errorf("content does not match its digest")
	}
	return kept.Bytes(), nil
}

// childrenOf reads an index's manifests or a manifest's configuration and
// layers (OCI and Docker media types have the same fields).
func childrenOf(mediaType string, data []byte) ([]ocispecs.Descriptor, error) {
	if images.IsIndexType(mediaType) {
		var idx ocispecs.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("decoding index: %w", err)
		}
		return idx.Manifests, nil
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	return append([]ocispecs.Descriptor{m.Config}, m.Layers...), nil
}
