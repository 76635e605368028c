package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stateRun runs xbuild and the pinned buildx on one builder state folder,
// with a home of the test's own, so neither sees the user's builders.
type stateRun struct {
	t      *testing.T
	home   string
	env    []string
	buildx string
}

func newStateRun(t *testing.T) *stateRun {
	t.Helper()
	bin := filepath.Join(repoRoot, "hack", "tools", "bin", "buildx")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no buildx to share builders with (%v): build it with `hack/tools/build.sh buildx`", err)
	}
	home := t.TempDir()
	env := []string{"HOME=" + home, "BUILDX_CONFIG=" + filepath.Join(home, "buildx"), "DOCKER_CONFIG=" + filepath.Join(home, "docker"),
		"DOCKER_HOST=" + mustGetenv(t, "XBUILD_TEST_DOCKER_CONTAINERD"), "BUILDKIT_PROGRESS=plain"}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XBUILD_CONFIG", "BUILDX_CONFIG", "DOCKER_CONFIG", "DOCKER_HOST", "DOCKER_CONTEXT",
			"XBUILD_BUILDER", "BUILDX_BUILDER", "BUILDKIT_HOST", "BUILDKIT_PROGRESS":
		default:
			env = append(env, kv)
		}
	}
	return &stateRun{t: t, home: home, env: env, buildx: bin}
}

func mustGetenv(t *testing.T, k string) string {
	t.Helper()
	v := os.Getenv(k)
	if v == "" {
		t.Fatalf("%s is not set: run the tests under `eval \"$(hack/env print)\"`", k)
	}
	return v
}

func (r *stateRun) run(bin string, args ...string) result {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("running %s %v: %v", filepath.Base(bin), args, err)
	}
	return res
}

// must runs bin and fails the test unless it exits 0.
func (r *stateRun) must(bin string, args ...string) result {
	r.t.Helper()
	res := r.run(bin, args...)
	if res.Code != 0 {
		r.t.Fatalf("%s %s failed:\n%s", filepath.Base(bin), strings.Join(args, " "), res)
	}
	return res
}

// words is s with every run of spaces made one, for tables.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// scratchContext is a build context that needs no image: the built files
// show which build wrote them.
func scratchContext(t *testing.T, word string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY word /word\n", "word": word}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (r *stateRun) checkBuilt(bin string, args ...string) {
	r.t.Helper()
	out := filepath.Join(r.t.TempDir(), "out")
	word := filepath.Base(bin) + "-" + strings.Join(args, "-")
	r.must(bin, append([]string{"build", "-o", "type=local,dest=" + out}, append(args, scratchContext(r.t, word))...)...)
	if got, err := os.ReadFile(filepath.Join(out, "word")); string(got) != word {
		r.t.Errorf("%s build %v wrote %q (%v), want %q", filepath.Base(bin), args, got, err, word)
	}
}

// A builder buildx creates is xbuild's to list and build on, and the other
// way round; a builder only xbuild can drive leaves buildx working.
func TestBuildxStateShared(t *testing.T) {
	t.Parallel()
	bk := mustGetenv(t, "XBUILD_TEST_BUILDKIT")
	r := newStateRun(t)
	xbuild, buildx := xbuildBin, r.buildx

	r.must(buildx, "create", "--name", "bx", "--driver", "remote", bk)
	if ls := r.must(xbuild, "ls"); !strings.Contains(ls.Stdout, "bx ") || !strings.Contains(ls.Stdout, `\_ bx0`) || !strings.Contains(ls.Stdout, "running") {
		t.Errorf("xbuild ls does not list buildx's builder bx as running:\n%s", ls)
	}
	r.checkBuilt(xbuild, "--builder", "bx")

	r.must(xbuild, "create", "--name", "xb", "--driver", "remote", bk)
	ls := r.must(buildx, "ls")
	if !strings.Contains(ls.Stdout, "xb ") || !strings.Contains(ls.Stdout, `\_ xb0`) || strings.Contains(ls.Stderr, "Cannot load") {
		t.Errorf("buildx ls does not list xbuild's builder xb:\n%s", ls)
	}
	if in := r.must(buildx, "inspect", "xb"); !strings.Contains(words(in.Stdout), "Driver: remote") || !strings.Contains(in.Stdout, "running") {
		t.Errorf("buildx inspect xb:\n%s", in)
	}
	r.checkBuilt(buildx, "--builder", "xb")

	// A node xbuild appends to buildx's builder is buildx's too.
	r.must(xbuild, "create", "--append", "--name", "bx", "--node", "bxarm", "--platform", "linux/arm64", bk)
	if in := r.must(buildx, "inspect", "bx"); !strings.Contains(in.Stdout, "bxarm") || !strings.Contains(in.Stdout, "linux/arm64*") {
		t.Errorf("buildx inspect bx does not show the node xbuild appended:\n%s", in)
	}

	// The current builder is one for both tools.
	r.must(xbuild, "use", "xb")
	if in := r.must(buildx, "inspect"); !strings.Contains(words(in.Stdout), "Name: xb") {
		t.Errorf("after `xbuild use xb`, buildx inspect shows:\n%s", in)
	}
	r.must(buildx, "use", "bx")
	if in := r.must(xbuild, "inspect"); !strings.Contains(words(in.Stdout), "Name: bx") {
		t.Errorf("after `buildx use bx`, xbuild inspect shows:\n%s", in)
	}

	// buildx has no local driver: it says so for that builder and lists
	// the others.
	r.must(xbuild, "create", "--name", "xloc", "--driver", "local")
	ls = r.must(buildx, "ls")
	if !strings.Contains(ls.Stderr, `Cannot load builder xloc: failed to find driver "local"`) || !strings.Contains(ls.Stdout, `\_ xb0`) {
		t.Errorf("buildx ls with a local builder:\n%s", ls)
	}

	r.must(xbuild, "rm", "bx", "xloc")
	r.must(buildx, "rm", "xb")
	checkRemoved(t, r)
}

