// Package imagetools reads images as they are stored, in a registry or in
// an engine's containerd store: the index, each platform's manifest and
// configuration, and the attestations BuildKit attached (provenance, SBOM),
// matched to the platform manifest they describe rather than shown as
// platforms of their own, and shown to templates in buildx's shapes. It
// also assembles a new index from images in registries (some platforms
// only, annotated, or a single source kept as it is stored) and pushes it,
// attestations kept with their images.
package imagetools
