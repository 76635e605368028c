package imagetools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// What a registry sends is not to be trusted: the fuzzers here give
// imagetools indexes, manifests and descriptors of any shape, next to a
// few real images they may point at. Reading must not panic, a failure is
// one non-empty line, and what is read or assembled keeps attestations
// with the images they describe.

// fuzzRegistry is a Source over blobs held in memory; roots are what
// Resolve returns by ref.
type fuzzRegistry struct {
	roots map[string]ocispecs.Descriptor
	blobs map[digest.Digest][]byte
}

var _ Source = (*fuzzRegistry)(nil)

func (r *fuzzRegistry) Resolve(_ context.Context, ref string) (string, ocispecs.Descriptor, error) {
	d, ok := r.roots[ref]
	if !ok {
		return "", ocispecs.Descriptor{}, fmt.Errorf("%s: %w", ref, cerrdefs.ErrNotFound)
	}
	return "registry.test/" + ref, d, nil
}

func (r *fuzzRegistry) Fetch(_ context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	b, ok := r.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, cerrdefs.ErrNotFound)
	}
	return b, verify(b, desc)
}

func (r *fuzzRegistry) put(mediaType string, v any) ocispecs.Descriptor {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return r.putRaw(mediaType, data)
}

func (r *fuzzRegistry) putRaw(mediaType string, data []byte) ocispecs.Descriptor {
	d := ocispecs.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	r.blobs[d.Digest] = data
	return d
}

// fuzzImages holds two images (linux/amd64 with its attestation, holding
// a provenance and an SBOM statement, and linux/arm64) the fuzzed indexes
// may point at.
type fuzzImages struct {
	reg          *fuzzRegistry
	amd64, arm64 ocispecs.Descriptor
	attestation  ocispecs.Descriptor
}

func newFuzzImages() *fuzzImages {
	reg := &fuzzRegistry{roots: map[string]ocispecs.Descriptor{}, blobs: map[digest.Digest][]byte{}}
	image := func(platform string) ocispecs.Descriptor {
		p := platforms.MustParse(platform)
		d := reg.put(ocispecs.MediaTypeImageManifest, ocispecs.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispecs.MediaTypeImageManifest,
			Config:    reg.put(ocispecs.MediaTypeImageConfig, ocispecs.Image{Platform: p}),
		})
		d.Platform = &p
		return d
	}
	im := &fuzzImages{reg: reg, amd64: image("linux/amd64"), arm64: image("linux/arm64")}
	layer := func(predicateType, predicate string) ocispecs.Descriptor {
		d := reg.putRaw("application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"`+predicateType+`","predicate":`+predicate+`}`))
		d.Annotations = map[string]string{predicateAnnotation: predicateType}
		return d
	}
	im.attestation = reg.put(ocispecs.MediaTypeImageManifest, ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    reg.putRaw(ocispecs.MediaTypeImageConfig, []byte(`{}`)),
		Layers: []ocispecs.Descriptor{
			layer("https://slsa.dev/provenance/v0.2", `{"builder":{"id":"b"},"invocation":{"parameters":{"args":{"build-arg:A":"1"}}}}`),
			layer("https://spdx.dev/Document", `{"documentDescribes":["SPDXRef-root"],"packages":[{"SPDXID":"SPDXRef-root","name":"/"},{"SPDXID":"p1","name":"musl","versionInfo":"1.2"}]}`),
		},
	})
	im.attestation.Platform = &ocispecs.Platform{OS: "unknown", Architecture: "unknown"}
	im.attestation.Annotations = map[string]string{refTypeAnnotation: attestationManifest, refDigestAnnotation: im.amd64.Digest.String()}
	return im
}

