package imagetools

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// assembleFixture is a registry holding a two-platform index with its
// attestations, as BuildKit pushes one.
type assembleFixture struct {
	reg                          *fakeRegistry
	amd64, arm64, attAMD, attARM ocispecs.Descriptor
	names                        map[digest.Digest]string
}

func newAssembleFixture() *assembleFixture {
	reg := newFakeRegistry()
	f := &assembleFixture{reg: reg}
	f.amd64 = onPlatform(reg.image("linux/amd64", "a"), "linux/amd64")
	f.arm64 = onPlatform(reg.image("linux/arm64", "b"), "linux/arm64")
	f.attAMD, f.attARM = reg.attestation(f.amd64), reg.attestation(f.arm64)
	both := reg.put(ocispecs.MediaTypeImageIndex, ocispecs.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispecs.MediaTypeImageIndex,
		Manifests:   []ocispecs.Descriptor{f.amd64, f.arm64, f.attAMD, f.attARM},
		Annotations: map[string]string{"org.opencontainers.image.title": "both"},
	})
	reg.refs["both:idx"] = both
	reg.refs["a:single"] = reg.image("linux/amd64", "a")
	reg.refs["b:single"] = reg.image("linux/arm64", "b")
	f.names = map[digest.Digest]string{f.amd64.Digest: "amd64", f.arm64.Digest: "arm64", f.attAMD.Digest: "att-amd64", f.attARM.Digest: "att-arm64"}
	return f
}

func (f *assembleFixture) inputs(refs ...string) []Input {
	var in []Input
	for _, r := range refs {
		in = append(in, Input{Ref: r, Source: f.reg})
	}
	return in
}

// listed names the manifests of an assembled index.
func (f *assembleFixture) listed(t *testing.T, idx *Index) ([]string, ocispecs.Index) {
	t.Helper()
	var got ocispecs.Index
	if err := json.Unmarshal(idx.Raw, &got); err != nil {
		t.Fatalf("the index does not parse: %v\n%s", err, idx.Raw)
	}
	var names []string
	for _, m := range got.Manifests {
		n, ok := f.names[m.Digest]
		if !ok {
			n = "new"
		}
		names = append(names, n)
	}
	return names, got
}

func mustPlatforms(ps ...string) []ocispecs.Platform {
	var out []ocispecs.Platform
	for _, p := range ps {
		out = append(out, platforms.MustParse(p))
	}
	return out
}

func TestImagetoolsAssemblePlatforms(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	tests := []struct {
		name    string
		in      []string
		opts    AssembleOptions
		want    []string
		wantErr string
	}{
		{name: "one platform with its attestation", in: []string{"both:idx"}, opts: AssembleOptions{Platforms: mustPlatforms("linux/arm64")}, want: []string{"arm64", "att-arm64"}},
		{name: "arm64/v8 is arm64", in: []string{"both:idx"}, opts: AssembleOptions{Platforms: mustPlatforms("linux/arm64/v8")}, want: []string{"arm64", "att-arm64"}},
		{name: "of single manifests", in: []string{"a:single", "b:single"}, opts: AssembleOptions{Platforms: mustPlatforms("linux/amd64")}, want: []string{"amd64"}},
		{name: "filter avoids a conflict", in: []string{"both:idx", "a:single"}, opts: AssembleOptions{Platforms: mustPlatforms("linux/arm64")}, want: []string{"arm64", "att-arm64"}},
		{name: "copied index filtered in order", in: []string{"both:idx"}, opts: AssembleOptions{Single: SingleCopyIndex, Platforms: mustPlatforms("linux/amd64")}, want: []string{"amd64", "att-amd64"}},
		{name: "no platform matches", in: []string{"both:idx"}, opts: AssembleOptions{Platforms: mustPlatforms("linux/s390x")}, wantErr: "no image of the sources is for linux/s390x"},
		{name: "copied index, no platform matches", in: []string{"both:idx"}, opts: AssembleOptions{Single: SingleCopyIndex, Platforms: mustPlatforms("linux/s390x")}, wantErr: "no image of the sources is for linux/s390x"},
		{name: "copied manifest of another platform", in: []string{"a:single"}, opts: AssembleOptions{Single: SingleCopy, Platforms: mustPlatforms("linux/arm64")}, wantErr: `source "a:single" is a linux/amd64 image, not one for linux/arm64`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idx, err := Assemble(context.Background(), f.inputs(tc.in...), tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Assemble(%v) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Assemble(%v): %v", tc.in, err)
			}
			if got, _ := f.listed(t, idx); !slices.Equal(got, tc.want) {
				t.Errorf("Assemble(%v) = %v, want %v", tc.in, got, tc.want)
			}
			if idx.Desc.Digest != digest.FromBytes(idx.Raw) {
				t.Errorf("Assemble(%v).Desc = %s, does not describe Raw", tc.in, idx.Desc.Digest)
			}
		})
	}
}

