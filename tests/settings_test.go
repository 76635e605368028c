package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// fronts are the three ways into a build; a switch must mean the same to
// each.
var fronts = []string{"build", "bake", "action"}

// frontJob is one build, said the same way to build, bake and the action.
type frontJob struct {
	cfg      string // config folder; builder r lives there when used
	builder  string // empty: the Docker context's (docker driver)
	ctxDir   string
	buildArg string // KEY=VALUE, or empty
	tag      string
	platform string
	load     bool
	output   string // an --output value, or empty
	metadata string // where the metadata file goes, or empty
}

// runFront runs j through front with env added to the environment.
func runFront(t *testing.T, front string, j frontJob, env ...string) result {
	t.Helper()
	var args []string
	switch front {
	case "action":
		return j.runAction(t, env)
	case "build":
		args = []string{"build"}
		for flag, v := range map[string]string{"--platform": j.platform, "--output": j.output, "--build-arg": j.buildArg, "-t": j.tag} {
			if v != "" {
				args = append(args, flag, v)
			}
		}
	case "bake":
		// The context is a folder of its own, outside the one bake runs
		// in: reading it is granted, as with buildx.
		args = []string{"bake", "-f", j.bakeFile(t), "--allow", "fs.read=" + j.ctxDir}
		if _, dest, ok := strings.Cut(j.output, "dest="); ok {
			args = append(args, "--allow", "fs.write="+filepath.Dir(dest))
		}
	}
	if j.builder != "" {
		args = append(args, "--builder", j.builder)
	}
	if j.load {
		args = append(args, "--load")
	}
	if j.metadata != "" {
		args = append(args, "--metadata-file", j.metadata)
	}
	if front == "build" {
		args = append(args, j.ctxDir)
	}
	return xb(t, j.cfg, args, withEnv(env...))
}

