package imagetools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry is a Source over blobs held in memory.
type fakeRegistry struct {
	refs  map[string]ocispecs.Descriptor
	blobs map[digest.Digest][]byte
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{refs: map[string]ocispecs.Descriptor{}, blobs: map[digest.Digest][]byte{}}
}

func (f *fakeRegistry) Resolve(_ context.Context, ref string) (string, ocispecs.Descriptor, error) {
	d, ok := f.refs[ref]
	if !ok {
		return "", ocispecs.Descriptor{}, fmt.Errorf("%s: %w", ref, cerrdefs.ErrNotFound)
	}
	return "registry.test/" + ref, d, nil
}

func (f *fakeRegistry) Fetch(_ context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	b, ok := f.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, cerrdefs.ErrNotFound)
	}
	return b, nil
}

var _ Source = (*fakeRegistry)(nil)

func (f *fakeRegistry) put(mediaType string, v any) ocispecs.Descriptor {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	d := ocispecs.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	f.blobs[d.Digest] = data
	return d
}

// image stores a single-platform image; its descriptor carries no
// platform, as a registry's resolver returns it. nonce tells apart two
// images of a platform.
func (f *fakeRegistry) image(platform, nonce string) ocispecs.Descriptor {
	cfg := ocispecs.Image{Platform: platforms.MustParse(platform), Author: nonce}
	return f.put(ocispecs.MediaTypeImageManifest, ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    f.put(ocispecs.MediaTypeImageConfig, cfg),
	})
}

func (f *fakeRegistry) attestation(subject ocispecs.Descriptor) ocispecs.Descriptor {
	d := f.put(ocispecs.MediaTypeImageManifest, ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    f.put(ocispecs.MediaTypeImageConfig, map[string]string{"for": subject.Digest.String()}),
	})
	d.Platform = &ocispecs.Platform{OS: "unknown", Architecture: "unknown"}
	d.Annotations = map[string]string{refTypeAnnotation: attestationManifest, refDigestAnnotation: subject.Digest.String()}
	return d
}

func (f *fakeRegistry) index(manifests ...ocispecs.Descriptor) ocispecs.Descriptor {
	return f.put(ocispecs.MediaTypeImageIndex, ocispecs.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageIndex,
		Manifests: manifests,
	})
}

func onPlatform(d ocispecs.Descriptor, platform string) ocispecs.Descriptor {
	p := platforms.MustParse(platform)
	d.Platform = &p
	return d
}

func TestImagetoolsCreateAssemble(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry()
	amd64 := onPlatform(reg.image("linux/amd64", "a"), "linux/amd64")
	arm64 := onPlatform(reg.image("linux/arm64", "b"), "linux/arm64")
	amd64Other := onPlatform(reg.image("linux/amd64", "c"), "linux/amd64")
	armv7 := reg.image("linux/arm/v7", "d")
	attAMD, attARM := reg.attestation(amd64), reg.attestation(arm64)
	reg.refs["a:idx"] = reg.index(amd64, attAMD)
	reg.refs["b:idx"] = reg.index(arm64, attARM)
	reg.refs["both:idx"] = reg.index(amd64, arm64, attAMD, attARM)
	reg.refs["dangling:idx"] = reg.index(arm64, attAMD)
	reg.refs["twice:idx"] = reg.index(amd64, amd64Other)
	reg.refs["a:single"] = reg.image("linux/amd64", "a")
	reg.refs["c:single"] = reg.image("linux/amd64", "c")
	reg.refs["d:single"] = armv7
	names := map[digest.Digest]string{
		amd64.Digest: "amd64", arm64.Digest: "arm64", amd64Other.Digest: "amd64-other", armv7.Digest: "armv7",
		attAMD.Digest: "att-amd64", attARM.Digest: "att-arm64",
	}

	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr []string
	}{
		{name: "attestations stay with their images", in: []string{"a:idx", "b:idx"}, want: []string{"amd64", "arm64", "att-amd64", "att-arm64"}},
		{name: "attestation without its image dropped", in: []string{"dangling:idx"}, want: []string{"arm64"}},
		{name: "attestation kept when another source holds its image", in: []string{"dangling:idx", "a:idx"}, want: []string{"arm64", "amd64", "att-amd64"}},
		{name: "duplicates appear once", in: []string{"a:idx", "both:idx", "b:idx"}, want: []string{"amd64", "arm64", "att-amd64", "att-arm64"}},
		{name: "single manifest and the index holding it", in: []string{"a:single", "a:idx"}, want: []string{"amd64", "att-amd64"}},
		{name: "single manifests", in: []string{"a:single", "d:single"}, want: []string{"amd64", "armv7"}},
		{name: "one index with two images for a platform", in: []string{"twice:idx"}, want: []string{"amd64", "amd64-other"}},
		{name: "two sources with images for one platform", in: []string{"a:idx", "c:single"}, wantErr: []string{`"a:idx"`, `"c:single"`, "linux/amd64"}},
		{name: "missing source", in: []string{"a:idx", "nope:1"}, wantErr: []string{`reading source "nope:1": image not found`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var inputs []Input
			for _, ref := range tc.in {
				inputs = append(inputs, Input{Ref: ref, Source: reg})
			}
			idx, err := Assemble(context.Background(), inputs, AssembleOptions{})
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Assemble(%v) = %s, want an error", tc.in, idx.Raw)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Assemble(%v) error = %q, want it to contain %q", tc.in, err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Assemble(%v): %v", tc.in, err)
			}
			var got ocispecs.Index
			if err := json.Unmarshal(idx.Raw, &got); err != nil {
				t.Fatal(err)
			}
			var gotNames []string
			for _, m := range got.Manifests {
				gotNames = append(gotNames, names[m.Digest])
				if m.Platform == nil {
					t.Errorf("Assemble(%v): %s has no platform", tc.in, names[m.Digest])
				}
			}
			if !slices.Equal(gotNames, tc.want) {
				t.Errorf("Assemble(%v) = %v, want %v", tc.in, gotNames, tc.want)
			}
		})
	}
}

