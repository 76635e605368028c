package tests

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// twoNodeBuilder creates a builder whose node amd takes linux/amd64 and
// node arm linux/arm64, both on the env's buildkitd.
func twoNodeBuilder(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "duo", "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", "--use", env.BuildKit})
	mustXB(t, cfg, []string{"create", "--append", "--name", "duo", "--node", "arm", "--platform", "linux/arm64", env.BuildKit})
	return cfg
}

// archContext is a build context whose result holds one file per
// platform, named for it, with the architecture the RUN step saw; with
// FAIL_ON set, the build of that platform fails.
func archContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	df := `ARG BASE
FROM ${BASE} AS build
ARG TARGETARCH
ARG FAIL_ON=none
RUN [ "$TARGETARCH" != "$FAIL_ON" ] && mkdir /out && uname -m > /out/arch-$TARGETARCH
FROM scratch
COPY --from=build /out /
`
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fileIs(t *testing.T, path, want string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(b), want) {
		t.Errorf("%s = %q (%v), want %q", path, b, err, want)
	}
}

// noStaging fails when a build left a staging place next to dest.
func noStaging(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("a staging place %s is left in %s", e.Name(), dir)
		}
	}
}

// A build split over two nodes into a folder: a folder per platform, as
// BuildKit writes a multi-platform result, each with its node's files;
// with platform-split=false one folder with both platforms' files.
func TestMultiNodeLocal(t *testing.T) {
	t.Parallel()
	cfg := twoNodeBuilder(t)
	out := t.TempDir()
	dest := filepath.Join(out, "dist")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	fileIs(t, writeFile(t, filepath.Join(dest, "kept"), "from before"), "from before")
	// -o DIR is type=local,dest=DIR.
	r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "-o", dest, "--build-arg", baseArg(), helloContext(t)})
	for _, want := range []string{"building linux/amd64 on node amd", "building linux/arm64 on node arm", "writing the nodes' files to " + dest} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the progress does not say %q:\n%s", want, r.Stderr)
		}
	}
	fileIs(t, filepath.Join(dest, "linux_amd64", "built-for"), "built for linux/amd64 on x86_64")
	fileIs(t, filepath.Join(dest, "linux_arm64", "built-for"), "built for linux/arm64 on aarch64")
	fileIs(t, filepath.Join(dest, "linux_arm64", "hello.sh"), "")
	fileIs(t, filepath.Join(dest, "kept"), "from before")
	noStaging(t, out)

	// mode=delete: the folder becomes exactly the output.
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "-o", "type=local,mode=delete,dest=" + dest,
		"--allow", "buildx.local.delete", "--build-arg", baseArg(), helloContext(t)})
	if _, err := os.Stat(filepath.Join(dest, "kept")); !os.IsNotExist(err) {
		t.Errorf("mode=delete kept a file from before (%v)", err)
	}
	fileIs(t, filepath.Join(dest, "linux_arm64", "built-for"), "built for linux/arm64")

	flat := filepath.Join(out, "flat")
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "-o", "type=local,platform-split=false,dest=" + flat,
		"--build-arg", baseArg(), archContext(t)})
	fileIs(t, filepath.Join(flat, "arch-amd64"), "x86_64")
	fileIs(t, filepath.Join(flat, "arch-arm64"), "aarch64")
	if entries, _ := os.ReadDir(flat); len(entries) != 2 {
		t.Errorf("platform-split=false wrote %d entries, want the two files", len(entries))
	}
}

// A build split over two nodes into a tar: its entries hold both
// platform folders.
func TestMultiNodeTar(t *testing.T) {
	t.Parallel()
	cfg := twoNodeBuilder(t)
	dest := filepath.Join(t.TempDir(), "sub", "out.tar")
	r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "-o", "type=tar,dest=" + dest, "--build-arg", baseArg(), helloContext(t)})
	if !strings.Contains(r.Stderr, "writing the nodes' files as one tar to "+dest) {
		t.Errorf("the tar was not joined from both nodes:\n%s", r.Stderr)
	}
	files := tarFiles(t, dest)
	for p, want := range map[string]string{"linux_amd64/built-for": "built for linux/amd64 on x86_64", "linux_arm64/built-for": "built for linux/arm64 on aarch64"} {
		if !strings.HasPrefix(string(files[p]), want) {
			t.Errorf("tar entry %s = %q, want %q", p, files[p], want)
		}
	}
	if _, ok := files["linux_arm64/hello.sh"]; !ok {
		t.Errorf("the tar has no linux_arm64/hello.sh: %v", slices.Sorted(maps.Keys(files)))
	}
	noStaging(t, filepath.Dir(dest))
}