// A single source with nothing to add is pushed as it is stored, as
// buildx's create does: an index always, a manifest with SingleCopy.
func TestImagetoolsAssembleSingle(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	ctx := context.Background()
	stored := f.reg.blobs[f.reg.refs["both:idx"].Digest]

	idx, err := Assemble(ctx, f.inputs("both:idx"), AssembleOptions{Single: SingleCopyIndex})
	if err != nil || !bytes.Equal(idx.Raw, stored) || idx.Desc.Digest != f.reg.refs["both:idx"].Digest {
		t.Errorf("Assemble(both:idx, SingleCopyIndex) = %v, want the stored index", err)
	}
	idx, err = Assemble(ctx, f.inputs("both:idx"), AssembleOptions{Single: SingleCopyIndex, Platforms: mustPlatforms("linux/arm64")})
	if err != nil {
		t.Fatal(err)
	}
	if _, got := f.listed(t, idx); got.Annotations["org.opencontainers.image.title"] != "both" {
		t.Errorf("a filtered copy lost the index annotations: %s", idx.Raw)
	}
	idx, err = Assemble(ctx, f.inputs("both:idx"), AssembleOptions{Single: SingleCopyIndex, Annotations: map[string]string{"k": "v"}})
	if err != nil || bytes.Equal(idx.Raw, stored) {
		t.Errorf("Assemble(both:idx) with an annotation = %v, want a new index", err)
	}

	single := f.reg.refs["a:single"]
	idx, err = Assemble(ctx, f.inputs("a:single"), AssembleOptions{Single: SingleCopyIndex})
	if err != nil || idx.Desc.MediaType != ocispecs.MediaTypeImageIndex {
		t.Errorf("Assemble(a:single, SingleCopyIndex) = %+v, %v, want an index", idx, err)
	}
	idx, err = Assemble(ctx, f.inputs("a:single"), AssembleOptions{Single: SingleCopy})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idx.Raw, f.reg.blobs[single.Digest]) || idx.Desc.Digest != single.Digest || idx.Desc.Platform == nil || idx.Desc.Platform.Architecture != "amd64" {
		t.Errorf("Assemble(a:single, SingleCopy) = %+v, want the manifest itself, with its platform", idx.Desc)
	}
	if len(idx.manifests) != 1 || idx.manifests[0].desc.MediaType != ocispecs.MediaTypeImageConfig {
		t.Errorf("Assemble(a:single, SingleCopy) copies %+v, want its configuration", idx.manifests)
	}
}

