package history

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	controlapi "github.com/moby/buildkit/api/services/control"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Attachment is a blob a record holds: an attestation, or an index,
// manifest or image config of a result.
type Attachment struct {
	// Platform is the result's platform; nil for a build without one.
	Platform   *ocispecs.Platform
	Descriptor ocispecs.Descriptor
}

// Type is what an attachment is: an attestation's predicate type, else
// its media type.
func (a Attachment) Type() string {
	if t, ok := a.Descriptor.Annotations["in-toto.io/predicate-type"]; ok {
		return t
	}
	return a.Descriptor.MediaType
}

// PlatformString is the attachment's platform as buildx prints it; empty
// for none.
func (a Attachment) PlatformString() string {
	if a.Platform == nil {
		return ""
	}
	return platforms.FormatAll(*a.Platform)
}

// Attachments lists rec's attachments, those without a platform first,
// then by platform and type. Results are walked down to their manifests
// and configs, as far as the node still holds them.
func Attachments(ctx context.Context, rec *Record) ([]Attachment, error) {
	store := rec.Node.Store()
	var out []Attachment
	if rec.Result != nil {
		out = append(out, resultAttachments(ctx, store, rec.Result, nil)...)
	}
	for key, res := range rec.Results {
		p, err := platforms.Parse(key)
		if err != nil {
			return nil, fmt.Errorf("reading the platform %q of build %s: %w", key, rec.Ref, err)
		}
		out = append(out, resultAttachments(ctx, store, res, &p)...)
	}
	slices.SortStableFunc(out, func(a, b Attachment) int {
		if (a.Platform == nil) != (b.Platform == nil) {
			if a.Platform == nil {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.PlatformString(), b.PlatformString()), cmp.Compare(a.Type(), b.Type()))
	})
	return out, nil
}

func resultAttachments(ctx context.Context, store content.Store, res *controlapi.BuildResultInfo, p *ocispecs.Platform) []Attachment {
	var out []Attachment
	for _, a := range res.Attestations {
		out = append(out, Attachment{Platform: p, Descriptor: Descriptor(a)})
	}
	for _, r := range res.Results {
		out = append(out, walk(ctx, store, Descriptor(r), p)...)
	}
	return out
}

// walk lists desc and, for an index, its children, leaving out attestation
// manifests (their content is listed as attestations already). A blob the
// node no longer has ends the walk there without error: results outlive
// nothing but the record.
func walk(ctx context.Context, store content.Store, desc ocispecs.Descriptor, p *ocispecs.Platform) []Attachment {
	if _, err := store.Info(ctx, desc.Digest); err != nil {
		return nil
	}
	var out []Attachment
	if desc.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
		out = append(out, Attachment{Platform: p, Descriptor: desc})
	}
	if desc.MediaType != ocispecs.MediaTypeImageIndex && desc.MediaType != images.MediaTypeDockerSchema2ManifestList {
		return out
	}
	dt, err := content.ReadBlob(ctx, store, desc)
	if err != nil {
		return out
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return out
	}
	for _, d := range idx.Manifests {
		cp := p
		if d.Platform != nil {
			cp = d.Platform
		}
		out = append(out, walk(ctx, store, d, cp)...)
	}
	return out
}

// Descriptor converts a record's descriptor to an OCI one.
func Descriptor(d *controlapi.Descriptor) ocispecs.Descriptor {
	return ocispecs.Descriptor{MediaType: d.MediaType, Digest: digest.Digest(d.Digest), Size: d.Size, Annotations: d.Annotations}
}

// ReadBlob reads one of rec's blobs whole; only the descriptor's digest
// matters, the node's store knows the size.
func ReadBlob(ctx context.Context, rec *Record, desc ocispecs.Descriptor) ([]byte, error) {
	dt, err := content.ReadBlob(ctx, rec.Node.Store(), desc)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s of build %s: %w", desc.Digest, rec.Ref, err)
	}
	return dt, nil
}

// WriteBlob copies one of rec's blobs to w as it is stored.
func WriteBlob(ctx context.Context, rec *Record, dgst digest.Digest, w io.Writer) error {
	ra, err := rec.Node.Store().ReaderAt(ctx, ocispecs.Descriptor{Digest: dgst})
	if err != nil {
		return fmt.Errorf("reading blob %s of build %s: %w", dgst, rec.Ref, err)
	}
	defer ra.Close()
	if _, err := io.Copy(w, io.NewSectionReader(ra, 0, ra.Size())); err != nil {
		return fmt.Errorf("reading blob %s of build %s: %w", dgst, rec.Ref, err)
	}
	return nil
}
