package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"
)

// onEngine runs xbuild against the engine at host, with docker-container
// builders pointed at the env's BuildKit image, as a user without Docker
// Hub would point them.
func onEngine(host string) runOpt {
	return func(c *exec.Cmd) {
		withDockerHost(host)(c)
		withEnv("XBUILD_BUILDKIT_IMAGE=" + env.BuildKitImage)(c)
	}
}

// containerBuilder creates a docker-container builder on the engine at
// host, named uniquely (containers are named after it, engine-wide), and
// removes its container and volume when the test ends.
func containerBuilder(t *testing.T, cfg, host string, args ...string) string {
	t.Helper()
	name := fmt.Sprintf("xbt%d", time.Now().UnixNano())
	mustXB(t, cfg, append([]string{"create", "--driver", "docker-container", "--name", name}, args...), onEngine(host))
	t.Cleanup(func() { removeContainerNode(host, name+"0") })
	return name
}

func removeContainerNode(host, node string) {
	c, err := dockerclient.New(dockerclient.WithHost(host), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = c.ContainerRemove(ctx, "buildx_buildkit_"+node, dockerclient.ContainerRemoveOptions{Force: true})
	_, _ = c.VolumeRemove(ctx, "buildx_buildkit_"+node+"_state", dockerclient.VolumeRemoveOptions{Force: true})
}

func inspectContainer(t *testing.T, host, node string) (json.RawMessage, bool) {
	t.Helper()
	res, err := engine(t, host).ContainerInspect(t.Context(), "buildx_buildkit_"+node, dockerclient.ContainerInspectOptions{})
	if err != nil {
		return nil, false
	}
	return res.Raw, true
}

// The classic store's way out that the documented error names: a
// docker-container builder on the same engine pushes a two-platform index
// with attestations.
func TestContainerDriverMultiPlatformPushFromClassic(t *testing.T) {
	t.Parallel()
	classic := env.DockerClassic
	cfg := t.TempDir()
	name := containerBuilder(t, cfg, classic, "--use")
	reg := env.Registry
	repo := "xbuild-test/container-" + name
	mustXB(t, cfg, []string{"build", "--platform=linux/amd64,linux/arm64", "--push", "-t", reg + "/" + repo + ":1",
		"--build-arg", baseArg(), helloContext(t)}, onEngine(classic))
	raw, ok := inspectContainer(t, classic, name+"0")
	if !ok || !strings.Contains(string(raw), `"com.docker.buildx.builder":"`+name+`"`) {
		t.Errorf("no container buildx_buildkit_%s0 labelled with its builder: %s", name, raw)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg+"/v2/"+repo+"/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index struct {
		Manifests []struct {
			Platform    struct{ Architecture, OS string }
			Annotations map[string]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatalf("registry answered %s: %v", resp.Status, err)
	}
	images, attestations := 0, 0
	for _, m := range index.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			attestations++
		} else if m.Platform.OS == "linux" {
			images++
		}
	}
	if images != 2 || attestations != 2 {
		t.Errorf("pushed index has %d images and %d attestations, want 2 and 2", images, attestations)
	}
}