// A split build that fails leaves the previous folder, tar or image as
// they were, and nothing staged: when a node's build fails, and when the
// nodes' files cannot be put together.
func TestMultiNodeFilesFailure(t *testing.T) {
	t.Parallel()
	cfg := twoNodeBuilder(t)
	out := t.TempDir()
	dest, tarDest := filepath.Join(out, "dist"), filepath.Join(out, "out.tar")
	writeFile(t, filepath.Join(dest, "kept"), "from before")
	writeFile(t, tarDest, "previous tar")
	for _, tc := range []struct {
		name, output, ctx, errHas string
		args                      []string
	}{
		{"arm64 fails, folder", dest, archContext(t), "node arm", []string{"--build-arg", "FAIL_ON=arm64"}},
		{"arm64 fails, tar", "type=tar,dest=" + tarDest, archContext(t), "node arm", []string{"--build-arg", "FAIL_ON=arm64"}},
		{"both write one file", "type=local,platform-split=false,dest=" + dest, helloContext(t), "is in the output of node amd and of node arm: with platform-split=false", nil},
	} {
		args := append([]string{"build", "--platform", "linux/amd64,linux/arm64", "-o", tc.output, "--build-arg", baseArg(), tc.ctx}, tc.args...)
		r := xb(t, cfg, args)
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.errHas) {
			t.Errorf("%s: want a failure with %q, got\n%s", tc.name, tc.errHas, r)
		}
		if entries, _ := os.ReadDir(dest); len(entries) != 1 {
			t.Errorf("%s: the folder holds %d entries, want only what was there", tc.name, len(entries))
		}
		fileIs(t, tarDest, "previous tar")
		noStaging(t, out)
	}
}

// --load of a split build into a containerd-store engine whose containerd
// this host does not reach (XBUILD_DIRECT_LOAD=0 stands for that): the
// joined index goes to the engine's load endpoint as one OCI archive, and
// the engine holds both platforms with their attestations. A failed share
// leaves no image under the name.
func TestMultiNodeLoadEndpoint(t *testing.T) {
	t.Parallel()
	cfg := twoNodeBuilder(t)
	host := env.DockerContainerd
	api := engine(t, host)
	tag := uniqueTag(t, "multinode-endpoint")
	r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--load", "-t", tag, "--build-arg", baseArg(), helloContext(t)},
		withDockerHost(host), withEnv("XBUILD_DIRECT_LOAD=0"))
	for _, want := range []string{"building linux/arm64 on node arm", "loading through the engine's image load endpoint",
		"loading the nodes' images as one OCI archive through the image load endpoint"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the progress does not say %q:\n%s", want, r.Stderr)
		}
	}
	if kinds := manifestKinds(t, api, tag); strings.Join(kinds["image"], ",") != "linux/amd64,linux/arm64" || len(kinds["attestation"]) != 2 {
		t.Errorf("loaded manifests = %v, want both platforms with their attestations", kinds)
	}
	if got := runImage(t, api, tag, "linux/arm64"); !strings.Contains(got, "built for linux/arm64 on aarch64") {
		t.Errorf("the arm64 variant printed %q", got)
	}

	failed := uniqueTag(t, "multinode-endpoint-failed")
	r = xb(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--load", "-t", failed, "--build-arg", baseArg(),
		"--build-arg", "FAIL_ON=arm64", archContext(t)}, withDockerHost(host), withEnv("XBUILD_DIRECT_LOAD=0"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "node arm") {
		t.Errorf("a failing share: want a failure naming node arm, got\n%s", r)
	}
	if _, err := api.ImageInspect(context.Background(), failed); err == nil {
		t.Errorf("%s exists after a failed build", failed)
	}
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
