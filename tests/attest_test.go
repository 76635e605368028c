package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The SBOM comes from the project's own generator (pushed by hack/env up),
// chosen per builder; with max provenance, a two-platform image lists
// busybox for both platforms, the provenance holds the build args and the
// Dockerfile, the registry and the containerd store tell the same, and the
// metadata file carries the provenance.
func TestSBOMAndProvenance(t *testing.T) {
	t.Parallel()
	gen := env.SBOMGenerator
	ctd := env.DockerContainerd
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", "--use", "--sbom-generator", gen, env.BuildKit})
	if r := mustXB(t, cfg, []string{"inspect"}); !strings.Contains(r.Stdout, "SBOM generator: "+gen) {
		t.Errorf("inspect does not name the builder's SBOM generator:\n%s", r.Stdout)
	}
	ref := fmt.Sprintf("%s/xbuild-test/sbom:%d", env.Registry, time.Now().UnixNano())
	md := filepath.Join(t.TempDir(), "metadata.json")
	r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--sbom=true", "--provenance=mode=max",
		"--push", "--load", "-t", ref, "--metadata-file", md,
		"--build-arg", baseArg(), "--build-arg", "EXTRA=sbom-test", helloContext(t)}, withDockerHost(ctd))
	if !strings.Contains(r.Stderr, "generating sbom using "+gen) {
		t.Errorf("the build did not use the builder's generator:\n%s", r.Stderr)
	}
	t.Cleanup(func() {
		_, _ = engine(t, ctd).ImageRemove(context.Background(), ref, dockerRemoveForce)
	})

	type sboms map[string]struct {
		Packages []struct{ Name, Version string }
	}
	readSBOM := func(args ...string) sboms {
		r := mustXB(t, cfg, append([]string{"imagetools", "inspect", "--format", "{{json .SBOM}}", ref}, args...), withDockerHost(ctd))
		var s sboms
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
			t.Fatalf("--format '{{json .SBOM}}': %v\n%s", err, r.Stdout)
		}
		return s
	}
	fromRegistry, fromLocal := readSBOM(), readSBOM("--local")
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		var names []string
		for _, pkg := range fromRegistry[p].Packages {
			names = append(names, pkg.Name)
		}
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " busybox ") {
			t.Errorf("%s SBOM packages = %v, want busybox among them", p, names)
		}
	}
	a, _ := json.Marshal(fromRegistry)
	b, _ := json.Marshal(fromLocal)
	if string(a) != string(b) {
		t.Errorf("SBOM from the registry %s\nand from the local store %s differ", a, b)
	}
	text := mustXB(t, cfg, []string{"imagetools", "inspect", ref})
	for _, want := range []string{"EXTRA=sbom-test", "Source:     Dockerfile", "SBOM:         1 package"} {
		if !strings.Contains(text.Stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text.Stdout)
		}
	}

	var meta map[string]json.RawMessage
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatalf("metadata file: %v\n%s", err, data)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		var prov struct {
			BuildType  string `json:"buildType"`
			Invocation struct {
				ConfigSource struct {
					EntryPoint string `json:"entryPoint"`
				} `json:"configSource"`
				Parameters struct {
					Args map[string]string `json:"args"`
				} `json:"parameters"`
			} `json:"invocation"`
			BuildConfig json.RawMessage `json:"buildConfig"`
		}
		raw, ok := meta["buildx.build.provenance/"+p]
		if !ok {
			t.Fatalf("metadata file has no buildx.build.provenance/%s:\n%s", p, data)
		}
		if err := json.Unmarshal(raw, &prov); err != nil {
			t.Fatalf("provenance in the metadata file: %v", err)
		}
		// The default (min) record leaves build args out, as BuildKit's own
		// min provenance does: one may carry a secret.
		if _, ok := prov.Invocation.Parameters.Args["build-arg:EXTRA"]; ok || prov.Invocation.ConfigSource.EntryPoint != "Dockerfile" {
			t.Errorf("%s provenance in the metadata file = %s", p, raw)
		}
		if prov.BuildConfig != nil {
			t.Errorf("%s: the default (min) metadata provenance carries the build steps", p)
		}
	}
}