// Every driver option lands on the container, as docker inspect shows it.
func TestContainerDriverOptions(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	conf := filepath.Join(t.TempDir(), "buildkitd.toml")
	if err := os.WriteFile(conf, []byte("debug = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := containerBuilder(t, cfg, host, "--bootstrap", "--buildkitd-config", conf, "--buildkitd-flags", "--oci-worker-gc=false",
		"--driver-opt", "memory=768m", "--driver-opt", "memory-swap=1g", "--driver-opt", "cpu-period=100000",
		"--driver-opt", "cpu-quota=150000", "--driver-opt", "cpu-shares=512", "--driver-opt", "cpuset-cpus=0-1",
		"--driver-opt", "network=bridge", "--driver-opt", "cgroup-parent=/xbuild-test", "--driver-opt", "env.XB_TEST=on",
		"--driver-opt", "restart-policy=on-failure:2")
	raw, ok := inspectContainer(t, host, name+"0")
	if !ok {
		t.Fatalf("no container for builder %s", name)
	}
	var c struct {
		Config     struct{ Env, Cmd []string }
		HostConfig struct {
			Memory, MemorySwap, CPUPeriod, CPUQuota, CPUShares int64
			CpusetCpus, NetworkMode, CgroupParent              string
			Privileged                                         bool
			RestartPolicy                                      struct {
				Name              string
				MaximumRetryCount int
			}
		}
		Mounts []struct{ Name, Destination string }
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	h := c.HostConfig
	if h.Memory != 768<<20 || h.MemorySwap != 1<<30 || h.CPUPeriod != 100000 || h.CPUQuota != 150000 || h.CPUShares != 512 ||
		h.CpusetCpus != "0-1" || h.NetworkMode != "bridge" || h.CgroupParent != "/xbuild-test" || !h.Privileged ||
		h.RestartPolicy.Name != "on-failure" || h.RestartPolicy.MaximumRetryCount != 2 {
		t.Errorf("host config = %+v", h)
	}
	if !strings.Contains(strings.Join(c.Config.Env, " "), "XB_TEST=on") {
		t.Errorf("env = %v, want XB_TEST=on", c.Config.Env)
	}
	if cmd := strings.Join(c.Config.Cmd, " "); !strings.Contains(cmd, "--config /etc/buildkit/buildkitd.toml --oci-worker-gc=false") {
		t.Errorf("buildkitd flags = %q", cmd)
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Name != "buildx_buildkit_"+name+"0_state" || c.Mounts[0].Destination != "/var/lib/buildkit" {
		t.Errorf("mounts = %+v, want the state volume", c.Mounts)
	}
	r := mustXB(t, cfg, []string{"inspect", name}, onEngine(host))
	if !strings.Contains(squeeze(r.Stdout), "Status: running") {
		t.Errorf("inspect:\n%s", r.Stdout)
	}
}

// Bad options and an image that cannot be pulled fail with a clear error
// and leave neither a builder nor a container behind.
func TestContainerDriverBadInput(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown option", []string{"--driver-opt", "memroy=1g"}, `docker-container driver option memroy="1g": unknown option (known: image, network`},
		{"bad memory", []string{"--driver-opt", "memory=lots"}, `option memory="lots"`},
		{"missing config", []string{"--buildkitd-config", "/no/such/buildkitd.toml"}, "/no/such/buildkitd.toml"},
		{"unpullable image", []string{"--bootstrap", "--driver-opt", "image=127.0.0.1:1/no/buildkit:1"},
			"pulling BuildKit image 127.0.0.1:1/no/buildkit:1 (--driver-opt image)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := t.TempDir()
			name := fmt.Sprintf("xbbad%d", time.Now().UnixNano())
			t.Cleanup(func() { removeContainerNode(host, name+"0") })
			r := xb(t, cfg, append([]string{"create", "--driver", "docker-container", "--name", name}, tc.args...), onEngine(host))
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit 1 and %q:\n%s", tc.want, r)
			}
			if strings.Contains(tc.name, "image") && !strings.Contains(r.Stderr, "--driver-opt image=REF or XBUILD_BUILDKIT_IMAGE") {
				t.Errorf("the pull error does not say how to choose another image:\n%s", r.Stderr)
			}
			if _, ok := inspectContainer(t, host, name+"0"); ok {
				t.Errorf("a failed create left container buildx_buildkit_%s0", name)
			}
			if ls := mustXB(t, cfg, []string{"ls"}, onEngine(host)); strings.Contains(ls.Stdout, name) {
				t.Errorf("a failed create left builder %s:\n%s", name, ls.Stdout)
			}
		})
	}
}