// checkRemoved: what one tool removed, the other no longer lists.
func checkRemoved(t *testing.T, r *stateRun) {
	t.Helper()
	xbuild, buildx := xbuildBin, r.buildx
	if ls := r.must(buildx, "ls"); strings.Contains(ls.Stdout, "bx ") || strings.Contains(ls.Stdout, "xloc") {
		t.Errorf("buildx ls after xbuild rm:\n%s", ls)
	}
	if ls := r.must(xbuild, "ls"); strings.Contains(ls.Stdout, "xb ") {
		t.Errorf("xbuild ls after buildx rm:\n%s", ls)
	}
}

// Builders xbuild creates on a Docker Engine (docker, docker-container)
// are buildx's to build on and remove: they name the engine as buildx's
// own do.
func TestBuildxStateEngineDrivers(t *testing.T) {
	t.Parallel()
	image := mustGetenv(t, "XBUILD_TEST_BUILDKIT_IMAGE")
	r := newStateRun(t)
	name := fmt.Sprintf("xc%d", time.Now().UnixNano()) // containers are named after it, engine-wide
	r.must(xbuildBin, "create", "--name", "xd", "--driver", "docker")
	r.checkBuilt(r.buildx, "--builder", "xd")
	r.must(xbuildBin, "create", "--name", name, "--driver", "docker-container", "--driver-opt", "image="+image)
	t.Cleanup(func() { r.run(xbuildBin, "rm", name) })
	if in := r.must(r.buildx, "inspect", "--bootstrap", name); !strings.Contains(words(in.Stdout), "Status: running") {
		t.Errorf("buildx inspect --bootstrap of xbuild's docker-container builder:\n%s", in)
	}
	r.checkBuilt(r.buildx, "--builder", name)
	r.must(r.buildx, "rm", name, "xd")
	if ls := r.must(xbuildBin, "ls"); strings.Contains(ls.Stdout, name) || strings.Contains(ls.Stdout, "xd ") {
		t.Errorf("xbuild ls after buildx rm:\n%s", ls)
	}
}

// Builders of xbuild's former folder (~/.xbuild) move into buildx's once,
// and buildx lists them.
func TestBuildxStateMigration(t *testing.T) {
	t.Parallel()
	bk := mustGetenv(t, "XBUILD_TEST_BUILDKIT")
	r := newStateRun(t)
	old := filepath.Join(r.home, ".xbuild")
	if err := os.MkdirAll(filepath.Join(old, "builders"), 0o700); err != nil {
		t.Fatal(err)
	}
	state := `{"name":"old","driver":"remote","nodes":[{"name":"old0","endpoint":"` + bk + `","platforms":["linux/amd64"]}]}`
	if err := os.WriteFile(filepath.Join(old, "builders", "old.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "current"), []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ls := r.must(xbuildBin, "ls")
	if !strings.Contains(ls.Stderr, "moved builders old from "+old) || !strings.Contains(ls.Stdout, "old*") {
		t.Errorf("the first xbuild command after the move:\n%s", ls)
	}
	if ls := r.must(xbuildBin, "ls"); strings.Contains(ls.Stderr, "moved") {
		t.Errorf("the builders moved twice:\n%s", ls)
	}
	if in := r.must(r.buildx, "inspect"); !strings.Contains(words(in.Stdout), "Name: old") || !strings.Contains(in.Stdout, "linux/amd64*") {
		t.Errorf("buildx inspect of the moved current builder:\n%s", in)
	}
	r.checkBuilt(r.buildx, "--builder", "old")
}
