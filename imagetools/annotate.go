package imagetools

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// annotateManifests sets the manifest annotations on the image manifests
// they apply to. An annotated manifest is a new manifest, with a new
// digest, over the same configuration and layers; the attestation of the
// image is kept and pointed at the new digest by its descriptor. The
// attestation's own statement still names the digest it was made for,
// since rewriting it would break whatever signed it.
func annotateManifests(ctx context.Context, kept []candidate, anns []PlatformAnnotation) ([]candidate, error) {
	if len(anns) == 0 {
		return kept, nil
	}
	moved := map[string]digest.Digest{}
	for i, c := range kept {
		if isAttestation(c.desc) {
			continue
		}
		set := applicable(anns, c.desc.Platform)
		if len(set) == 0 {
			continue
		}
		nc, err := annotateManifest(ctx, c, set)
		if err != nil {
			return nil, err
		}
		moved[c.desc.Digest.String()] = nc.desc.Digest
		kept[i] = nc
	}
	for i, c := range kept {
		to, ok := moved[attestationSubject(c.desc)]
		if !isAttestation(c.desc) || !ok {
			continue
		}
		c.desc.Annotations = maps.Clone(c.desc.Annotations)
		for _, k := range subjectAnnotations {
			if _, ok := c.desc.Annotations[k]; ok {
				c.desc.Annotations[k] = to.String()
			}
		}
		kept[i] = c
	}
	return kept, nil
}

// annotateManifest returns c's manifest with set added to its annotations.
func annotateManifest(ctx context.Context, c candidate, set map[string]string) (candidate, error) {
	if c.desc.MediaType != ocispecs.MediaTypeImageManifest {
		return candidate{}, fmt.Errorf("annotating manifest %s of source %q: it is a %s, and only OCI image manifests carry annotations", c.desc.Digest, c.from.ref, c.desc.MediaType)
	}
	data, err := c.from.src.Fetch(ctx, c.desc)
	if err != nil {
		return candidate{}, fmt.Errorf("reading manifest %s of source %q: %w", c.desc.Digest, c.from.ref, err)
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return candidate{}, fmt.Errorf("reading manifest %s of source %q: %w", c.desc.Digest, c.from.ref, err)
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	maps.Copy(m.Annotations, set)
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return candidate{}, fmt.Errorf("encoding manifest %s: %w", c.desc.Digest, err)
	}
	c.desc.Digest = digest.FromBytes(raw)
	c.desc.Size = int64(len(raw))
	c.raw = raw
	return c, nil
}

// annotateDescriptors sets the descriptor annotations on the descriptors
// of the index they apply to: those without a platform on every one,
// attestations included, as buildx does.
func annotateDescriptors(kept []candidate, anns []PlatformAnnotation) {
	for i, c := range kept {
		set := applicable(anns, c.desc.Platform)
		if len(set) == 0 {
			continue
		}
		kept[i].desc.Annotations = maps.Clone(c.desc.Annotations)
		if kept[i].desc.Annotations == nil {
			kept[i].desc.Annotations = map[string]string{}
		}
		maps.Copy(kept[i].desc.Annotations, set)
	}
}

// applicable returns the annotations for an image of platform p; anns are
// sorted so a platform's own value overrides one for every platform.
func applicable(anns []PlatformAnnotation, p *ocispecs.Platform) map[string]string {
	set := map[string]string{}
	for _, a := range anns {
		if a.applies(p) {
			set[a.Key] = a.Value
		}
	}
	return set
}
