package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The local driver runs a buildkitd of its own: create boots it, builds
// use it for every platform and load into the engine, rm stops it and
// removes its state.
func TestLocalDriver(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	bin := filepath.Join(repoRoot, "hack", "tools", "bin")
	conf := filepath.Join(t.TempDir(), "buildkitd.toml")
	toml := "[registry.\"" + env.Registry + "\"]\n  http = true\n  insecure = true\n[worker.containerd]\n  enabled = false\n"
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	path := withEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))
	host := withDockerHost(env.DockerContainerd)
	mustXB(t, cfg, []string{"create", "--name", "loc", "--driver", "local", "--driver-opt", "config=" + conf, "--bootstrap"}, path)
	root := filepath.Join(cfg, "local", "loc")
	pidData, err := os.ReadFile(filepath.Join(root, "buildkitd.pid"))
	if err != nil {
		t.Fatalf("no pid file after bootstrap: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidData)))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	r := mustXB(t, cfg, []string{"ls"}, host)
	if !strings.Contains(r.Stdout, "local") || !strings.Contains(r.Stdout, "running") {
		t.Errorf("ls:\n%s", r.Stdout)
	}
	tag := uniqueTag(t, "local")
	mustXB(t, cfg, []string{"build", "--builder", "loc", "--platform", "linux/amd64,linux/arm64", "--load", "-t", tag,
		"--build-arg", baseArg(), helloContext(t)}, host, path)
	if got := runImage(t, engine(t, env.DockerContainerd), tag, "linux/arm64"); !strings.Contains(got, "hello from aarch64") {
		t.Errorf("running the local builder's image printed %q", got)
	}
	mustXB(t, cfg, []string{"rm", "loc"})
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("buildkitd (pid %d) still runs after rm", pid)
	}
	if _, err := os.Stat(root); err == nil {
		t.Errorf("rm left %s", root)
	}
	// A daemon that cannot start leaves no builder behind.
	r = xb(t, cfg, []string{"create", "--name", "broken", "--driver", "local", "--driver-opt", "buildkitd=/bin/false", "--bootstrap"})
	if r.Code != 1 || !strings.Contains(r.Stderr, "buildkitd exited at start") {
		t.Errorf("create with a failing daemon: %s", r)
	}
	if _, err := os.Stat(filepath.Join(cfg, "instances", "broken")); err == nil {
		t.Errorf("a builder whose daemon failed was saved")
	}
}
