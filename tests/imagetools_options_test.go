package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// rawIndex reads what a registry holds under ref, as --raw prints it.
func rawIndex(t *testing.T, cfg, ref string) (ocispecs.Index, string) {
	t.Helper()
	r := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", ref})
	var idx ocispecs.Index
	if err := json.Unmarshal([]byte(r.Stdout), &idx); err != nil {
		t.Fatalf("inspect --raw %s: %v\n%s", ref, err, r.Stdout)
	}
	return idx, r.Stdout
}

// baseCopy copies the env's base image (two platforms, no attestations)
// into a repository of the test's own, which tests may add tags to.
func baseCopy(t *testing.T, cfg, name string) (string, ocispecs.Index) {
	t.Helper()
	ref := fmt.Sprintf("%s/xbuild-test/%s:%d", env.Registry, name, time.Now().UnixNano())
	mustXB(t, cfg, []string{"imagetools", "create", "-t", ref, env.BaseImage})
	idx, _ := rawIndex(t, cfg, ref)
	if len(idx.Manifests) != 2 {
		t.Fatalf("the base image %s is not an index of two images: %+v", env.BaseImage, idx.Manifests)
	}
	return ref, idx
}

// A single index source is copied as it is; with -p it keeps one platform;
// --append adds a source to the index under the tag; --prefer-index=false
// pushes a single manifest as it is; --metadata-file says what was pushed.
func TestImagetoolsCreateCopyAppendPlatform(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	src, srcIdx := baseCopy(t, cfg, "opts-copy")
	_, baseRaw := rawIndex(t, cfg, env.BaseImage)
	if _, raw := rawIndex(t, cfg, src); raw != baseRaw {
		t.Errorf("a single index source was not copied as it is stored:\n%s\nwant\n%s", raw, baseRaw)
	}
	byArch := map[string]ocispecs.Descriptor{}
	for _, m := range srcIdx.Manifests {
		byArch[m.Platform.Architecture] = m
	}
	repo := src[:strings.LastIndex(src, ":")]

	tag := repo + ":appended"
	md := filepath.Join(t.TempDir(), "metadata.json")
	mustXB(t, cfg, []string{"imagetools", "create", "-p", "linux/arm64", "-t", tag, src})
	if idx, _ := rawIndex(t, cfg, tag); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != byArch["arm64"].Digest {
		t.Fatalf("create -p linux/arm64 = %+v, want the arm64 image only", idx.Manifests)
	}
	mustXB(t, cfg, []string{"imagetools", "create", "--append", "-t", tag, "--metadata-file", md, repo + "@" + byArch["amd64"].Digest.String()})
	idx, _ := rawIndex(t, cfg, tag)
	if len(idx.Manifests) != 2 || idx.Manifests[0].Digest != byArch["arm64"].Digest || idx.Manifests[1].Digest != byArch["amd64"].Digest {
		t.Errorf("create --append = %+v, want arm64 then amd64", idx.Manifests)
	}
	var meta struct {
		Descriptor ocispecs.Descriptor `json:"containerimage.descriptor"`
		Name       string              `json:"image.name"`
	}
	data, err := os.ReadFile(md)
	if err != nil || json.Unmarshal(data, &meta) != nil {
		t.Fatalf("--metadata-file: %v\n%s", err, data)
	}
	var manifest struct{ Digest string }
	insp := mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{json .Manifest}}", tag})
	if err := json.Unmarshal([]byte(insp.Stdout), &manifest); err != nil || meta.Descriptor.Digest.String() != manifest.Digest ||
		meta.Descriptor.MediaType != ocispecs.MediaTypeImageIndex || meta.Name != repo {
		t.Errorf("metadata file %s, want the descriptor of %s (%v) and image.name %s", data, manifest.Digest, err, repo)
	}

	single := repo + ":single"
	mustXB(t, cfg, []string{"imagetools", "create", "--prefer-index=false", "-t", single, repo + "@" + byArch["amd64"].Digest.String()})
	var m ocispecs.Manifest
	raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", single}).Stdout
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.MediaType != ocispecs.MediaTypeImageManifest || m.Config.Digest == "" {
		t.Errorf("--prefer-index=false pushed %s (%v), want the manifest itself", raw, err)
	}
}

