package imagetools

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker/buildx/util/buildflags"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParseSource reads one source of create as buildx takes it: an image
// name (by tag or digest), a bare digest, or an OCI descriptor in JSON.
// The Input it returns has no Source yet; for a digest or a descriptor its
// Ref is empty until PlaceSources names the repository that holds it.
func ParseSource(s string) (Input, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		d, err := parseDescriptor(s)
		if err != nil {
			return Input{}, fmt.Errorf("invalid descriptor: %w", err)
		}
		return Input{Desc: &d}, nil
	}
	dgst, err := digest.Parse(s)
	if err == nil {
		return Input{Desc: &ocispecs.Descriptor{Digest: dgst}}, nil
	}
	if strings.HasPrefix(s, "sha256") || strings.HasPrefix(s, "sha512") {
		return Input{}, fmt.Errorf("invalid digest %q: %w", s, err)
	}
	if _, err := normalize(s); err != nil {
		return Input{}, err
	}
	return Input{Ref: s}, nil
}

func parseDescriptor(s string) (ocispecs.Descriptor, error) {
	var d struct {
		// A manifest or an index has a schema version, a descriptor none:
		// the field tells a file holding one from a file holding the other.
		SchemaVersion int `json:"schemaVersion"`
		ocispecs.Descriptor
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&d); err != nil {
		return ocispecs.Descriptor{}, err
	}
	if dec.More() {
		return ocispecs.Descriptor{}, errors.New("more than one JSON value")
	}
	switch {
	case d.SchemaVersion != 0:
		return ocispecs.Descriptor{}, fmt.Errorf("this is a manifest or an index (schemaVersion %d), not a descriptor of one", d.SchemaVersion)
	case d.Digest == "":
		return ocispecs.Descriptor{}, errors.New("no digest")
	case d.Size < 0:
		return ocispecs.Descriptor{}, fmt.Errorf("negative size %d", d.Size)
	}
	if err := d.Digest.Validate(); err != nil {
		return ocispecs.Descriptor{}, fmt.Errorf("digest %q: %w", d.Digest, err)
	}
	return d.Descriptor, nil
}

// PlaceSources gives every input named only by a digest or a descriptor
// the repository that holds it. As in buildx, that is the one repository
// the tags and the named sources share; with none, or several, an input
// has no repository and PlaceSources fails.
func PlaceSources(inputs []Input, tags []reference.NamedTagged) error {
	var repos []string
	add := func(r string) {
		if !slices.Contains(repos, r) {
			repos = append(repos, r)
		}
	}
	// The first named source is the preferred home, then the first tag.
	for _, in := range inputs {
		if in.Ref != "" {
			named, err := reference.ParseNormalizedNamed(in.Ref)
			if err != nil {
				return fmt.Errorf("invalid image name %q: %w", in.Ref, err)
			}
			add(named.Name())
		}
	}
	for _, t := range tags {
		add(t.Name())
	}
	for i, in := range inputs {
		if in.Ref != "" {
			continue
		}
		switch {
		case len(repos) == 0:
			return fmt.Errorf("no repository holds source %s: name one with -t/--tag or a source image", in.Desc.Digest)
		case len(repos) > 1:
			return fmt.Errorf("cannot tell which repository holds source %s: the tags and sources name several (%s)", in.Desc.Digest, strings.Join(repos, ", "))
		}
		inputs[i].Ref = repos[0] + "@" + in.Desc.Digest.String()
	}
	return nil
}

// ParsePlatforms reads -p/--platform values, each one platform or a comma
// list.
func ParsePlatforms(values []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			p, err := platforms.Parse(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("invalid platform %q: %w", s, err)
			}
			out = append(out, platforms.Normalize(p))
		}
	}
	return out, nil
}

// PlatformAnnotation is an annotation for the manifests, or their
// descriptors, of one platform, or of every one when Platform is nil.
type PlatformAnnotation struct {
	Platform   *ocispecs.Platform
	Key, Value string
}

// Annotations are create's --annotation values, sorted by where they go.
type Annotations struct {
	// Index is set on the index.
	Index map[string]string
	// Manifest is set on the image manifests themselves.
	Manifest []PlatformAnnotation
	// ManifestDescriptor is set on the descriptors of the index.
	ManifestDescriptor []PlatformAnnotation
}

// ParseAnnotations reads --annotation values, TYPE[PLATFORM]:KEY=VALUE
// with TYPE one of index, manifest and manifest-descriptor (or several,
// comma-separated), or KEY=VALUE for the index. The syntax is buildx's own
// parser's, so a value means here what it means to buildx.
//
// index-descriptor is refused: an index pushed under a tag has no
// descriptor to carry it, as buildx also says.
func ParseAnnotations(values []string) (Annotations, error) {
	parsed, err := buildflags.ParseAnnotations(values)
	if err != nil {
		return Annotations{}, fmt.Errorf("invalid --annotation: %w", err)
	}
	var a Annotations
	for k, v := range parsed {
		switch {
		case k.Key == "":
			return Annotations{}, errors.New("invalid --annotation: empty key")
		case k.Type == exptypes.AnnotationIndexDescriptor:
			return Annotations{}, fmt.Errorf("invalid --annotation for %s: an index pushed under a tag has no descriptor to annotate; use index: instead", k.Key)
		case k.Type == exptypes.AnnotationManifest:
			a.Manifest = append(a.Manifest, PlatformAnnotation{Platform: normalized(k.Platform), Key: k.Key, Value: v})
		case k.Type == exptypes.AnnotationManifestDescriptor:
			a.ManifestDescriptor = append(a.ManifestDescriptor, PlatformAnnotation{Platform: normalized(k.Platform), Key: k.Key, Value: v})
		case k.Platform != nil:
			return Annotations{}, fmt.Errorf("invalid --annotation for %s: a platform applies to manifest annotations, not to the index", k.Key)
		default:
			if a.Index == nil {
				a.Index = map[string]string{}
			}
			a.Index[k.Key] = v
		}
	}
	sortAnnotations(a.Manifest)
	sortAnnotations(a.ManifestDescriptor)
	return a, nil
}

func normalized(p *ocispecs.Platform) *ocispecs.Platform {
	if p == nil {
		return nil
	}
	n := platforms.Normalize(*p)
	return &n
}

// sortAnnotations puts annotations for every platform before those for
// one, so the more specific value wins whatever order the flags came in.
func sortAnnotations(as []PlatformAnnotation) {
	sort.Slice(as, func(i, j int) bool {
		if (as[i].Platform == nil) != (as[j].Platform == nil) {
			return as[i].Platform == nil
		}
		if as[i].Platform != nil && !samePlatform(*as[i].Platform, *as[j].Platform) {
			return platforms.Format(*as[i].Platform) < platforms.Format(*as[j].Platform)
		}
		return as[i].Key < as[j].Key
	})
}

// samePlatform compares two platforms as written, normalized: linux/arm64
// and linux/arm64/v8 are one.
func samePlatform(a, b ocispecs.Platform) bool {
	return platforms.Format(platforms.Normalize(a)) == platforms.Format(platforms.Normalize(b))
}

// applies says whether a is for an image of platform p.
func (a PlatformAnnotation) applies(p *ocispecs.Platform) bool {
	return a.Platform == nil || (p != nil && samePlatform(*a.Platform, *p))
}
