package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bad input gets one clear line on stderr, exit 1, and leaves no state.
func TestBadInput(t *testing.T) {
	t.Parallel()
	classic := withDockerHost(env.DockerClassic)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown platform", args: []string{"build", "--platform", "linux/notanarch", "."}, want: `invalid platform "linux/notanarch"`},
		{name: "missing Dockerfile", args: []string{"build", "-f", "nope/Dockerfile", "."}, want: "no Dockerfile at nope/Dockerfile"},
		{name: "unknown builder", args: []string{"build", "--builder", "nosuch", "."}, want: `no builder found named "nosuch"`},
		{name: "malformed output", args: []string{"build", "--output", "type=zip,dest=x", "."}, want: `invalid --output "type=zip,dest=x": unknown type "zip"`},
		{name: "unreachable remote", args: []string{"create", "--name", "gone", "--driver", "remote", "--bootstrap", "unix:///nonexistent.sock"}, want: "reaching buildkitd at unix:///nonexistent.sock"},
		{name: "bad remote address", args: []string{"create", "--name", "bad", "--driver", "remote", "http://x"}, want: `remote driver address "http://x"`},
		{name: "bad progress", args: []string{"build", "--progress", "fancy", "."}, want: `invalid progress mode "fancy"`},
		{name: "bad tag", args: []string{"build", "-t", "bad tag!", "."}, want: `invalid tag "bad tag!"`},
		{name: "missing secret file", args: []string{"build", "--secret", "id=s,src=/no/such/file", "."}, want: `secret "s": file "/no/such/file"`},
		{name: "unknown attest type", args: []string{"build", "--attest", "type=vex", "."}, want: "type must be provenance or sbom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := t.TempDir()
			r := xb(t, cfg, tt.args, classic, withDir(t.TempDir()))
			if r.Code != 1 {
				t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
			}
			if !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.Stderr, tt.want)
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, r.Stderr)
			}
			if builders, _ := filepath.Glob(filepath.Join(cfg, "instances", "*")); len(builders) != 0 {
				t.Errorf("bad input left builder state: %v", builders)
			}
		})
	}
}