// Created without a name or a driver, a builder is a docker-container one
// with a generated name, as with buildx; stop, ls and the next build's
// restart keep its cache; rm --keep-state keeps the volume.
func TestContainerDriverLifecycle(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	h := onEngine(host)
	cfg := t.TempDir()
	r := mustXB(t, cfg, []string{"create"}, h)
	name := strings.TrimSpace(r.Stdout)
	if name == "" || strings.ContainsAny(name, " \n") {
		t.Fatalf("create without --name printed %q, want the generated name", r.Stdout)
	}
	t.Cleanup(func() { removeContainerNode(host, name+"0") })
	ctxDir := helloContext(t)
	build := func() result {
		return mustXB(t, cfg, []string{"build", "--builder", name, "--build-arg", baseArg(), "--progress=plain", ctxDir}, h)
	}
	build()
	if ls := mustXB(t, cfg, []string{"ls"}, h); !strings.Contains(ls.Stdout, "docker-container") || !strings.Contains(ls.Stdout, "running") {
		t.Errorf("ls after a build:\n%s", ls.Stdout)
	}
	mustXB(t, cfg, []string{"stop", name}, h)
	if ls := mustXB(t, cfg, []string{"ls"}, h); !strings.Contains(ls.Stdout, "stopped") {
		t.Errorf("ls after stop:\n%s", ls.Stdout)
	}
	if r := build(); !strings.Contains(r.Stderr, "CACHED") {
		t.Errorf("the restarted builder lost its cache:\n%s", r.Stderr)
	}
	mustXB(t, cfg, []string{"rm", "--keep-state", name}, h)
	if _, ok := inspectContainer(t, host, name+"0"); ok {
		t.Errorf("rm left the container")
	}
	if _, err := engine(t, host).VolumeInspect(t.Context(), "buildx_buildkit_"+name+"0_state", dockerclient.VolumeInspectOptions{}); err != nil {
		t.Errorf("rm --keep-state removed the volume: %v", err)
	}
	// A builder whose container went away by hand says so, and the next
	// build creates it again.
	name2 := containerBuilder(t, cfg, host, "--bootstrap")
	removeContainerNode(host, name2+"0")
	if ls := mustXB(t, cfg, []string{"ls"}, h); !strings.Contains(ls.Stdout, "inactive") {
		t.Errorf("ls of a builder without its container:\n%s", ls.Stdout)
	}
	mustXB(t, cfg, []string{"build", "--builder", name2, "--build-arg", baseArg(), ctxDir}, h)
	mustXB(t, cfg, []string{"rm", name2}, h)
	if _, err := engine(t, host).VolumeInspect(t.Context(), "buildx_buildkit_"+name2+"0_state", dockerclient.VolumeInspectOptions{}); err == nil {
		t.Errorf("rm kept the volume")
	}
}

// --load from a docker-container builder goes straight into the engine's
// containerd; the same build again sends nothing.
func TestContainerDriverDirectLoad(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	name := containerBuilder(t, cfg, host)
	tag := uniqueTag(t, "container-load")
	args := []string{"build", "--builder", name, "--platform", "linux/amd64,linux/arm64", "--load", "-t", tag,
		"--provenance=false", "--build-arg", baseArg(), "--progress=plain", helloContext(t)}
	r := mustXB(t, cfg, args, onEngine(host))
	if !strings.Contains(r.Stderr, "loading into containerd") {
		t.Errorf("the load did not go to the engine's containerd:\n%s", r.Stderr)
	}
	r = mustXB(t, cfg, args, onEngine(host))
	if m := loadSummary.FindStringSubmatch(r.Stderr); m == nil || m[3] != "0" {
		t.Errorf("a repeated load sent %v, want nothing:\n%s", m, r.Stderr)
	}
	kinds := manifestKinds(t, engine(t, host), tag)
	if len(kinds["image"]) != 2 {
		t.Errorf("loaded manifests = %v", kinds)
	}
}

// Eight builds at once against a builder not yet bootstrapped end with one
// container and eight successes.
func TestContainerDriverConcurrentBootstrap(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	name := containerBuilder(t, cfg, host)
	ctxDir := helloContext(t)
	var wg sync.WaitGroup
	results := make([]result, 8)
	for i := range results {
		wg.Go(func() {
			results[i] = xb(t, cfg, []string{"build", "--builder", name, "--build-arg", baseArg(), "--build-arg", fmt.Sprintf("N=%d", i), ctxDir}, onEngine(host))
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("build %d of 8 failed:\n%s", i, r)
		}
	}
	res, err := engine(t, host).ContainerList(t.Context(), dockerclient.ContainerListOptions{All: true,
		Filters: dockerclient.Filters{}.Add("label", "com.docker.buildx.builder="+name)})
	if err != nil || len(res.Items) != 1 {
		t.Errorf("containers of builder %s: %d (%v), want 1", name, len(res.Items), err)
	}
}

// A builder container killed during a build ends the command with an error
// naming the builder, well within 30 s, and the next build recovers.
func TestContainerDriverKilledDuringBuild(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	name := containerBuilder(t, cfg, host, "--bootstrap")
	ctxDir := helloContext(t)
	df := "ARG BASE\nFROM ${BASE}\nRUN echo started && sleep 300\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xbuildBin, "build", "--builder", name, "--build-arg", baseArg(), "--progress=plain", "--no-cache", ctxDir)
	cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg, "DOCKER_CONFIG="+filepath.Join(cfg, "docker"), "DOCKER_HOST="+host,
		"XBUILD_BUILDKIT_IMAGE="+env.BuildKitImage)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(out.String(), "started"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the RUN step never started:\n%s", out)
		}
	}
	if _, err := engine(t, host).ContainerKill(t.Context(), "buildx_buildkit_"+name+"0", dockerclient.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the build still runs 30 s after its builder was killed:\n%s", out)
	}
	errLine := out.String()[strings.LastIndex(out.String(), "ERROR: "):]
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(errLine, `builder "`+name+`"`) {
		t.Errorf("exit %d after %s, want 1 and an error naming builder %s:\n%s", cmd.ProcessState.ExitCode(), time.Since(killed), name, out)
	}
	df = "ARG BASE\nFROM ${BASE}\nRUN echo recovered\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	mustXB(t, cfg, []string{"build", "--builder", name, "--build-arg", baseArg(), ctxDir}, onEngine(host))
}

