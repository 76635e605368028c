package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/tests/internal/testenv"
)

var (
	// env is the test env, loaded once by TestMain: a test never runs
	// without its daemons.
	env       testenv.Env
	xbuildBin string
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	if env, err = testenv.Load(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	xbuildBin = os.Getenv("XBUILD_BIN")
	if xbuildBin == "" {
		dir, err := os.MkdirTemp("", "xbuild-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		xbuildBin = filepath.Join(dir, "xbuild")
		cmd := exec.Command("go", "build", "-o", xbuildBin, "./cmd/xbuild")
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: building xbuild:", err)
			return 1
		}
	}
	return m.Run()
}

// result is one finished xbuild run.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// runOpt changes how xbuild runs.
type runOpt func(*exec.Cmd)

func withDockerHost(h string) runOpt {
	return withEnv("DOCKER_HOST=" + h)
}

func withEnv(kv ...string) runOpt {
	return func(c *exec.Cmd) {
		for _, e := range kv {
			if e != "" {
				c.Env = append(c.Env, e)
			}
		}
	}
}

func withDir(d string) runOpt { return func(c *exec.Cmd) { c.Dir = d } }

func withStdin(s string) runOpt {
	return func(c *exec.Cmd) { c.Stdin = strings.NewReader(s) }
}

// xb runs xbuild with a config folder of the test's own, so tests never
// share builder state.
func xb(t *testing.T, cfg string, args []string, opts ...runOpt) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xbuildBin, args...)
	cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg, "DOCKER_CONFIG="+filepath.Join(cfg, "docker"),
		"BUILDKIT_PROGRESS=plain", "XBUILD_BUILDER=", "BUILDX_BUILDER=")
	for _, o := range opts {
		o(cmd)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running xbuild %v: %v", args, err)
	}
	return r
}

// mustXB runs xbuild and fails the test unless it exits 0.
func mustXB(t *testing.T, cfg string, args []string, opts ...runOpt) result {
	t.Helper()
	r := xb(t, cfg, args, opts...)
	if r.Code != 0 {
		t.Fatalf("xbuild %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// engine opens an API client to one of the env's engines.
func engine(t *testing.T, host string) *dockerclient.Client {
	t.Helper()
	c, err := dockerclient.New(dockerclient.WithHost(host), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// privateEngine is a throwaway engine of one test's own (`hack/env private`),
// for tests that restart or reconfigure their engine or move everything it
// holds: the env's two engines serve every test, and every test binary, at
// once.
type privateEngine struct {
	// Host is its address, for DOCKER_HOST.
	Host string
	// DaemonJSON is the configuration it starts with.
	DaemonJSON string
	// Restart is a shell command restarting it with its DaemonJSON now.
	Restart string
}

// newPrivateEngine starts an engine with the "classic" or the "containerd"
// image store, stopped and deleted when t ends; with a size ("200M") its
// data root is a tmpfs of that size.
func newPrivateEngine(t *testing.T, store string, size ...string) privateEngine {
	t.Helper()
	tool := filepath.Join(repoRoot, "hack", "env")
	var stderr bytes.Buffer
	cmd := exec.Command(tool, append([]string{"private", "start", store}, size...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/env private start %s: %v\n%s", store, err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(tool, "private", "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("hack/env private stop %s: %v\n%s", dir, err, out)
		}
	})
	return privateEngine{
		Host:       "unix://" + filepath.Join(dir, "docker.sock"),
		DaemonJSON: filepath.Join(dir, "daemon.json"),
		Restart:    tool + " private restart " + dir,
	}
}

// uniqueTag names an image no other test uses, and removes it afterwards
// from every engine of the env.
func uniqueTag(t *testing.T, name string) string {
	t.Helper()
	tag := fmt.Sprintf("xbuild-test/%s:%d", name, time.Now().UnixNano())
	t.Cleanup(func() {
		for _, h := range []string{env.DockerContainerd, env.DockerClassic} {
			c, err := dockerclient.New(dockerclient.WithHost(h), dockerclient.WithAPIVersionNegotiation())
			if err != nil {
				continue
			}
			_, _ = c.ImageRemove(context.Background(), tag, dockerclient.ImageRemoveOptions{Force: true, PruneChildren: true})
			c.Close()
		}
	})
	return tag
}

// helloContext copies examples/hello into a fresh folder, so a test may
// change it.
func helloContext(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(repoRoot, "examples", "hello")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func baseArg() string { return "BASE=" + env.BaseImage }

var dockerRemoveForce = dockerclient.ImageRemoveOptions{Force: true, PruneChildren: true}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