func TestImagetoolsAssembleManifestAnnotations(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	arm64 := platforms.MustParse("linux/arm64")
	idx, err := Assemble(context.Background(), f.inputs("both:idx"), AssembleOptions{
		ManifestAnnotations: []PlatformAnnotation{{Key: "all", Value: "1"}, {Platform: &arm64, Key: "arm", Value: "2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	names, got := f.listed(t, idx)
	if want := []string{"new", "new", "att-amd64", "att-arm64"}; !slices.Equal(names, want) {
		t.Fatalf("Assemble() = %v, want %v: both images rewritten, their attestations as they were", names, want)
	}
	want := map[string]map[string]string{"linux/amd64": {"all": "1"}, "linux/arm64": {"all": "1", "arm": "2"}}
	for i, m := range got.Manifests[:2] {
		c := idx.manifests[i]
		var mf ocispecs.Manifest
		if c.desc.Digest != m.Digest || digest.FromBytes(c.raw) != m.Digest || json.Unmarshal(c.raw, &mf) != nil {
			t.Fatalf("manifest %d: the index lists %s, Push would store %s", i, m.Digest, digest.FromBytes(c.raw))
		}
		p := platforms.Format(*m.Platform)
		if !mapsEqual(mf.Annotations, want[p]) {
			t.Errorf("%s manifest annotations = %v, want %v", p, mf.Annotations, want[p])
		}
		att := got.Manifests[i+2]
		if att.Annotations[refDigestAnnotation] != m.Digest.String() {
			t.Errorf("the %s attestation points at %s, want the rewritten %s", p, att.Annotations[refDigestAnnotation], m.Digest)
		}
	}
	if f.attAMD.Annotations[refDigestAnnotation] != f.amd64.Digest.String() {
		t.Errorf("Assemble changed the source's descriptors")
	}
}

func TestImagetoolsAssembleDockerManifestAnnotation(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry()
	d := reg.put(images.MediaTypeDockerSchema2Manifest, ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: images.MediaTypeDockerSchema2Manifest,
		Config:    reg.put(images.MediaTypeDockerSchema2Config, ocispecs.Image{Platform: platforms.MustParse("linux/amd64")}),
	})
	reg.refs["docker:1"] = d
	_, err := Assemble(context.Background(), []Input{{Ref: "docker:1", Source: reg}}, AssembleOptions{ManifestAnnotations: []PlatformAnnotation{{Key: "k", Value: "v"}}})
	if err == nil || !strings.Contains(err.Error(), "only OCI image manifests carry annotations") {
		t.Errorf("Assemble() of a Docker manifest with a manifest annotation = %v, want a refusal", err)
	}
}

func TestImagetoolsAssembleDescriptorAnnotations(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	amd64 := platforms.MustParse("linux/amd64")
	idx, err := Assemble(context.Background(), f.inputs("both:idx"), AssembleOptions{
		DescriptorAnnotations: []PlatformAnnotation{{Key: "all", Value: "1"}, {Platform: &amd64, Key: "amd", Value: "2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	names, got := f.listed(t, idx)
	if !slices.Equal(names, []string{"amd64", "arm64", "att-amd64", "att-arm64"}) {
		t.Fatalf("Assemble() = %v, want the same manifests", names)
	}
	for _, m := range got.Manifests {
		want := "1"
		if m.Annotations["all"] != want {
			t.Errorf("%s annotations = %v, want all=1", f.names[m.Digest], m.Annotations)
		}
		if _, ok := m.Annotations["amd"]; ok != (m.Digest == f.amd64.Digest) {
			t.Errorf("%s annotations = %v: amd=2 belongs to the linux/amd64 image only", f.names[m.Digest], m.Annotations)
		}
	}
	if _, ok := f.amd64.Annotations["all"]; ok {
		t.Errorf("Assemble changed the source's descriptors")
	}
}

// A descriptor the user wrote (a -f file) replaces the registry's media
// type, platform and annotations; its size must agree.
func TestImagetoolsAssembleDescriptor(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	single := f.reg.refs["a:single"]
	ref := "a@" + single.Digest.String()
	f.reg.refs[ref] = single
	given := func(d ocispecs.Descriptor) []Input { return []Input{{Ref: ref, Source: f.reg, Desc: &d}} }
	plat := &ocispecs.Platform{OS: "linux", Architecture: "amd64", OSVersion: "10.1"}

	idx, err := Assemble(context.Background(), given(ocispecs.Descriptor{Digest: single.Digest, Platform: plat, Annotations: map[string]string{"k": "v"}}), AssembleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, got := f.listed(t, idx)
	if m := got.Manifests[0]; m.Platform.OSVersion != "10.1" || m.Annotations["k"] != "v" || m.Digest != single.Digest {
		t.Errorf("Assemble() listed %+v, want the descriptor's platform and annotations", m)
	}
	idx, err = Assemble(context.Background(), given(ocispecs.Descriptor{Digest: single.Digest, Platform: &ocispecs.Platform{OSVersion: "10.1"}}), AssembleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, got := f.listed(t, idx); platforms.Format(*got.Manifests[0].Platform) != "linux/amd64" || got.Manifests[0].Platform.OSVersion != "10.1" {
		t.Errorf("a descriptor without OS and architecture: %+v, want them from the configuration", got.Manifests[0].Platform)
	}
	for _, bad := range []struct {
		d    ocispecs.Descriptor
		want string
	}{
		{ocispecs.Descriptor{Digest: single.Digest, Size: single.Size + 1}, "the registry holds"},
		{ocispecs.Descriptor{Digest: single.Digest, MediaType: ocispecs.MediaTypeImageIndex}, "the registry holds a application/vnd.oci.image.manifest.v1+json"},
	} {
		if _, err := Assemble(context.Background(), given(bad.d), AssembleOptions{}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Assemble(%+v) error = %v, want %q", bad.d, err, bad.want)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakePusher records what a copier pushes, in order.
type fakePusher struct {
	pushed []digest.Digest
	blobs  map[digest.Digest][]byte
}

func (p *fakePusher) Push(_ context.Context, d ocispecs.Descriptor) (content.Writer, error) {
	if _, ok := p.blobs[d.Digest]; ok {
		return nil, cerrdefs.ErrAlreadyExists
	}
	return &fakeWriter{p: p, d: d}, nil
}

type fakeWriter struct {
	p   *fakePusher
	d   ocispecs.Descriptor
	buf bytes.Buffer
}

func (w *fakeWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) Digest() digest.Digest       { return digest.FromBytes(w.buf.Bytes()) }
func (w *fakeWriter) Truncate(int64) error        { w.buf.Reset(); return nil }
func (w *fakeWriter) Status() (content.Status, error) {
	return content.Status{Offset: int64(w.buf.Len())}, nil
}

func (w *fakeWriter) Commit(_ context.Context, size int64, expected digest.Digest, _ ...content.Opt) error {
	if int64(w.buf.Len()) != size || w.Digest() != expected {
		return cerrdefs.ErrFailedPrecondition
	}
	w.p.blobs[expected] = bytes.Clone(w.buf.Bytes())
	w.p.pushed = append(w.p.pushed, expected)
	return nil
}

// The copier stores a rewritten manifest as Assemble wrote it, after its
// configuration, and each blob once.
func TestImagetoolsCopyRewritten(t *testing.T) {
	t.Parallel()
	f := newAssembleFixture()
	idx, err := Assemble(context.Background(), f.inputs("both:idx"), AssembleOptions{ManifestAnnotations: []PlatformAnnotation{{Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePusher{blobs: map[digest.Digest][]byte{}}
	target, err := ParseTag("registry.test/copy:1")
	if err != nil {
		t.Fatal(err)
	}
	c := &copier{pusher: p, target: target, done: map[digest.Digest]bool{}}
	for _, m := range idx.manifests {
		if err := c.copyCandidate(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range idx.manifests {
		stored, ok := p.blobs[m.desc.Digest]
		if !ok {
			t.Fatalf("%s was not pushed", m.desc.Digest)
		}
		var mf ocispecs.Manifest
		if err := json.Unmarshal(stored, &mf); err != nil {
			t.Fatal(err)
		}
		if cfg := slices.Index(p.pushed, mf.Config.Digest); cfg < 0 || cfg > slices.Index(p.pushed, m.desc.Digest) {
			t.Errorf("the configuration of %s was pushed after it, or not at all", m.desc.Digest)
		}
		if !isAttestation(m.desc) && mf.Annotations["k"] != "v" {
			t.Errorf("%s was pushed without its annotation", m.desc.Digest)
		}
	}
	if len(p.pushed) != len(p.blobs) {
		t.Errorf("pushed %d blobs for %d distinct ones", len(p.pushed), len(p.blobs))
	}
}