// indexSeeds are indexes to start from: BuildKit's layout, and ways to
// get it wrong.
func (im *fuzzImages) indexSeeds() [][]byte {
	index := func(ds ...ocispecs.Descriptor) []byte {
		data, err := json.Marshal(ocispecs.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispecs.MediaTypeImageIndex, Manifests: ds})
		if err != nil {
			panic(err)
		}
		return data
	}
	orphan := im.attestation
	orphan.Annotations = map[string]string{refTypeAnnotation: attestationManifest, refDigestAnnotation: "sha256:0000"}
	noPlatform := im.arm64
	noPlatform.Platform = nil
	badDigest := im.arm64
	badDigest.Digest = "sha256:xyz"
	return [][]byte{
		index(im.amd64, im.arm64, im.attestation),
		index(im.attestation, im.amd64),
		index(im.amd64, im.amd64, im.attestation, im.attestation),
		index(im.amd64, orphan),
		index(noPlatform),
		index(badDigest),
		index(),
		[]byte(`{"manifests":[{"digest":""}]}`),
		[]byte(`{"manifests":null}`),
		[]byte(`{"manifests":[`),
		[]byte(`null`),
	}
}

func checkOneLine(t *testing.T, call string, err error) {
	t.Helper()
	if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s error = %q, want one non-empty line", call, msg)
	}
}

// FuzzInspect reads a fuzzed root, an index or a manifest, as inspect
// does, and shows it as templates see it.
func FuzzInspect(f *testing.F) {
	im := newFuzzImages()
	for _, s := range im.indexSeeds() {
		f.Add(s, true)
	}
	f.Add(im.reg.blobs[im.amd64.Digest], false)
	f.Add(im.reg.blobs[im.attestation.Digest], false)
	f.Add([]byte(`{"config":{"digest":"sha256:0"}}`), false)
	f.Fuzz(func(t *testing.T, raw []byte, asIndex bool) {
		im := newFuzzImages()
		mt := ocispecs.MediaTypeImageManifest
		if asIndex {
			mt = ocispecs.MediaTypeImageIndex
		}
		im.reg.roots["app:1"] = im.reg.putRaw(mt, raw)
		res, err := Inspect(context.Background(), im.reg, "app:1")
		if err != nil {
			checkOneLine(t, "Inspect()", err)
			return
		}
		var manifests []ocispecs.Descriptor
		if asIndex {
			manifests = res.Index.Manifests
		} else {
			manifests = []ocispecs.Descriptor{res.Manifest}
		}
		described := map[string]bool{}
		images := 0
		for _, m := range manifests {
			if isAttestation(m) {
				described[attestationSubject(m)] = true
			} else {
				images++
			}
		}
		if len(res.Platforms) != images {
			t.Fatalf("Inspect(%q) = %d platforms, want one for each of the %d images", raw, len(res.Platforms), images)
		}
		names := map[string]bool{}
		for _, p := range res.Platforms {
			names[p.Platform] = true
			a := p.Attestations
			if a != nil && (!isAttestation(*a) || attestationSubject(*a) != p.Manifest.Digest.String()) {
				t.Fatalf("Inspect(%q): %s (%s) has the attestation %+v, which describes another image", raw, p.Platform, p.Manifest.Digest, a)
			}
			if a == nil && described[p.Manifest.Digest.String()] {
				t.Fatalf("Inspect(%q): %s (%s) lost its attestation", raw, p.Platform, p.Manifest.Digest)
			}
		}
		for k := range res.Provenance {
			if !names[k] {
				t.Fatalf("Inspect(%q) = provenance for %s, which is none of the platforms", raw, k)
			}
		}
		for k := range res.SBOM {
			if !names[k] {
				t.Fatalf("Inspect(%q) = an SBOM for %s, which is none of the platforms", raw, k)
			}
		}
		if _, err := json.Marshal(res.View("app:1")); err != nil {
			t.Fatalf("Inspect(%q): the view does not encode: %v", raw, err)
		}
	})
}

