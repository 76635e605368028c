package tests

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	dockerclient "github.com/moby/moby/client"
)

const documentedError = `[+] Building 0.0s (0/0)
ERROR: Multi-platform build is not supported for the docker driver.
Switch to a different driver, or turn on the containerd image store, and try again.
Learn more at https://docs.docker.com/go/build-multi-platform/
`

// The docker driver on the classic store refuses two platforms with the
// documented text, before reading the build context: a context that does
// not exist gets the same answer.
func TestMultiPlatformOnClassicStoreIsRefused(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	for _, ctxDir := range []string{helloContext(t), filepath.Join(t.TempDir(), "missing")} {
		r := xb(t, cfg, []string{"build", "--platform=linux/amd64,linux/arm64", ctxDir},
			withDockerHost(env.DockerClassic))
		if r.Code != 1 {
			t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
		}
		if r.Stderr != documentedError {
			t.Errorf("stderr =\n%q\nwant\n%q", r.Stderr, documentedError)
		}
		if r.Stdout != "" {
			t.Errorf("stdout = %q, want nothing", r.Stdout)
		}
	}
}

func TestSinglePlatformLoadIntoClassicStore(t *testing.T) {
	t.Parallel()
	host := env.DockerClassic
	tag := uniqueTag(t, "classic")
	iid := filepath.Join(t.TempDir(), "iid")
	mustXB(t, t.TempDir(), []string{"build", "--platform=linux/amd64", "--load", "-t", tag,
		"--build-arg", baseArg(), "--iidfile", iid, helloContext(t)}, withDockerHost(host))
	api := engine(t, host)
	img, err := api.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatalf("ImageInspect(%s) on the classic engine: %v", tag, err)
	}
	want, _ := os.ReadFile(iid)
	if img.ID != string(want) {
		t.Errorf("image ID = %s, iidfile says %s", img.ID, want)
	}
	if got := runImage(t, api, tag, "linux/amd64"); !strings.Contains(got, "hello from x86_64") {
		t.Errorf("running %s printed %q", tag, got)
	}
}

// Two platforms with default provenance land as one index in the
// containerd store, on the docker driver (native export) and on the remote
// driver (OCI archive through the engine's load endpoint).
func TestMultiPlatformLoadIntoContainerdStore(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	for _, tc := range []struct {
		name, driver, env, progress string
	}{
		{name: "docker", driver: "docker"},
		{name: "remote direct", driver: "remote", progress: "blobs already present"},
		{name: "remote engine api", driver: "remote", env: "XBUILD_DIRECT_LOAD=0", progress: "loading through the engine's image load endpoint, not incrementally"},
		{name: "remote configured containerd", driver: "remote", env: "XBUILD_LOAD_CONTAINERD=containerd://" + strings.TrimPrefix(env.ContainerdOfEngine, "unix://") + "?namespace=moby", progress: "blobs already present"},
		{name: "remote configured socket missing", driver: "remote", env: "XBUILD_LOAD_CONTAINERD=containerd:///no/such.sock", progress: "the containerd socket /no/such.sock is not on this host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := t.TempDir()
			args := []string{"build", "--platform=linux/amd64,linux/arm64", "--load"}
			if tc.driver == "remote" {
				mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
				args = append(args, "--builder", "r")
			}
			tag := uniqueTag(t, "multi")
			md := filepath.Join(t.TempDir(), "md.json")
			r := mustXB(t, cfg, append(args, "-t", tag, "--build-arg", baseArg(), "--metadata-file", md, helloContext(t)),
				withDockerHost(host), withEnv(tc.env))
			if !strings.Contains(r.Stderr, tc.progress) {
				t.Errorf("progress lacks %q:\n%s", tc.progress, r.Stderr)
			}
			api := engine(t, host)
			kinds := manifestKinds(t, api, tag)
			if got, want := kinds["image"], []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
				t.Errorf("image manifests = %v, want %v", got, want)
			}
			if got := len(kinds["attestation"]); got != 2 {
				t.Errorf("attestation manifests = %d, want 2 (one per platform)", got)
			}
			for plat, want := range map[string]string{"linux/arm64": "hello from aarch64", "linux/amd64": "hello from x86_64"} {
				if got := runImage(t, api, tag, plat); !strings.Contains(got, want) {
					t.Errorf("running %s for %s printed %q, want %q", tag, plat, got, want)
				}
			}
			checkMetadata(t, md, tag, api)
		})
	}
}

func TestProvenanceOff(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	api := engine(t, host)
	for name, opt := range map[string]struct {
		flags []string
		env   string
	}{
		"flag":       {flags: []string{"--provenance=false"}},
		"env":        {env: "XBUILD_NO_DEFAULT_ATTESTATIONS=1"},
		"buildx env": {env: "BUILDX_NO_DEFAULT_ATTESTATIONS=true"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tag := uniqueTag(t, "noprov")
			args := append([]string{"build", "--platform=linux/amd64,linux/arm64", "--load", "-t", tag, "--build-arg", baseArg()}, opt.flags...)
			mustXB(t, t.TempDir(), append(args, helloContext(t)), withDockerHost(host), withEnv(opt.env))
			kinds := manifestKinds(t, api, tag)
			if len(kinds["image"]) != 2 || len(kinds["attestation"]) != 0 {
				t.Errorf("manifests = %v, want two images and no attestation", kinds)
			}
		})
	}
}

