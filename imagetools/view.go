package imagetools

import (
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// View is what inspect's --format templates see, in the shapes buildx's
// imagetools inspect gives them, so a template written for buildx reads
// the same here. Image, Provenance and SBOM are one value for an image of
// one platform and maps keyed by platform for several. {{json .}} shows
// name, manifest and image, as buildx does; Platforms is xbuild's own.
type View struct {
	Name string `json:"name,omitempty"`
	// Manifest is the manifest's descriptor, or for an index the index
	// with its own digest and size.
	Manifest any `json:"manifest,omitempty"`
	// Image is the configuration: *ocispecs.Image, or
	// map[string]*ocispecs.Image.
	Image any `json:"image,omitempty"`
	// Provenance is Provenance, or map[string]*Provenance.
	Provenance any `json:"-"`
	// SBOM is SBOM, or map[string]*SBOM.
	SBOM any `json:"-"`
	// Platforms lists each platform's image with its attestation.
	Platforms []*Platform `json:"-"`
}

// indexView is an index as buildx's .Manifest shows it.
type indexView struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType,omitempty"`
	Digest        digest.Digest         `json:"digest"`
	Size          int64                 `json:"size"`
	Manifests     []ocispecs.Descriptor `json:"manifests"`
	Annotations   map[string]string     `json:"annotations,omitempty"`
}

// View returns what templates see of r; name is the image as the user
// wrote it.
func (r *Result) View(name string) View {
	v := View{Name: name, Manifest: r.Manifest, Platforms: r.Platforms}
	if r.Index != nil {
		v.Manifest = indexView{
			SchemaVersion: r.Index.SchemaVersion,
			MediaType:     r.Index.MediaType,
			Digest:        r.Manifest.Digest,
			Size:          r.Manifest.Size,
			Manifests:     r.Index.Manifests,
			Annotations:   r.Index.Annotations,
		}
	}
	if len(r.Platforms) > 1 {
		images := map[string]*ocispecs.Image{}
		for _, p := range r.Platforms {
			images[p.Platform] = &p.Config
		}
		v.Image, v.Provenance, v.SBOM = images, nonNil(r.Provenance), nonNil(r.SBOM)
		return v
	}
	// One platform (or none): the values themselves, empty when missing,
	// as buildx shows them.
	v.Provenance, v.SBOM = Provenance{}, SBOM{}
	for _, p := range r.Platforms {
		v.Image = &p.Config
		if prov := r.Provenance[p.Platform]; prov != nil {
			v.Provenance = *prov
		}
		if s := r.SBOM[p.Platform]; s != nil {
			v.SBOM = *s
		}
	}
	return v
}

// nonNil gives an empty map for none, which {{json}} shows as {} where
// buildx does.
func nonNil[T any](m map[string]*T) map[string]*T {
	if m == nil {
		return map[string]*T{}
	}
	return m
}