// FuzzAssemble assembles one or two fuzzed sources, with the options of
// create, and checks what Push would store.
func FuzzAssemble(f *testing.F) {
	im := newFuzzImages()
	seeds := im.indexSeeds()
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)], uint8(i*37))
	}
	f.Add(im.reg.blobs[im.amd64.Digest], im.reg.blobs[im.arm64.Digest], uint8(0b0000_0111))
	f.Add(im.reg.blobs[im.amd64.Digest], seeds[0], uint8(0b0010_0110))
	f.Fuzz(func(t *testing.T, raw1, raw2 []byte, mode uint8) {
		im := newFuzzImages()
		root := func(raw []byte, manifest bool) ocispecs.Descriptor {
			if manifest {
				return im.reg.putRaw(ocispecs.MediaTypeImageManifest, raw)
			}
			return im.reg.putRaw(ocispecs.MediaTypeImageIndex, raw)
		}
		im.reg.roots["one:1"] = root(raw1, mode&1 != 0)
		im.reg.roots["two:1"] = root(raw2, mode&2 != 0)
		inputs := []Input{{Ref: "one:1", Source: im.reg}}
		if mode&4 != 0 {
			inputs = append(inputs, Input{Ref: "two:1", Source: im.reg})
		}
		opts := AssembleOptions{Single: SingleSource(mode >> 3 & 3 % 3)}
		if mode&32 != 0 {
			opts.Platforms = []ocispecs.Platform{platforms.MustParse("linux/amd64")}
		}
		if mode&64 != 0 {
			all := []PlatformAnnotation{{Key: "k", Value: "v"}}
			opts.ManifestAnnotations, opts.DescriptorAnnotations = all, all
		}
		if mode&128 != 0 {
			opts.Annotations = map[string]string{"org.opencontainers.image.title": "t"}
		}
		call := fmt.Sprintf("Assemble(%q, %q, %08b)", raw1, raw2, mode)
		idx, err := Assemble(context.Background(), inputs, opts)
		if err != nil {
			checkOneLine(t, call, err)
			return
		}
		if idx.Desc.Size != int64(len(idx.Raw)) || idx.Desc.Digest != digest.FromBytes(idx.Raw) {
			t.Fatalf("%s = %+v, which does not describe the %d bytes stored", call, idx.Desc, len(idx.Raw))
		}
		if !images.IsIndexType(idx.Desc.MediaType) {
			return // a single manifest, kept as stored
		}
		var stored ocispecs.Index
		if err := json.Unmarshal(idx.Raw, &stored); err != nil {
			t.Fatalf("%s = an index that does not decode: %v", call, err)
		}
		var listed []ocispecs.Descriptor
		for _, c := range idx.manifests {
			listed = append(listed, c.desc)
		}
		if !descriptorsEqual(listed, stored.Manifests) {
			t.Fatalf("%s: the index lists\n%+v\nbut Push would copy\n%+v", call, stored.Manifests, listed)
		}
		assembled := len(inputs) > 1 || opts.annotated() || opts.Single == SingleAssembled
		if assembled {
			checkKept(t, call, stored.Manifests, opts.Platforms)
		}
	})
}

// descriptorsEqual compares descriptors as they are written; no
// descriptors at all are one list, null or [].
func descriptorsEqual(a, b []ocispecs.Descriptor) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// checkKept holds an assembled list of manifests to the layout BuildKit
// gives an index: each manifest once, images first, then one attestation
// per image kept at most, and only for an image kept.
func checkKept(t *testing.T, call string, kept []ocispecs.Descriptor, plats []ocispecs.Platform) {
	t.Helper()
	seen := map[digest.Digest]bool{}
	images := map[string]bool{}
	attested := map[string]bool{}
	inAttestations := false
	for _, d := range kept {
		if seen[d.Digest] {
			t.Fatalf("%s lists %s twice", call, d.Digest)
		}
		seen[d.Digest] = true
		if !isAttestation(d) {
			if inAttestations {
				t.Fatalf("%s lists the image %s after attestations", call, d.Digest)
			}
			if len(plats) > 0 && d.Platform != nil && !platforms.Any(plats...).Match(*d.Platform) {
				t.Fatalf("%s keeps %s, for %s, which was not asked for", call, d.Digest, platforms.Format(*d.Platform))
			}
			images[d.Digest.String()] = true
			continue
		}
		inAttestations = true
		subject := attestationSubject(d)
		if !images[subject] {
			t.Fatalf("%s keeps the attestation %s of %q, an image it does not hold", call, d.Digest, subject)
		}
		if attested[subject] {
			t.Fatalf("%s keeps two attestations of %s", call, subject)
		}
		attested[subject] = true
	}
}