// The remote driver refuses to load two platforms into a classic store,
// naming the store and the ways out, and loads nothing.
func TestRemoteMultiPlatformLoadIntoClassicStore(t *testing.T) {
	t.Parallel()
	host := env.DockerClassic
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	tag := uniqueTag(t, "remote-classic")
	r := xb(t, cfg, []string{"build", "--builder", "r", "--platform=linux/amd64,linux/arm64", "--load", "-t", tag,
		"--build-arg", baseArg(), helloContext(t)}, withDockerHost(host))
	if r.Code != 1 {
		t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
	}
	for _, want := range []string{"classic image store", "turn on the containerd image store", "single platform"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if _, err := engine(t, host).ImageInspect(context.Background(), tag); err == nil {
		t.Errorf("%s exists in the classic engine after a refused build", tag)
	}
	// One platform without attestations loads as a plain image.
	mustXB(t, cfg, []string{"build", "--builder", "r", "--platform=linux/arm64", "--load", "-t", tag,
		"--build-arg", baseArg(), helloContext(t)}, withDockerHost(host))
	if got := runImage(t, engine(t, host), tag, "linux/arm64"); !strings.Contains(got, "hello from aarch64") {
		t.Errorf("running %s printed %q", tag, got)
	}
}

// manifestKinds asks the engine for the image's manifests, as
// GET /images/{name}/json?manifests=1 lists them, grouped by kind.
func manifestKinds(t *testing.T, api *dockerclient.Client, ref string) map[string][]string {
	t.Helper()
	img, err := api.ImageInspect(context.Background(), ref, dockerclient.ImageInspectWithManifests(true))
	if err != nil {
		t.Fatalf("ImageInspect(%s): %v", ref, err)
	}
	out := map[string][]string{}
	for _, m := range img.Manifests {
		p := ""
		if m.Kind == image.ManifestKindImage && m.ImageData != nil {
			p = platforms.Format(m.ImageData.Platform)
		}
		out[string(m.Kind)] = append(out[string(m.Kind)], p)
	}
	slices.Sort(out["image"])
	return out
}

// runImage runs the image's default command for a platform and returns
// what it printed.
func runImage(t *testing.T, api *dockerclient.Client, ref, platform string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := platforms.MustParse(platform)
	c, err := api.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Config:   &container.Config{Image: ref, Tty: true},
		Platform: &p,
	})
	if err != nil {
		t.Fatalf("creating a %s container of %s: %v", platform, ref, err)
	}
	defer api.ContainerRemove(context.Background(), c.ID, dockerclient.ContainerRemoveOptions{Force: true}) //nolint:errcheck
	wait := api.ContainerWait(ctx, c.ID, dockerclient.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := api.ContainerStart(ctx, c.ID, dockerclient.ContainerStartOptions{}); err != nil {
		t.Fatalf("starting a %s container of %s: %v", platform, ref, err)
	}
	select {
	case err := <-wait.Error:
		t.Fatalf("waiting for the %s container of %s: %v", platform, ref, err)
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			t.Errorf("the %s container of %s exited %d", platform, ref, res.StatusCode)
		}
	}
	logs, err := api.ContainerLogs(ctx, c.ID, dockerclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	out, _ := io.ReadAll(logs)
	return string(out)
}

// checkMetadata checks the metadata file against buildx's keys and the
// engine's view of the image.
func checkMetadata(t *testing.T, path, tag string, api *dockerclient.Client) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]json.RawMessage
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatalf("metadata file is not JSON: %v\n%s", err, data)
	}
	var digest, name, ref string
	_ = json.Unmarshal(md["containerimage.digest"], &digest)
	_ = json.Unmarshal(md["image.name"], &name)
	_ = json.Unmarshal(md["buildx.build.ref"], &ref)
	var desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	}
	if err := json.Unmarshal(md["containerimage.descriptor"], &desc); err != nil {
		t.Errorf("containerimage.descriptor is not an embedded descriptor: %s", md["containerimage.descriptor"])
	}
	if desc.MediaType != "application/vnd.oci.image.index.v1+json" || desc.Digest != digest {
		t.Errorf("containerimage.descriptor = %+v, want an OCI index with digest %s", desc, digest)
	}
	if !strings.Contains(name, strings.TrimPrefix(tag, "docker.io/library/")) {
		t.Errorf("image.name = %q, want it to name %s", name, tag)
	}
	if strings.Count(ref, "/") != 2 {
		t.Errorf("buildx.build.ref = %q, want builder/node/ref", ref)
	}
	if _, ok := md["containerimage.config.digest"]; ok {
		t.Errorf("metadata has containerimage.config.digest on the containerd store")
	}
	img, err := api.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != digest {
		t.Errorf("engine image ID = %s, metadata digest = %s", img.ID, digest)
	}
}