// The build-arg switches of BuildKit's Dockerfile frontend reach the
// generator: a stage marked BUILDKIT_SBOM_SCAN_STAGE and the build context
// (BUILDKIT_SBOM_SCAN_CONTEXT) get SBOMs of their own, in the same
// attestation manifest; XBUILD_SBOM_GENERATOR names the generator.
func TestSBOMScanSwitches(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	reg := env.Registry
	dir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(`ARG BUILDKIT_SBOM_SCAN_CONTEXT=false
FROM %s AS build
ARG BUILDKIT_SBOM_SCAN_STAGE=true
RUN echo hi > /hi
FROM %s
COPY --from=build /hi /hi
`, env.BaseImage, env.BaseImage)})
	count := func(args ...string) int {
		ref := fmt.Sprintf("%s/xbuild-test/scan:%d", reg, time.Now().UnixNano())
		mustXB(t, cfg, append([]string{"build", "--sbom=true", "--provenance=false", "--push", "-t", ref, dir}, args...),
			withEnv("XBUILD_SBOM_GENERATOR="+env.SBOMGenerator))
		var idx struct {
			Manifests []struct {
				Digest      string
				Annotations map[string]string
			}
		}
		raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", ref})
		if err := json.Unmarshal([]byte(raw.Stdout), &idx); err != nil {
			t.Fatalf("--raw: %v\n%s", err, raw.Stdout)
		}
		for _, m := range idx.Manifests {
			if m.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
				continue
			}
			var am struct {
				Layers []struct{ Annotations map[string]string }
			}
			r := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", ref + "@" + m.Digest})
			if err := json.Unmarshal([]byte(r.Stdout), &am); err != nil {
				t.Fatalf("attestation manifest: %v\n%s", err, r.Stdout)
			}
			n := 0
			for _, l := range am.Layers {
				if l.Annotations["in-toto.io/predicate-type"] == "https://spdx.dev/Document" {
					n++
				}
			}
			return n
		}
		t.Fatalf("%s has no attestation manifest:\n%s", ref, raw.Stdout)
		return 0
	}
	if n := count(); n != 2 {
		t.Errorf("final image + scanned stage: %d SBOMs, want 2", n)
	}
	if n := count("--build-arg", "BUILDKIT_SBOM_SCAN_STAGE=false"); n != 1 {
		t.Errorf("stage scan turned off by --build-arg: %d SBOMs, want 1", n)
	}
	if n := count("--build-arg", "BUILDKIT_SBOM_SCAN_CONTEXT=true"); n != 3 {
		t.Errorf("final image + stage + context: %d SBOMs, want 3", n)
	}
}