// fuzzPlatforms are the platforms FuzzCombine's descriptors draw from,
// with two spellings of one (arm64 and arm64/v8) and none at all.
var fuzzPlatforms = []*ocispecs.Platform{
	nil,
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"},
	{OS: "unknown", Architecture: "unknown"},
}

// FuzzCombine drives the matching of attestations to images with random
// descriptors from two sources: each three bytes of plan are one
// descriptor (its digest, its platform, whether it is an attestation and
// of which digest, its source).
func FuzzCombine(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 2, 0, 2, 0x86, 0, 3, 0x86, 1}, uint8(0))
	f.Add([]byte{0, 1, 0, 1, 0x41, 0}, uint8(0))
	f.Add([]byte{0, 2, 0, 1, 0x43, 0, 2, 0x80, 0, 3, 0xc0, 1}, uint8(1))
	f.Add([]byte{0, 0x80, 1, 1, 1, 0, 2, 0x80, 1}, uint8(2))
	f.Add([]byte{0, 4, 0, 1, 4, 0, 0, 0x80, 0}, uint8(3))
	f.Fuzz(func(t *testing.T, plan []byte, filter uint8) {
		sources := []*origin{{ref: "one:1"}, {ref: "two:1"}}
		dg := func(b byte) digest.Digest { return digest.FromString(fmt.Sprint(b % 8)) }
		var offered []candidate
		for i := 0; i+2 < len(plan); i += 3 {
			d := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: dg(plan[i]), Size: 1}
			d.Platform = fuzzPlatforms[int(plan[i+1]&0x0f)%len(fuzzPlatforms)]
			if plan[i+1]&0x80 != 0 {
				key := subjectAnnotations[int(plan[i+2]>>4)%len(subjectAnnotations)]
				d.Annotations = map[string]string{refTypeAnnotation: attestationManifest, key: dg(plan[i+2]).String()}
			}
			offered = append(offered, candidate{desc: d, from: sources[plan[i+1]>>6&1]})
		}
		var plats []ocispecs.Platform
		for i, p := range fuzzPlatforms[1:] {
			if filter&(1<<i) != 0 {
				plats = append(plats, *p)
			}
		}
		call := fmt.Sprintf("combine(%v, %08b)", plan, filter)
		kept, err := combine(offered, plats)
		if err != nil {
			checkOneLine(t, call, err)
			if msg := err.Error(); !strings.Contains(msg, "no image") && (!strings.Contains(msg, `"one:1"`) || !strings.Contains(msg, `"two:1"`)) {
				t.Fatalf("%s error = %q, want it to name both sources", call, msg)
			}
			return
		}
		var descs []ocispecs.Descriptor
		for _, c := range kept {
			descs = append(descs, c.desc)
		}
		checkKept(t, call, descs, plats)
		// Every image wanted is kept, in the order offered, and no two
		// sources give one platform.
		var want []digest.Digest
		seen := map[digest.Digest]bool{}
		for _, c := range offered {
			if seen[c.desc.Digest] {
				continue
			}
			seen[c.desc.Digest] = true
			if !isAttestation(c.desc) && platformFilter(plats)(c.desc) {
				want = append(want, c.desc.Digest)
			}
		}
		var got []digest.Digest
		byPlatform := map[string]*origin{}
		for _, c := range kept {
			if isAttestation(c.desc) {
				continue
			}
			got = append(got, c.desc.Digest)
			if c.desc.Platform == nil {
				continue
			}
			key := platforms.FormatAll(platforms.Normalize(*c.desc.Platform))
			if o, ok := byPlatform[key]; ok && o != c.from {
				t.Fatalf("%s keeps %s images from both sources", call, key)
			}
			byPlatform[key] = c.from
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s keeps the images %v, want %v", call, got, want)
		}
	})
}