func TestImagetoolsCreateMissingSource(t *testing.T) {
	t.Parallel()
	_, err := Assemble(context.Background(), []Input{{Ref: "nope:1", Source: newFakeRegistry()}}, AssembleOptions{})
	if !errors.Is(err, ErrNotFound) || !cerrdefs.IsNotFound(err) {
		t.Errorf("Assemble(nope:1) error = %v, want ErrNotFound", err)
	}
}

// A single manifest's platform comes from its configuration, variant
// included; the index is OCI, annotated, and Desc describes Raw.
func TestImagetoolsCreateIndex(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry()
	reg.refs["d:single"] = reg.image("linux/arm/v7", "d")
	ann := map[string]string{"org.opencontainers.image.source": "https://example.test/repo"}
	idx, err := Assemble(context.Background(), []Input{{Ref: "d:single", Source: reg}}, AssembleOptions{Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	if idx.Desc.Digest != digest.FromBytes(idx.Raw) || idx.Desc.Size != int64(len(idx.Raw)) || idx.Desc.MediaType != ocispecs.MediaTypeImageIndex {
		t.Errorf("Assemble().Desc = %+v, does not describe Raw", idx.Desc)
	}
	var got ocispecs.Index
	if err := json.Unmarshal(idx.Raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.MediaType != ocispecs.MediaTypeImageIndex || got.SchemaVersion != 2 {
		t.Errorf("Assemble() index media type %q, schema %d", got.MediaType, got.SchemaVersion)
	}
	if got.Annotations["org.opencontainers.image.source"] != "https://example.test/repo" {
		t.Errorf("Assemble() annotations = %v, want %v", got.Annotations, ann)
	}
	if len(got.Manifests) != 1 || got.Manifests[0].Platform == nil || platforms.FormatAll(*got.Manifests[0].Platform) != "linux/arm/v7" {
		t.Errorf("Assemble() manifests = %+v, want one linux/arm/v7", got.Manifests)
	}
}

func TestImagetoolsCreateParseTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "127.0.0.1:5000/app:1", want: "127.0.0.1:5000/app:1"},
		{in: "app", want: "docker.io/library/app:latest"},
		{in: "localhost:5000/team/app", want: "localhost:5000/team/app:latest"},
		{in: "App:1", wantErr: true},
		{in: "app@sha256:" + strings.Repeat("a", 64), wantErr: true},
		{in: "app:1@sha256:" + strings.Repeat("a", 64), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTag(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseTag(%q) = %s, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Errorf("ParseTag(%q) = %v, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
}
