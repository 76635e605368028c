package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerCLI runs the real docker CLI with a configuration of the test's
// own, whose cli-plugins folder holds xbuild as docker-buildx and the
// pinned Docker Compose, against the env's containerd-store engine.
type dockerCLI struct {
	bin, config string
}

func newDockerCLI(t *testing.T) dockerCLI {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI is needed for this test: %v", err)
	}
	compose := filepath.Join(repoRoot, "hack", "tools", "bin", "docker-compose")
	if _, err := os.Stat(compose); err != nil {
		t.Fatalf("Docker Compose is needed for this test (hack/env up builds it with hack/tools/build.sh): %v", err)
	}
	config := filepath.Join(t.TempDir(), "docker")
	plugins := filepath.Join(config, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"docker-buildx": xbuildBin, "docker-compose": compose} {
		if err := os.Symlink(target, filepath.Join(plugins, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dockerCLI{bin: bin, config: config}
}

// run runs docker in dir and returns its standard output and error; it
// fails the test unless docker exits 0.
func (d dockerCLI) run(t *testing.T, dir string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Dir = dir
	// Builder state where a user's would be, in the Docker configuration.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.config, "DOCKER_HOST="+env.DockerContainerd,
		"XBUILD_CONFIG=", "BUILDX_CONFIG=", "XBUILD_BUILDER=", "BUILDX_BUILDER=", "BUILDKIT_PROGRESS=plain")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// Installed as docker-buildx, xbuild answers the plugin protocol and runs
// as `docker buildx`, with a version Docker Compose accepts.
func TestBuildxPlugin(t *testing.T) {
	t.Parallel()
	docker := newDockerCLI(t)
	out, err := exec.Command(filepath.Join(docker.config, "cli-plugins", "docker-buildx"), "docker-cli-plugin-metadata").Output()
	var md struct{ SchemaVersion, Vendor, Version, ShortDescription, URL string }
	if err != nil || json.Unmarshal(out, &md) != nil || md.SchemaVersion != "0.1.0" || md.Vendor != "xbuild" ||
		md.Version != "v0.38.2" || !strings.Contains(md.ShortDescription, "xbuild") || md.URL == "" {
		t.Errorf("docker-buildx docker-cli-plugin-metadata = %q, %v", out, err)
	}
	if out, _ := docker.run(t, "", "buildx", "version"); !strings.HasPrefix(out, "github.com/xbuild/xbuild v0.38.2+xbuild.") {
		t.Errorf("docker buildx version = %q", out)
	}
	tag := uniqueTag(t, "plugin-build")
	docker.run(t, "", "buildx", "build", "--build-arg", baseArg(), "-t", tag, helloContext(t))
	if _, err := engine(t, env.DockerContainerd).ImageInspect(t.Context(), tag); err != nil {
		t.Errorf("docker buildx build -t %s: the image is not in the engine: %v", tag, err)
	}
}

// Docker Compose builds through xbuild as its buildx: it checks the
// plugin's version, then runs `docker-buildx bake` with the project as a
// bake file on standard input, and reads the metadata file it asked for.
// Without a buildx it would fall back to the engine's classic builder, so
// its debug log must show the bake.
func TestComposeBuild(t *testing.T) {
	t.Parallel()
	docker := newDockerCLI(t)
	dir := helloContext(t)
	tag := uniqueTag(t, "compose")
	project := "services:\n  hello:\n    image: " + tag + "\n    build:\n      context: .\n      args:\n        BASE: " + env.BaseImage + "\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := docker.run(t, dir, "--debug", "compose", "build")
	if !strings.Contains(stderr, "Executing bake with args") || strings.Contains(stderr, "falling back to the classic builder") {
		t.Errorf("docker compose build did not build through docker-buildx bake:\n%s", stderr)
	}
	img, err := engine(t, env.DockerContainerd).ImageInspect(t.Context(), tag)
	if err != nil {
		t.Fatalf("docker compose build: %s is not in the engine: %v", tag, err)
	}
	if img.Config == nil || len(img.Config.Cmd) == 0 || img.Config.Cmd[len(img.Config.Cmd)-1] != "/hello.sh" {
		t.Errorf("docker compose build made %s with config %+v, want the hello image", tag, img.Config)
	}
}