// -f reads sources from descriptor files, merged with the registry's: the
// file's platform and annotations land in the index.
func TestImagetoolsCreateFromFiles(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	src, srcIdx := baseCopy(t, cfg, "opts-files")
	repo := src[:strings.LastIndex(src, ":")]
	dir := t.TempDir()
	var files []string
	for i, m := range srcIdx.Manifests {
		m.Platform.OSVersion = "10.1"
		m.Annotations = map[string]string{"org.example.from": "file"}
		data, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("desc%d.json", i))
		if err := os.WriteFile(f, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, "-f", f)
	}
	tag := repo + ":from-files"
	mustXB(t, cfg, append([]string{"imagetools", "create", "-t", tag}, files...))
	idx, _ := rawIndex(t, cfg, tag)
	if len(idx.Manifests) != 2 {
		t.Fatalf("create -f -f = %+v, want two manifests", idx.Manifests)
	}
	for i, m := range idx.Manifests {
		if m.Digest != srcIdx.Manifests[i].Digest || m.Platform.OSVersion != "10.1" || m.Annotations["org.example.from"] != "file" {
			t.Errorf("manifest %d = %+v, want the file's descriptor", i, m)
		}
	}
	// A descriptor names no repository: with the tag in one and a named
	// source in another, none can be picked for it.
	other := fmt.Sprintf("%s/xbuild-test/opts-files-elsewhere:%d", env.Registry, time.Now().UnixNano())
	r := xb(t, cfg, []string{"imagetools", "create", "-t", other, files[0], files[1], src})
	if r.Code != 1 || !strings.Contains(r.Stderr, "cannot tell which repository holds source") {
		t.Errorf("create -f with the tag and the source in two repositories = %s", r)
	}
}

// An image built with provenance: -p keeps one platform with its
// attestation; manifest annotations land on the manifests, descriptor
// ones on the descriptors, and the attestations follow the rewritten
// images; inspect's templates read as buildx's.
func TestImagetoolsCreateAnnotationsAndInspectFormat(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	n := time.Now().UnixNano()
	src := fmt.Sprintf("%s/xbuild-test/opts-prov:%d", env.Registry, n)
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--provenance", "mode=max", "--push", "-t", src,
		"--build-arg", baseArg(), "--build-arg", "EXTRA=opts", helloContext(t)})

	t.Run("platform", func(t *testing.T) {
		t.Parallel()
		tag := fmt.Sprintf("%s/xbuild-test/opts-arm64:%d", env.Registry, n)
		mustXB(t, cfg, []string{"imagetools", "create", "-p", "linux/arm64", "-t", tag, src})
		ps := inspectPlatforms(t, cfg, tag)
		if len(ps) != 1 || ps[0].Platform != "linux/arm64" || ps[0].Attestations == nil {
			t.Fatalf("create -p linux/arm64 = %+v, want linux/arm64 with its attestation", ps)
		}
		// One platform: buildx's shapes are the values, not maps.
		var prov struct{ SLSA json.RawMessage }
		r := mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{json .Provenance}}", tag})
		if err := json.Unmarshal([]byte(r.Stdout), &prov); err != nil || !isSLSA(prov.SLSA) {
			t.Errorf("{{json .Provenance}} of one platform = %s (%v), want {SLSA: predicate}", r.Stdout, err)
		}
		var img ocispecs.Image
		r = mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{json .Image}}", tag})
		if err := json.Unmarshal([]byte(r.Stdout), &img); err != nil || img.Architecture != "arm64" {
			t.Errorf("{{json .Image}} of one platform = %s (%v), want the arm64 configuration", r.Stdout, err)
		}
	})
	t.Run("annotations", func(t *testing.T) {
		t.Parallel()
		testCreateAnnotations(t, cfg, src, fmt.Sprintf("%s/xbuild-test/opts-annotated:%d", env.Registry, n))
	})
	t.Run("inspect format", func(t *testing.T) {
		t.Parallel()
		testInspectFormat(t, cfg, src)
	})
}