// A generator that cannot be pulled is named in a one-line error, from
// wherever it was chosen; a generator that fails shows its own message; a
// bad reference is refused before the build; nothing is pushed.
func TestSBOMGeneratorErrors(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	reg := env.Registry
	ref := fmt.Sprintf("%s/xbuild-test/sbom-err:%d", reg, time.Now().UnixNano())
	build := func(extra []string, opts ...runOpt) result {
		args := append([]string{"build", "--push", "-t", ref, "--build-arg", baseArg()}, extra...)
		return xb(t, cfg, append(args, helloContext(t)), opts...)
	}
	missing := reg + "/xbuild-test/no-such-generator:latest"
	for _, tc := range []struct {
		name  string
		extra []string
		opts  []runOpt
		from  string
	}{
		{name: "flag", extra: []string{"--sbom=generator=" + missing}, from: "--sbom generator="},
		{name: "env", extra: []string{"--sbom=true"}, opts: []runOpt{withEnv("XBUILD_SBOM_GENERATOR=" + missing)}, from: "XBUILD_SBOM_GENERATOR"},
	} {
		r := build(tc.extra, tc.opts...)
		last := lastLine(r.Stderr)
		if r.Code == 0 || !strings.Contains(last, "SBOM generator "+missing+" (from "+tc.from+")") || !strings.Contains(last, "not found") {
			t.Errorf("%s: missing generator: want a non-zero exit and an error naming it, got\n%s", tc.name, r)
		}
	}

	r := build([]string{"--sbom=generator=Not/Valid:ref"})
	if r.Code == 0 || !strings.Contains(r.Stderr, `"Not/Valid:ref" is not an image reference`) || strings.Contains(r.Stderr, "#1 ") {
		t.Errorf("bad generator reference: want an error before any build step, got\n%s", r)
	}

	// A generator that exits non-zero, made from the base image.
	broken := fmt.Sprintf("%s/xbuild-test/broken-generator:%d", reg, time.Now().UnixNano())
	gdir := writeContext(t, map[string]string{"Dockerfile": fmt.Sprintf(`FROM %s
ENTRYPOINT ["/bin/sh", "-c", "echo generator-broke-on-purpose >&2; exit 3"]
`, env.BaseImage)})
	mustXB(t, cfg, []string{"build", "--provenance=false", "--push", "-t", broken, gdir})
	r = build([]string{"--sbom=generator=" + broken})
	if r.Code == 0 || !strings.Contains(r.Stderr, "generator-broke-on-purpose") || !strings.Contains(r.Stderr, "exit code: 3") {
		t.Errorf("failing generator: want its message and exit code in the output, got\n%s", r)
	}
	if r := xb(t, cfg, []string{"imagetools", "inspect", ref}); r.Code == 0 {
		t.Errorf("a failed build pushed %s:\n%s", ref, r.Stdout)
	}
}

// With XBUILD_METADATA_PROVENANCE=max the metadata file keeps the build
// steps; disabled leaves the provenance out; a bake metadata file has it
// per target.
func TestMetadataProvenanceModes(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := helloContext(t)
	build := func(mode string, attest ...string) map[string]json.RawMessage {
		if len(attest) == 0 {
			attest = []string{"--provenance=mode=max"}
		}
		md := filepath.Join(t.TempDir(), "md.json")
		mustXB(t, cfg, append([]string{"build", "--metadata-file", md, "--build-arg", baseArg(), dir}, attest...), withEnv("XBUILD_METADATA_PROVENANCE="+mode))
		var m map[string]json.RawMessage
		data, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var prov struct {
		BuildConfig *struct {
			LLBDefinition []json.RawMessage `json:"llbDefinition"`
		} `json:"buildConfig"`
	}
	if err := json.Unmarshal(build("max")["buildx.build.provenance"], &prov); err != nil || prov.BuildConfig == nil || len(prov.BuildConfig.LLBDefinition) == 0 {
		t.Errorf("max: provenance without build steps (%v)", err)
	}
	if _, ok := build("disabled")["buildx.build.provenance"]; ok {
		t.Error("disabled: the metadata file has provenance")
	}
	// BuildKit records provenance for every build; the file has it even
	// when the image carries none, as with buildx.
	if _, ok := build("min", "--provenance=false")["buildx.build.provenance"]; !ok {
		t.Error("--provenance=false: the metadata file has no provenance from the build record")
	}
	if r := xb(t, cfg, []string{"build", "--metadata-file", filepath.Join(t.TempDir(), "x.json"), dir}, withEnv("XBUILD_METADATA_PROVENANCE=everything")); r.Code == 0 ||
		!strings.Contains(r.Stderr, "XBUILD_METADATA_PROVENANCE=everything is not valid") {
		t.Errorf("bad mode: want a clear error, got\n%s", r)
	}

	bakeDir := writeContext(t, map[string]string{"docker-bake.hcl": fmt.Sprintf(`target "one" {
  context = %q
  args = { BASE = %q }
}
`, dir, env.BaseImage)})
	md := filepath.Join(t.TempDir(), "bake.json")
	mustXB(t, cfg, []string{"bake", "--allow", "fs.read=" + dir, "--metadata-file", md, "one"}, withDir(bakeDir))
	var bm map[string]map[string]json.RawMessage
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &bm); err != nil {
		t.Fatal(err)
	}
	if _, ok := bm["one"]["buildx.build.provenance"]; !ok {
		t.Errorf("bake metadata file has no provenance for target one:\n%s", data)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