// A docker-container node joins a builder of remote nodes; each platform
// builds on the node made for it.
func TestContainerDriverNodeInMixedBuilder(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	name := fmt.Sprintf("xbmix%d", time.Now().UnixNano())
	mustXB(t, cfg, []string{"create", "--name", name, "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", env.BuildKit}, onEngine(host))
	node := name + "arm"
	t.Cleanup(func() { removeContainerNode(host, node) })
	mustXB(t, cfg, []string{"create", "--append", "--name", name, "--driver", "docker-container", "--node", node, "--platform", "linux/arm64"}, onEngine(host))
	tag := fmt.Sprintf("%s/xbuild-test/mixed:%d", env.Registry, time.Now().UnixNano())
	r := mustXB(t, cfg, []string{"build", "--builder", name, "--platform", "linux/amd64,linux/arm64", "--push", "-t", tag,
		"--build-arg", baseArg(), "--progress=plain", helloContext(t)}, onEngine(host))
	if !strings.Contains(r.Stderr, "building linux/arm64 on node "+node) || !strings.Contains(r.Stderr, "building linux/amd64 on node amd") {
		t.Errorf("the platforms did not go to their nodes:\n%s", r.Stderr)
	}
	if _, ok := inspectContainer(t, host, node); !ok {
		t.Errorf("no container for the docker-container node %s", node)
	}
	mustXB(t, cfg, []string{"rm", name}, onEngine(host))
	if _, ok := inspectContainer(t, host, node); ok {
		t.Errorf("rm left the container of node %s", node)
	}
}

// The action takes setup-buildx-action's default driver with its options,
// and its cleanup removes the container.
func TestContainerDriverInAction(t *testing.T) {
	t.Parallel()
	r := newRunner(t, false)
	dest := filepath.Join(t.TempDir(), "img.oci.tar")
	name := fmt.Sprintf("xbact%d", time.Now().UnixNano())
	t.Cleanup(func() { removeContainerNode(env.DockerContainerd, name+"0") })
	res := r.step("main.js", map[string]string{
		"driver": "docker-container", "driver-opts": "image=" + env.BuildKitImage + "\nenv.XB_ACTION=1", "name": name,
		"context": helloContext(t), "platforms": "linux/amd64,linux/arm64", "build-args": baseArg(),
		"outputs": "type=oci,dest=" + dest, "xbuild-path": xbuildBin,
	}, "DOCKER_HOST="+env.DockerContainerd)
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	raw, ok := inspectContainer(t, env.DockerContainerd, name+"0")
	if !ok || !strings.Contains(string(raw), "XB_ACTION=1") {
		t.Errorf("no container buildx_buildkit_%s0 with the step's driver options: %s", name, raw)
	}
	if out := r.file(r.output); out["driver"] != "docker-container" || out["name"] != name {
		t.Errorf("setup outputs = %v", out)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("the OCI output is missing: %v", err)
	}
	if p := r.post(); p.Code != 0 {
		t.Errorf("cleanup: %s", p)
	}
	if _, ok := inspectContainer(t, env.DockerContainerd, name+"0"); ok {
		t.Errorf("the cleanup left the container")
	}
}