func TestBuilderCommands(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	host := withDockerHost(env.DockerContainerd)
	mustXB(t, cfg, []string{"create", "--name", "rb", "--driver", "remote", "--use", env.BuildKit}, host)
	r := mustXB(t, cfg, []string{"ls"}, host)
	for _, want := range []string{"rb*", "remote", "running", "v0.34.2", "containerd", "linux/arm64", "default"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("ls lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = mustXB(t, cfg, []string{"inspect", "--bootstrap"}, host)
	for _, want := range []string{"Name: rb", "Driver: remote", "Status: running", "Image store: containerd"} {
		if !strings.Contains(squeeze(r.Stdout), want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = mustXB(t, cfg, []string{"inspect", "default"}, withDockerHost(env.DockerClassic))
	for _, want := range []string{"Driver: docker", "Image store: classic", "Multi-platform: false"} {
		if !strings.Contains(squeeze(r.Stdout), want) {
			t.Errorf("inspect default lacks %q:\n%s", want, r.Stdout)
		}
	}
	// The selected builder follows the environment first.
	r = mustXB(t, cfg, []string{"inspect"}, host, withEnv("XBUILD_BUILDER=default"))
	if !strings.Contains(squeeze(r.Stdout), "Driver: docker") {
		t.Errorf("XBUILD_BUILDER=default did not select the docker builder:\n%s", r.Stdout)
	}
	r = mustXB(t, cfg, []string{"inspect"}, host, withEnv("BUILDX_BUILDER=default"))
	if !strings.Contains(squeeze(r.Stdout), "Driver: docker") {
		t.Errorf("BUILDX_BUILDER=default did not select the docker builder:\n%s", r.Stdout)
	}
	mustXB(t, cfg, []string{"use", "default"}, host)
	r = mustXB(t, cfg, []string{"inspect"}, host)
	if !strings.Contains(squeeze(r.Stdout), "Driver: docker") {
		t.Errorf("after `use default`, inspect shows:\n%s", r.Stdout)
	}
	mustXB(t, cfg, []string{"rm", "rb"}, host)
	if r := xb(t, cfg, []string{"inspect", "rb"}, host); r.Code != 1 {
		t.Errorf("inspect of a removed builder: %s", r)
	}
	if r := xb(t, cfg, []string{"rm", "default"}, host); r.Code != 1 || !strings.Contains(r.Stderr, "cannot be removed") {
		t.Errorf("rm default: %s", r)
	}
}

func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// Ctrl-C cancels the solve on the daemon and exits 130 within seconds.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	dir := t.TempDir()
	df := "FROM " + env.BaseImage + "\nRUN echo started-" + filepath.Base(dir) + " && sleep 600\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xbuildBin, "build", "--builder", "r", "--progress=plain", "--no-cache", dir)
	cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(stderr.String(), "started-") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the RUN step never started:\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("xbuild still running 30s after SIGINT:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code after SIGINT = %d, want 130\n%s", code, stderr.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPluginMetadataAndVersion(t *testing.T) {
	t.Parallel()
	r := mustXB(t, t.TempDir(), []string{"docker-cli-plugin-metadata"})
	var md struct{ SchemaVersion, Vendor, Version, ShortDescription string }
	if err := json.Unmarshal([]byte(r.Stdout), &md); err != nil || md.SchemaVersion != "0.1.0" || md.Version == "" {
		t.Errorf("plugin metadata = %q (%v)", r.Stdout, err)
	}
	// As a plugin, docker runs `docker-xbuild xbuild ARGS`.
	r = mustXB(t, t.TempDir(), []string{"xbuild", "version"}, withEnv("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND=docker"))
	if !strings.HasPrefix(r.Stdout, "github.com/xbuild/xbuild v0.38.2+xbuild.") {
		t.Errorf("plugin-mode version printed %q", r.Stdout)
	}
}

// A remote builder over TCP with mutual TLS; without the client
// certificate the daemon refuses, and the builder is not created.
func TestRemoteTLS(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	dir := env.BuildKitTLSDir
	addr := env.BuildKitTLS
	opt := "cacert=" + filepath.Join(dir, "ca.pem") + ",cert=" + filepath.Join(dir, "client-cert.pem") + ",key=" + filepath.Join(dir, "client-key.pem")
	mustXB(t, cfg, []string{"create", "--name", "tls", "--driver", "remote", "--driver-opt", opt, "--bootstrap", "--use", addr})
	r := mustXB(t, cfg, []string{"inspect"})
	if !strings.Contains(squeeze(r.Stdout), "Status: running") {
		t.Errorf("inspect over TLS:\n%s", r.Stdout)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "-o", out, "--build-arg", baseArg(), helloContext(t)})
	if got, _ := os.ReadFile(filepath.Join(out, "built-for")); !strings.Contains(string(got), "linux/arm64") {
		t.Errorf("build over TLS wrote %q", got)
	}
	r = xb(t, cfg, []string{"create", "--name", "notls", "--driver", "remote", "--driver-opt", "cacert=" + filepath.Join(dir, "ca.pem"), "--bootstrap", addr})
	if r.Code != 1 || !strings.Contains(r.Stderr, "reaching buildkitd at "+addr) {
		t.Errorf("TLS without a client certificate: %s", r)
	}
	if _, err := os.Stat(filepath.Join(cfg, "instances", "notls")); err == nil {
		t.Errorf("a builder that failed to boot was saved")
	}
}

// The binary works as a Docker CLI plugin under the real docker CLI.
func TestDockerCLIPlugin(t *testing.T) {
	t.Parallel()
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI is needed for this test: %v", err)
	}
	cfg := t.TempDir()
	plugins := filepath.Join(cfg, "docker", "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(xbuildBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-xbuild"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(docker, "xbuild", "version")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(cfg, "docker"), "XBUILD_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "github.com/xbuild/xbuild v0.38.2+xbuild.") {
		t.Errorf("docker xbuild version = %q, %v", out, err)
	}
	cmd = exec.Command(docker, "xbuild", "ls")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(cfg, "docker"), "XBUILD_CONFIG="+cfg,
		"DOCKER_HOST="+env.DockerContainerd)
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "containerd") {
		t.Errorf("docker xbuild ls = %q, %v", out, err)
	}
}

// -q prints only the image ID on stdout; rawjson prints one SolveStatus per
// line on stderr.
func TestQuietAndRawJSON(t *testing.T) {
	t.Parallel()
	host := withDockerHost(env.DockerContainerd)
	tag := uniqueTag(t, "quiet")
	r := mustXB(t, t.TempDir(), []string{"build", "-q", "-t", tag, "--build-arg", baseArg(), helloContext(t)}, host)
	id := strings.TrimSpace(r.Stdout)
	if !strings.HasPrefix(id, "sha256:") || strings.Contains(id, "\n") || r.Stderr != "" {
		t.Errorf("-q: stdout %q, stderr %q; want only an image ID on stdout", r.Stdout, r.Stderr)
	}
	img, err := engine(t, env.DockerContainerd).ImageInspect(t.Context(), tag)
	if err != nil || img.ID != id {
		t.Errorf("-q printed %s, the engine has %s (%v)", id, img.ID, err)
	}
	r = mustXB(t, t.TempDir(), []string{"build", "--progress=rawjson", "--build-arg", baseArg(), "-o", t.TempDir(), helloContext(t)}, host)
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	for _, l := range lines {
		var st struct{ Vertexes []json.RawMessage }
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			t.Fatalf("rawjson line is not JSON: %q", l)
		}
	}
	if len(lines) < 3 {
		t.Errorf("rawjson printed %d lines", len(lines))
	}
}
