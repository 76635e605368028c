package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/platforms"
	dockerclient "github.com/moby/moby/client"
)

var loadSummary = regexp.MustCompile(`(\d+) of (\d+) blobs already present, sent (\d+) \(`)

// loadCounts reads the direct load's summary line from the progress.
func loadCounts(t *testing.T, stderr string) (present, total, sent int) {
	t.Helper()
	m := loadSummary.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no load summary in the progress:\n%s", stderr)
	}
	present, _ = strconv.Atoi(m[1])
	total, _ = strconv.Atoi(m[2])
	sent, _ = strconv.Atoi(m[3])
	return present, total, sent
}

// A remote builder loading into the containerd store sends only the blobs
// the store lacks.
func TestIncrementalLoad(t *testing.T) {
	t.Parallel()
	host := withDockerHost(env.DockerContainerd)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	tag := uniqueTag(t, "incremental")
	build := func() result {
		return mustXB(t, cfg, []string{"build", "--builder", "r", "--platform=linux/amd64,linux/arm64", "--load",
			"--provenance=false", "-t", tag, "--build-arg", baseArg(), ctxDir}, host)
	}
	build()
	// The same image again: everything is there, nothing is sent.
	present, total, sent := loadCounts(t, build().Stderr)
	if sent != 0 || present != total {
		t.Errorf("second load of the same image: %d of %d present, sent %d; want all present, none sent", present, total, sent)
	}
	// One file changed: its layer (the same for both platforms), two
	// manifests, two configs and the index.
	if err := os.WriteFile(filepath.Join(ctxDir, "hello.sh"), []byte("#!/bin/sh\necho changed on $(uname -m)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := build()
	present, total, sent = loadCounts(t, r.Stderr)
	if sent == 0 || sent > 6 || present < total-6 {
		t.Errorf("load after a one-file change: %d of %d present, sent %d; want at most 6 sent", present, total, sent)
	}
	api := engine(t, env.DockerContainerd)
	for plat, want := range map[string]string{"linux/arm64": "changed on aarch64", "linux/amd64": "changed on x86_64"} {
		if got := runImage(t, api, tag, plat); !strings.Contains(got, want) {
			t.Errorf("running %s for %s printed %q, want %q", tag, plat, got, want)
		}
	}
	kinds := manifestKinds(t, api, tag)
	if len(kinds["image"]) != 2 {
		t.Errorf("manifests after incremental loads = %v, want two images", kinds)
	}
}

// --load=containerd://SOCKET?namespace=NS loads into a containerd that no
// engine fronts: every platform complete, named, the host's unpacked.
func TestLoadIntoContainerd(t *testing.T) {
	t.Parallel()
	sock := strings.TrimPrefix(env.Containerd, "unix://")
	ns := "xbuild-test-" + strconv.FormatInt(int64(os.Getpid()), 10)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	r := mustXB(t, cfg, []string{"build", "--builder", "r", "--platform=linux/amd64,linux/arm64",
		"--load=containerd://" + sock + "?namespace=" + ns, "-t", "example/hello:ctd", "--build-arg", baseArg(), helloContext(t)})
	if _, total, _ := loadCounts(t, r.Stderr); total < 10 {
		t.Errorf("load summary counts %d blobs, want a two-platform index", total)
	}
	c, err := client.New(sock, client.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	t.Cleanup(func() { cleanNamespace(ctx, c) })
	img, err := c.ImageService().Get(ctx, "docker.io/example/hello:ctd")
	if err != nil {
		t.Fatalf("the image is not in namespace %s: %v", ns, err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		ok, _, _, missing, err := images.Check(ctx, c.ContentStore(), img.Target, platforms.Only(platforms.MustParse(p)))
		if err != nil || !ok || len(missing) > 0 {
			t.Errorf("%s content: complete=%v missing=%v err=%v", p, ok, missing, err)
		}
	}
	unpacked, err := client.NewImageWithPlatform(c, img, platforms.Only(platforms.DefaultSpec())).IsUnpacked(ctx, "overlayfs")
	if err != nil || !unpacked {
		t.Errorf("host platform unpacked = %v, %v", unpacked, err)
	}
	// Bad targets fail before building.
	r = xb(t, cfg, []string{"build", "--builder", "r", "--load=containerd:///no/such.sock", "-t", "x:1", helloContext(t)})
	if r.Code != 1 || !strings.Contains(r.Stderr, "loading into containerd at /no/such.sock") {
		t.Errorf("unreachable containerd: %s", r)
	}
}

// cleanNamespace removes what a test loaded and the namespace itself.
func cleanNamespace(ctx context.Context, c *client.Client) {
	is := c.ImageService()
	imgs, _ := is.List(ctx)
	for _, i := range imgs {
		_ = is.Delete(ctx, i.Name, images.SynchronousDelete())
	}
	sn := c.SnapshotService("overlayfs")
	var keys []string
	_ = sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error { keys = append(keys, i.Name); return nil })
	for range 5 { // children first; retry until the chains are gone
		for _, k := range keys {
			_ = sn.Remove(ctx, k)
		}
	}
	if ns, ok := namespaces.Namespace(ctx); ok {
		_ = c.NamespaceService().Delete(ctx, ns)
	}
}

// Ctrl-C in the middle of a direct load leaves the previous image under
// its name, complete and runnable.
func TestInterruptedLoadKeepsPreviousImage(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	dir := t.TempDir()
	df := "FROM " + env.BaseImage + "\nARG SEED\nRUN echo $SEED > /seed && head -c 150000000 /dev/urandom > /big\nCMD [\"cat\", \"/seed\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := uniqueTag(t, "interrupted")
	args := func(seed string) []string {
		return []string{"build", "--builder", "r", "--platform", "linux/amd64", "--provenance=false", "--load", "-t", tag,
			"--build-arg", "SEED=" + seed, "--progress=plain", dir}
	}
	mustXB(t, cfg, args("first"), withDockerHost(host))
	api := engine(t, host)
	before, err := api.ImageInspect(t.Context(), tag)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(xbuildBin, args("second")...)
	cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg, "DOCKER_HOST="+host)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(stderr.String(), "exporting layers") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the export never started:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code after SIGINT during the load = %d, want 130\n%s", code, stderr.String())
	}
	after, err := api.ImageInspect(t.Context(), tag)
	if err != nil {
		t.Fatalf("%s is gone after an interrupted load: %v", tag, err)
	}
	if after.ID != before.ID {
		t.Errorf("%s now points at %s, want the previous %s", tag, after.ID, before.ID)
	}
	if got := runImage(t, api, tag, "linux/amd64"); !strings.Contains(got, "first") {
		t.Errorf("the previous image printed %q after an interrupted load", got)
	}
}

// An untagged direct load stays in the engine as a dangling image, found
// by the ID -q prints.
func TestUntaggedDirectLoad(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	host := env.DockerContainerd
	r := mustXB(t, cfg, []string{"build", "-q", "--load", "--build-arg", baseArg(), helloContext(t)}, withDockerHost(host))
	id := strings.TrimSpace(r.Stdout)
	api := engine(t, host)
	if _, err := api.ImageInspect(t.Context(), id); err != nil {
		t.Errorf("the untagged image %s is not in the engine: %v", id, err)
	}
	t.Cleanup(func() {
		_, _ = api.ImageRemove(context.Background(), id, dockerclient.ImageRemoveOptions{Force: true})
	})
}