func testCreateAnnotations(t *testing.T, cfg, src, tag string) {
	srcPlatforms := map[string]createdPlatform{}
	for _, p := range inspectPlatforms(t, cfg, src) {
		srcPlatforms[p.Platform] = p
	}
	mustXB(t, cfg, []string{"imagetools", "create", "-t", tag,
		"--annotation", "manifest:org.example.all=1", "--annotation", "manifest[linux/arm64]:org.example.arm=2",
		"--annotation", "manifest-descriptor[linux/amd64]:org.example.desc=3", "--annotation", "index:org.example.index=4", src})
	idx, _ := rawIndex(t, cfg, tag)
	if idx.Annotations["org.example.index"] != "4" || len(idx.Manifests) != 4 {
		t.Fatalf("annotated index = %+v, want 4 manifests and the index annotation", idx)
	}
	host, repo := splitRepo(tag)
	for _, p := range inspectPlatforms(t, cfg, tag) {
		was := srcPlatforms[p.Platform]
		if p.Manifest.Digest == was.Manifest.Digest || p.Attestations == nil || p.Attestations.Digest != was.Attestations.Digest {
			t.Errorf("%s = %+v, want a new manifest with the source's attestation", p.Platform, p)
			continue
		}
		var m ocispecs.Manifest
		raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", tag + "@" + p.Manifest.Digest.String()}).Stdout
		if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Annotations["org.example.all"] != "1" ||
			(m.Annotations["org.example.arm"] == "2") != (p.Platform == "linux/arm64") {
			t.Errorf("%s manifest annotations = %v (%v)", p.Platform, m.Annotations, err)
		}
		if (p.Manifest.Annotations["org.example.desc"] == "3") != (p.Platform == "linux/amd64") {
			t.Errorf("%s descriptor annotations = %v, want org.example.desc on linux/amd64 only", p.Platform, p.Manifest.Annotations)
		}
		assertBlobsIn(t, host, repo, p.Manifest)
	}
	text := mustXB(t, cfg, []string{"imagetools", "inspect", tag})
	if strings.Contains(text.Stdout, "unknown/unknown") || strings.Count(text.Stdout, "Provenance:") != 2 {
		t.Errorf("the rewritten images lost their provenance:\n%s", text.Stdout)
	}
}

func testInspectFormat(t *testing.T, cfg, src string) {
	format := func(f string, into any) {
		t.Helper()
		r := mustXB(t, cfg, []string{"imagetools", "inspect", "--format", f, src})
		if err := json.Unmarshal([]byte(r.Stdout), into); err != nil {
			t.Fatalf("--format %s: %v\n%s", f, err, r.Stdout)
		}
	}
	var manifest struct {
		SchemaVersion int
		MediaType     string
		Digest        string
		Size          int64
		Manifests     []ocispecs.Descriptor
	}
	format("{{json .Manifest}}", &manifest)
	if manifest.SchemaVersion != 2 || manifest.MediaType != ocispecs.MediaTypeImageIndex || manifest.Digest == "" || len(manifest.Manifests) != 4 {
		t.Errorf("{{json .Manifest}} = %+v, want the index with its digest and 4 manifests", manifest)
	}
	var images map[string]ocispecs.Image
	format("{{json .Image}}", &images)
	if len(images) != 2 || images["linux/arm64"].Architecture != "arm64" || images["linux/amd64"].Architecture != "amd64" {
		t.Errorf("{{json .Image}} = %+v, want a configuration per platform", images)
	}
	var prov map[string]struct{ SLSA json.RawMessage }
	format("{{json .Provenance}}", &prov)
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if s := prov[p].SLSA; !isSLSA(s) {
			t.Errorf("{{json .Provenance}}[%s].SLSA = %s, want the SLSA predicate", p, s)
		}
	}
	var all struct {
		Name     string
		Manifest struct{ Digest string }
		Image    map[string]ocispecs.Image
	}
	format("{{json .}}", &all)
	if all.Name != src || all.Manifest.Digest != manifest.Digest || len(all.Image) != 2 {
		t.Errorf("{{json .}} = %+v", all)
	}
	text := mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{.Manifest}}", src}).Stdout
	listed := regexp.MustCompile(`(?m)^  Name: +` + regexp.QuoteMeta(src) + `@sha256:`)
	if !strings.Contains(text, "Manifests:") || len(listed.FindAllString(text, -1)) != 4 {
		t.Errorf("--format '{{.Manifest}}' = \n%s\nwant buildx's listing of the 4 manifests", text)
	}
}

// isSLSA says whether pred is BuildKit's SLSA provenance (v0.2 or v1) of
// the build with EXTRA=opts.
func isSLSA(pred json.RawMessage) bool {
	var p struct {
		BuildType       string `json:"buildType"`
		BuildDefinition struct {
			BuildType string `json:"buildType"`
		} `json:"buildDefinition"`
	}
	compact := strings.Join(strings.Fields(string(pred)), "")
	return json.Unmarshal(pred, &p) == nil && (p.BuildType != "" || p.BuildDefinition.BuildType != "") &&
		strings.Contains(compact, `"build-arg:EXTRA":"opts"`)
}