// FuzzParseSource checks create's source argument: a name, a digest or a
// descriptor in JSON, whose written form reads back the same.
func FuzzParseSource(f *testing.F) {
	d := digest.FromString("x")
	for _, s := range []string{
		"alpine", "docker.io/library/alpine:3.20", "r/app@" + d.String(), d.String(), " " + d.String() + " ",
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + d.String() + `","size":100}`,
		`{"digest":"` + d.String() + `","platform":{"os":"linux","architecture":"arm64"},"annotations":{"k":"v"}}`,
		`{"schemaVersion":2,"digest":"` + d.String() + `"}`, `{"digest":"sha256:xyz"}`, `{"size":-1,"digest":"` + d.String() + `"}`,
		`{"digest":"` + d.String() + `"}{}`, `{}`, `{`, "sha256:", "sha512:abc", "UPPER/case", "", "a\nb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("ParseSource(%q)", s)
		in, err := ParseSource(s)
		if err != nil {
			checkOneLine(t, call, err)
			return
		}
		if (in.Ref == "") == (in.Desc == nil) {
			t.Fatalf("%s = %+v, want a name or a descriptor", call, in)
		}
		if in.Ref != "" {
			if _, err := normalize(in.Ref); err != nil {
				t.Fatalf("%s = %q, which is not an image name: %v", call, in.Ref, err)
			}
			return
		}
		if err := in.Desc.Digest.Validate(); err != nil || in.Desc.Size < 0 {
			t.Fatalf("%s = %+v, an invalid descriptor: %v", call, in.Desc, err)
		}
		written, err := json.Marshal(in.Desc)
		if err != nil {
			t.Fatalf("%s = %+v, which does not encode: %v", call, in.Desc, err)
		}
		again, err := ParseSource(string(written))
		if err != nil {
			t.Fatalf("%s = %+v, written as %s, which does not parse: %v", call, in.Desc, written, err)
		}
		if again.Desc == nil || !descriptorsEqual([]ocispecs.Descriptor{*again.Desc}, []ocispecs.Descriptor{*in.Desc}) {
			t.Fatalf("%s = %+v, written as %s, read back as %+v", call, in.Desc, written, again)
		}
	})
}

// FuzzVerify gives the check every fetched blob goes through any bytes and
// any descriptor, as a hostile registry's index may name: it returns the
// bytes only when they match, and fails, without panicking, otherwise.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("blob"), digest.FromString("blob").String(), int64(4))
	f.Add([]byte("blob"), digest.FromString("blob").String(), int64(5))
	f.Add([]byte("blob"), digest.FromString("other").String(), int64(4))
	f.Add([]byte("blob"), digest.SHA512.FromString("blob").String(), int64(4))
	f.Add([]byte("blob"), "", int64(4))
	f.Add([]byte("blob"), "sha256:xyz", int64(4))
	f.Add([]byte("blob"), "md5:00", int64(4))
	f.Add([]byte("blob"), "nocolon", int64(4))
	f.Add([]byte(""), digest.FromString("").String(), int64(-1))
	f.Add([]byte("blob"), digest.FromString("blob").String(), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, data []byte, dgst string, size int64) {
		desc := ocispecs.Descriptor{Digest: digest.Digest(dgst), Size: size}
		matches := size == int64(len(data)) && desc.Digest.Validate() == nil && desc.Digest.Algorithm().FromBytes(data) == desc.Digest
		call := fmt.Sprintf("readVerified(%q, %+v)", data, desc)
		got, err := readVerified(bytes.NewReader(data), desc)
		switch {
		case matches && (err != nil || !bytes.Equal(got, data)):
			t.Fatalf("%s = %q, %v; want the bytes", call, got, err)
		case !matches && err == nil:
			t.Fatalf("%s = %q; want an error", call, got)
		case !matches:
			checkOneLine(t, call, err)
			if !cerrdefs.IsDataLoss(err) || got != nil {
				t.Fatalf("%s = %q, %v; want no bytes and a DataLoss error", call, got, err)
			}
		}
	})
}
