package imagetools

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// statement stores an in-toto statement as an attestation layer, signed
// (in a DSSE envelope) or not.
func (f *fakeRegistry) statement(predicateType string, predicate any, dsse bool) ocispecs.Descriptor {
	stmt := map[string]any{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": predicateType, "predicate": predicate}
	mediaType := "application/vnd.in-toto+json"
	var v any = stmt
	if dsse {
		data, err := json.Marshal(stmt)
		if err != nil {
			panic(err)
		}
		mediaType = "application/vnd.in-toto.provenance+dsse"
		v = map[string]any{"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(data)}
	}
	d := f.put(mediaType, v)
	d.Annotations = map[string]string{predicateAnnotation: predicateType}
	return d
}

// attestationWith stores an attestation manifest of layers for subject.
func (f *fakeRegistry) attestationWith(subject ocispecs.Descriptor, layers ...ocispecs.Descriptor) ocispecs.Descriptor {
	d := f.put(ocispecs.MediaTypeImageManifest, ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    f.put(ocispecs.MediaTypeImageConfig, map[string]string{"architecture": "unknown", "os": "unknown"}),
		Layers:    layers,
	})
	d.Platform = &ocispecs.Platform{OS: "unknown", Architecture: "unknown"}
	d.Annotations = map[string]string{refTypeAnnotation: attestationManifest, refDigestAnnotation: subject.Digest.String()}
	return d
}

func newInspectFixture() *fakeRegistry {
	reg := newFakeRegistry()
	amd64 := onPlatform(reg.image("linux/amd64", "a"), "linux/amd64")
	arm64 := onPlatform(reg.image("linux/arm64/v8", "b"), "linux/arm64/v8")
	prov := func(arch string) map[string]any {
		return map[string]any{"buildType": "https://mobyproject.org/buildkit@v1", "builder": map[string]any{"id": "b-" + arch},
			"invocation": map[string]any{"parameters": map[string]any{"args": map[string]string{"build-arg:A": arch}}}}
	}
	spdx := func(name string) map[string]any {
		return map[string]any{"spdxVersion": "SPDX-2.3", "packages": []map[string]string{{"SPDXID": "p", "name": name, "versionInfo": "1"}}}
	}
	attAMD := reg.attestationWith(amd64,
		reg.statement("https://slsa.dev/provenance/v0.2", prov("amd64"), false),
		reg.statement("https://spdx.dev/Document", spdx("busybox"), false),
		reg.statement("https://spdx.dev/Document", spdx("stage"), false))
	attARM := reg.attestationWith(arm64, reg.statement("https://slsa.dev/provenance/v0.2", prov("arm64"), true))
	reg.refs["both:idx"] = reg.index(amd64, arm64, attAMD, attARM)
	reg.refs["a:single"] = reg.image("linux/amd64", "a")
	return reg
}

// Templates see buildx's shapes: per-platform maps for several platforms,
// .Provenance.SLSA the predicate, .SBOM.SPDX the first document.
func TestImagetoolsViewPlatforms(t *testing.T) {
	t.Parallel()
	reg := newInspectFixture()
	res, err := Inspect(context.Background(), reg, "both:idx")
	if err != nil {
		t.Fatal(err)
	}
	v := res.View("both:idx")
	var got struct {
		Manifest struct {
			SchemaVersion int
			MediaType     string
			Digest        string
			Manifests     []ocispecs.Descriptor
		}
		Image      map[string]ocispecs.Image
		Provenance map[string]struct{ SLSA map[string]any }
		SBOM       map[string]struct {
			SPDX            map[string]any
			AdditionalSPDXs []map[string]any
		}
	}
	reencode(t, "Manifest", v.Manifest, &got.Manifest)
	reencode(t, "Image", v.Image, &got.Image)
	reencode(t, "Provenance", v.Provenance, &got.Provenance)
	reencode(t, "SBOM", v.SBOM, &got.SBOM)
	if got.Manifest.SchemaVersion != 2 || got.Manifest.Digest != reg.refs["both:idx"].Digest.String() || len(got.Manifest.Manifests) != 4 {
		t.Errorf("View().Manifest = %+v, want the index with its digest", got.Manifest)
	}
	if len(got.Image) != 2 || got.Image["linux/arm64"].Architecture != "arm64" {
		t.Errorf("View().Image = %+v, want linux/amd64 and linux/arm64 (normalized)", got.Image)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		slsa := got.Provenance["linux/"+arch].SLSA
		if slsa["buildType"] != "https://mobyproject.org/buildkit@v1" || slsa["builder"].(map[string]any)["id"] != "b-"+arch {
			t.Errorf("View().Provenance[linux/%s].SLSA = %v, want the predicate", arch, slsa)
		}
	}
	if s := got.SBOM["linux/amd64"]; s.SPDX["spdxVersion"] != "SPDX-2.3" || len(s.AdditionalSPDXs) != 1 {
		t.Errorf("View().SBOM[linux/amd64] = %+v, want one document and one more", s)
	}
	if _, ok := got.SBOM["linux/arm64"]; ok {
		t.Errorf("View().SBOM has linux/arm64, which has no SBOM")
	}
	if p := res.Provenance["linux/arm64"]; p.BuildArgs["A"] != "arm64" || p.Builder != "b-arm64" {
		t.Errorf("the summary of a signed provenance = %+v", p)
	}
	if s := res.SBOM["linux/amd64"]; len(s.Packages) != 1 || s.Packages[0].Name != "busybox" {
		t.Errorf("SBOM packages = %+v, want the image's own document's", s.Packages)
	}
	whole, err := json.Marshal(v)
	if err != nil || strings.Contains(string(whole), "SLSA") || !strings.Contains(string(whole), `"name":"both:idx"`) {
		t.Errorf("{{json .}} = %s, want name, manifest and image only", whole)
	}
}

// reencode reads v, as {{json}} prints it, into the shape buildx gives it.
func reencode(t *testing.T, field string, v, into any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil || json.Unmarshal(data, into) != nil {
		t.Fatalf("View().%s = %s (%v), does not parse as buildx's", field, data, err)
	}
}

// One platform: the values themselves; no attestation: empty ones.
func TestImagetoolsViewSingle(t *testing.T) {
	t.Parallel()
	reg := newInspectFixture()
	res, err := Inspect(context.Background(), reg, "a:single")
	if err != nil {
		t.Fatal(err)
	}
	v := res.View("a:single")
	img, ok := v.Image.(*ocispecs.Image)
	if !ok || platforms.Format(img.Platform) != "linux/amd64" {
		t.Errorf("View().Image = %#v, want the one configuration", v.Image)
	}
	m, ok := v.Manifest.(ocispecs.Descriptor)
	if !ok || m.Digest != reg.refs["a:single"].Digest {
		t.Errorf("View().Manifest = %#v, want the manifest's descriptor", v.Manifest)
	}
	for name, val := range map[string]any{"Provenance": v.Provenance, "SBOM": v.SBOM} {
		if data, _ := json.Marshal(val); string(data) != "{}" {
			t.Errorf("View().%s = %s, want {} as buildx shows none", name, data)
		}
	}
}