// bakeFile writes j as the default target of a bake file.
func (j frontJob) bakeFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "target \"default\" {\n  context = %q\n", j.ctxDir)
	if k, v, ok := strings.Cut(j.buildArg, "="); ok {
		fmt.Fprintf(&b, "  args = { %s = %q }\n", k, v)
	}
	for key, v := range map[string]string{"platforms": j.platform, "output": j.output, "tags": j.tag} {
		if v != "" {
			fmt.Fprintf(&b, "  %s = [%q]\n", key, v)
		}
	}
	b.WriteString("}\n")
	p := filepath.Join(t.TempDir(), "docker-bake.hcl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runAction runs j as the GitHub Action's build step, with the config
// folder (and so builder r) of the other fronts; its metadata output goes
// where their metadata file does.
func (j frontJob) runAction(t *testing.T, env []string) result {
	t.Helper()
	r := newRunner(t, true)
	inputs := map[string]string{"context": j.ctxDir, "xbuild-path": xbuildBin, "load": fmt.Sprint(j.load)}
	for k, v := range map[string]string{"builder": j.builder, "build-args": j.buildArg, "tags": j.tag, "platforms": j.platform, "outputs": j.output} {
		if v != "" {
			inputs[k] = v
		}
	}
	res := r.step("main.js", inputs, append(slices.Clone(env), "XBUILD_CONFIG="+j.cfg)...)
	if j.metadata != "" && res.Code == 0 {
		if err := os.WriteFile(j.metadata, []byte(r.file(r.output)["metadata"]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// hasMetadataProvenance: the metadata file carries buildx.build.provenance
// (bake's, under the target's name).
func hasMetadataProvenance(t *testing.T, front, path string) bool {
	t.Helper()
	var md map[string]json.RawMessage
	data, err := os.ReadFile(path)
	if err == nil && front == "bake" {
		var byTarget map[string]json.RawMessage
		if err = json.Unmarshal(data, &byTarget); err == nil {
			data = byTarget["default"]
		}
	}
	if err != nil || json.Unmarshal(data, &md) != nil {
		t.Fatalf("metadata file %s: %v\n%s", path, err, data)
	}
	_, ok := md["buildx.build.provenance"]
	return ok
}

// XBUILD_DIRECT_LOAD and XBUILD_LOAD_CONTAINERD pick how a remote
// builder's --load reaches the containerd store, for every front: 0 through
// the engine's load endpoint, true straight into its containerd, and a
// containerd named that this host lacks back through the endpoint.
func TestSettingsDirectLoad(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	api := engine(t, host)
	for _, tc := range []struct {
		env, want, notWant string
	}{
		{env: "XBUILD_DIRECT_LOAD=0", want: "loading through the engine's image load endpoint", notWant: "loading into containerd"},
		{env: "XBUILD_DIRECT_LOAD=true", want: "loading into containerd", notWant: "image load endpoint"},
		{env: "XBUILD_LOAD_CONTAINERD=containerd:///no/such.sock", want: "the containerd socket /no/such.sock is not on this host", notWant: "loading into containerd"},
	} {
		for _, front := range fronts {
			t.Run(tc.env+"/"+front, func(t *testing.T) {
				t.Parallel()
				j := frontJob{cfg: cfg, builder: "r", ctxDir: ctxDir, buildArg: baseArg(), tag: uniqueTag(t, "direct-"+front),
					platform: "linux/amd64", load: true}
				r := runFront(t, front, j, "DOCKER_HOST="+host, tc.env)
				if r.Code != 0 {
					t.Fatalf("%s failed:\n%s", front, r)
				}
				if !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, tc.notWant) {
					t.Errorf("%s with %s: progress should say %q, not %q:\n%s", front, tc.env, tc.want, tc.notWant, r.Stderr)
				}
				if got := manifestKinds(t, api, j.tag)["image"]; !slices.Equal(got, []string{"linux/amd64"}) {
					t.Errorf("%s: image manifests = %v, want [linux/amd64]", front, got)
				}
			})
		}
	}
}

// On the docker driver, whose image export carries the default provenance,
// XBUILD_NO_DEFAULT_ATTESTATIONS=1 leaves it out, and
// BUILDX_METADATA_PROVENANCE=disabled leaves the metadata file's out, for
// every front (the action, which otherwise asks for provenance itself, too).
func TestSettingsNoDefaultAttestations(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	ctxDir := helloContext(t)
	api := engine(t, host)
	for _, tc := range []struct {
		env          string
		attestations int
		mdProvenance bool
	}{
		{env: "", attestations: 1, mdProvenance: true},
		{env: "XBUILD_NO_DEFAULT_ATTESTATIONS=1", attestations: 0, mdProvenance: true},
		{env: "BUILDX_METADATA_PROVENANCE=disabled", attestations: 1, mdProvenance: false},
	} {
		for _, front := range fronts {
			t.Run(tc.env+"/"+front, func(t *testing.T) {
				t.Parallel()
				j := frontJob{cfg: t.TempDir(), ctxDir: ctxDir, buildArg: baseArg(), tag: uniqueTag(t, "attest-"+front),
					platform: "linux/amd64", load: true, metadata: filepath.Join(t.TempDir(), "md.json")}
				r := runFront(t, front, j, "DOCKER_HOST="+host, tc.env)
				if r.Code != 0 {
					t.Fatalf("%s failed:\n%s", front, r)
				}
				kinds := manifestKinds(t, api, j.tag)
				if !slices.Equal(kinds["image"], []string{"linux/amd64"}) || len(kinds["attestation"]) != tc.attestations {
					t.Errorf("%s with %q: manifests = %v, want linux/amd64 and %d attestation(s)", front, tc.env, kinds, tc.attestations)
				}
				if got := hasMetadataProvenance(t, front, j.metadata); got != tc.mdProvenance {
					t.Errorf("%s with %q: provenance in the metadata file = %v, want %v", front, tc.env, got, tc.mdProvenance)
				}
			})
		}
	}
}

// The docker driver loads a build without outputs by default;
// BUILDX_NO_DEFAULT_LOAD=true keeps it from doing so, for every front.
func TestSettingsNoDefaultLoad(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	ctxDir := helloContext(t)
	api := engine(t, host)
	for _, env := range []string{"", "BUILDX_NO_DEFAULT_LOAD=true"} {
		for _, front := range fronts {
			t.Run(env+"/"+front, func(t *testing.T) {
				t.Parallel()
				j := frontJob{cfg: t.TempDir(), ctxDir: ctxDir, buildArg: baseArg(), tag: uniqueTag(t, "defload-"+front), platform: "linux/amd64"}
				if r := runFront(t, front, j, "DOCKER_HOST="+host, env); r.Code != 0 {
					t.Fatalf("%s failed:\n%s", front, r)
				}
				_, err := api.ImageInspect(t.Context(), j.tag)
				if loaded := err == nil; loaded != (env == "") {
					t.Errorf("%s with %q: image loaded = %v (%v)", front, env, loaded, err)
				}
			})
		}
	}
}

// A bad value stops every front the same way, before any build: exit 1
// and one error line naming the variable and what it takes.
func TestSettingsInvalid(t *testing.T) {
	t.Parallel()
	ctxDir := helloContext(t)
	host := env.DockerContainerd
	for _, tc := range []struct {
		name, env, platform, want string
	}{
		{name: "direct load yes", env: "XBUILD_DIRECT_LOAD=yes", want: "ERROR: XBUILD_DIRECT_LOAD=yes is not valid: use true or false (also 1, 0, t, f, TRUE, FALSE, True, False)"},
		{name: "direct load no", env: "XBUILD_DIRECT_LOAD=no", want: "ERROR: XBUILD_DIRECT_LOAD=no is not valid: use true or false"},
		{name: "no default load", env: "BUILDX_NO_DEFAULT_LOAD=on", want: "ERROR: BUILDX_NO_DEFAULT_LOAD=on is not valid: use true or false"},
		{name: "no default attestations", env: "XBUILD_NO_DEFAULT_ATTESTATIONS=2", want: "ERROR: XBUILD_NO_DEFAULT_ATTESTATIONS=2 is not valid: use true or false"},
		{name: "metadata provenance", env: "BUILDX_METADATA_PROVENANCE=everything", want: "ERROR: BUILDX_METADATA_PROVENANCE=everything is not valid: use min, max, disabled, or true or false"},
		{name: "load containerd", env: "XBUILD_LOAD_CONTAINERD=/run/containerd.sock", want: "ERROR: XBUILD_LOAD_CONTAINERD=/run/containerd.sock is not valid: want containerd://SOCKET"},
		{name: "sbom generator", env: "XBUILD_SBOM_GENERATOR=Not/Valid", want: `ERROR: XBUILD_SBOM_GENERATOR=Not/Valid is not valid: "Not/Valid" is not an image reference`},
		{name: "progress", env: "BUILDKIT_PROGRESS=fancy", want: "ERROR: BUILDKIT_PROGRESS=fancy is not valid: use auto, tty, plain, quiet or rawjson"},
		{name: "platform typo", platform: "linux/amd65", want: `invalid platform "linux/amd65": unknown architecture "amd65"; use OS/ARCH[/VARIANT]`},
		{name: "os typo", platform: "linx/amd64", want: `invalid platform "linx/amd64": unknown operating system "linx"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines := map[string]string{}
			for _, front := range fronts {
				j := frontJob{cfg: t.TempDir(), ctxDir: ctxDir, buildArg: baseArg(), platform: tc.platform}
				r := runFront(t, front, j, "DOCKER_HOST="+host, tc.env)
				if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, "#1 ") {
					t.Errorf("%s: want exit 1 with %q before any build step, got\n%s", front, tc.want, r)
				}
				lines[front] = errorLine(r.Stderr)
			}
			if tc.env != "" && (lines["build"] != lines["bake"] || lines["build"] != lines["action"]) {
				t.Errorf("the fronts disagree:\nbuild:  %s\nbake:   %s\naction: %s", lines["build"], lines["bake"], lines["action"])
			}
		})
	}
}

func errorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ERROR: ") {
			return l
		}
	}
	return ""
}

// wasmContext is a WebAssembly image: a module on scratch.
func wasmContext(t *testing.T) string {
	return writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app.wasm /\nENTRYPOINT [\"/app.wasm\"]\n",
		// The smallest valid module: magic number and version.
		"app.wasm": "\x00asm\x01\x00\x00\x00",
	})
}

// wasi/wasm builds through every front: to an OCI archive from the remote
// builder, whose index says wasi/wasm, and loaded by the docker driver into
// the containerd store, whose manifest says the same.
func TestWasmPlatform(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := wasmContext(t)
	api := engine(t, host)
	for _, front := range fronts {
		t.Run("oci/"+front, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "wasm.oci.tar")
			j := frontJob{cfg: cfg, builder: "r", ctxDir: ctxDir, platform: "wasi/wasm", output: "type=oci,dest=" + dest}
			if r := runFront(t, front, j, "DOCKER_HOST="+host); r.Code != 0 {
				t.Fatalf("%s failed:\n%s", front, r)
			}
			if got := ociPlatforms(t, dest); !slices.Equal(got, []string{"wasi/wasm"}) {
				t.Errorf("%s: OCI archive platforms = %v, want [wasi/wasm]", front, got)
			}
		})
		t.Run("load/"+front, func(t *testing.T) {
			t.Parallel()
			j := frontJob{cfg: t.TempDir(), ctxDir: ctxDir, platform: "wasi/wasm", tag: uniqueTag(t, "wasm-"+front), load: true}
			if r := runFront(t, front, j, "DOCKER_HOST="+host); r.Code != 0 {
				t.Fatalf("%s failed:\n%s", front, r)
			}
			if got := manifestKinds(t, api, j.tag)["image"]; !slices.Equal(got, []string{"wasi/wasm"}) {
				t.Errorf("%s: image manifests in the containerd store = %v, want [wasi/wasm]", front, got)
			}
		})
	}
}

// ociPlatforms follows an OCI archive's index.json through any image
// index to its image manifests and lists their platforms, as the
// descriptors say them (else the image configuration); attestation
// manifests are left out.
func ociPlatforms(t *testing.T, path string) []string {
	t.Helper()
	files := tarFiles(t, path)
	blob := func(d ocispecs.Descriptor) []byte {
		return files["blobs/"+d.Digest.Algorithm().String()+"/"+d.Digest.Encoded()]
	}
	var out []string
	var walk func(data []byte)
	walk = func(data []byte) {
		var idx ocispecs.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			t.Fatalf("reading an index of %s: %v", path, err)
		}
		for _, d := range idx.Manifests {
			switch {
			case d.MediaType == ocispecs.MediaTypeImageIndex:
				walk(blob(d))
			case d.Annotations["vnd.docker.reference.type"] == "attestation-manifest":
			case d.Platform != nil:
				out = append(out, d.Platform.OS+"/"+d.Platform.Architecture)
			default:
				var m ocispecs.Manifest
				var cfg ocispecs.Image
				if json.Unmarshal(blob(d), &m) != nil || json.Unmarshal(blob(m.Config), &cfg) != nil {
					t.Fatalf("reading manifest %s of %s", d.Digest, path)
				}
				out = append(out, cfg.OS+"/"+cfg.Architecture)
			}
		}
	}
	walk(files["index.json"])
	slices.Sort(out)
	return out
}