// Bad input is one clear line, exit 1, and nothing pushed.
func TestImagetoolsCreateOptionsBadInput(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	n := time.Now().UnixNano()
	tag := fmt.Sprintf("%s/xbuild-test/opts-bad:%d", env.Registry, n)
	missing := fmt.Sprintf("%s/xbuild-test/opts-missing:%d", env.Registry, n)
	src := env.BaseImage
	tests := []struct {
		name    string
		in      []string
		wantErr string
	}{
		{name: "append to nothing", in: []string{"--append", "-t", missing, src}, wantErr: fmt.Sprintf("reading source %q: image not found", missing)},
		{name: "append without tag", in: []string{"--append", "--dry-run", src}, wantErr: "--append adds the sources to the image under the first -t/--tag"},
		{name: "no platform matches", in: []string{"-p", "linux/s390x", "-t", tag, src}, wantErr: "no image of the sources is for linux/s390x"},
		{name: "bad platform", in: []string{"-p", "linux/amd64,nope/x/y/z", "-t", tag, src}, wantErr: `invalid platform "nope/x/y/z"`},
		{name: "index descriptor annotation", in: []string{"--annotation", "index-descriptor:k=v", "-t", tag, src}, wantErr: "has no descriptor to annotate"},
		{name: "unknown annotation type", in: []string{"--annotation", "layer:k=v", "-t", tag, src}, wantErr: `unknown annotation type "layer"`},
		{name: "missing file", in: []string{"-f", filepath.Join(cfg, "nope.json"), "-t", tag}, wantErr: "reading source file: open "},
		{name: "metadata folder missing", in: []string{"--metadata-file", filepath.Join(cfg, "no", "md.json"), "-t", tag, src}, wantErr: "does not exist"},
		{name: "bad progress", in: []string{"--progress", "loud", "-t", tag, src}, wantErr: `invalid progress mode "loud"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, cfg, append([]string{"imagetools", "create"}, tc.in...))
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR: ") || !strings.Contains(lines[0], tc.wantErr) {
				t.Errorf("create %v = %s\nwant one error line with %q", tc.in, r, tc.wantErr)
			}
		})
	}
	t.Run("raw and format", func(t *testing.T) {
		t.Parallel()
		r := xb(t, cfg, []string{"imagetools", "inspect", "--raw", "--format", "{{.Name}}", src})
		if r.Code != 1 || !strings.Contains(r.Stderr, "--raw and --format cannot be used together") {
			t.Errorf("inspect --raw --format = %s", r)
		}
	})
	t.Cleanup(func() {
		for _, ref := range []string{tag, missing} {
			if r := xb(t, cfg, []string{"imagetools", "inspect", ref}); r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
				t.Errorf("bad input pushed %s:\n%s", ref, r)
			}
		}
	})
}

// rawjson progress is JSON only; quiet is nothing at all.
func TestImagetoolsCreateProgress(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	tag := fmt.Sprintf("%s/xbuild-test/opts-progress:%d", env.Registry, time.Now().UnixNano())
	src := env.BaseImage
	raw := mustXB(t, cfg, []string{"imagetools", "create", "--progress", "rawjson", "-t", tag + "-rawjson", src})
	sc := bufio.NewScanner(strings.NewReader(raw.Stderr))
	lines := 0
	for sc.Scan() {
		var status struct{ Vertexes []struct{ Name string } }
		if err := json.Unmarshal(sc.Bytes(), &status); err != nil {
			t.Errorf("--progress rawjson printed a line that is not JSON: %q", sc.Text())
		}
		lines++
	}
	if lines == 0 || !strings.Contains(raw.Stderr, `"pushing `) {
		t.Errorf("--progress rawjson = %s, want the pushing step as JSON", raw.Stderr)
	}
	if q := mustXB(t, cfg, []string{"imagetools", "create", "--progress", "quiet", "-t", tag + "-quiet", src}); q.Stderr != "" || q.Stdout != "" {
		t.Errorf("--progress quiet printed %s", q)
	}
	plain := mustXB(t, cfg, []string{"imagetools", "create", "--progress", "plain", "-t", tag + "-plain", src})
	if !strings.Contains(plain.Stderr, "pushing "+tag+"-plain") || !strings.Contains(plain.Stderr, "pushed "+tag+"-plain@sha256:") {
		t.Errorf("--progress plain = %s, want the pushing step and the pushed line", plain)
	}
}
