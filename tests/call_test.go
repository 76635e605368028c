package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
)

// callBuilder is a builder a --call test runs on: the env's buildkitd
// through the remote driver, or the containerd-store engine's own builder.
type callBuilder struct {
	name string
	cfg  string
	args []string
	opts []runOpt
}

func callBuilders(t *testing.T) []callBuilder {
	t.Helper()
	remote := t.TempDir()
	mustXB(t, remote, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	return []callBuilder{
		{name: "remote", cfg: remote, args: []string{"--builder", "r"}},
		{name: "docker", cfg: t.TempDir(), opts: []runOpt{withDockerHost(env.DockerContainerd)}},
	}
}

func (b callBuilder) build(t *testing.T, args ...string) result {
	t.Helper()
	return xb(t, b.cfg, append(append([]string{"build"}, b.args...), args...), b.opts...)
}

// callContext is a folder holding a Dockerfile with the given body.
func callContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lintDockerfile breaks one build check: FromAsCasing.
func lintDockerfile(head string) string {
	return fmt.Sprintf("%sFROM %s as base\nCOPY Dockerfile /\n\nFROM base\n", head, env.BaseImage)
}

// --call check runs the build checks and no build: the findings on
// stdout as buildx prints them, exit 1 when there are some (0 with
// ignorestatus), a build error with check=error=true, and no image where
// --load asked for one.
func TestBuildCallCheck(t *testing.T) {
	t.Parallel()
	for _, b := range callBuilders(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dir := callContext(t, lintDockerfile(""))
			tag := uniqueTag(t, "call-check")
			r := b.build(t, "--call", "check", "--load", "-t", tag, dir)
			if r.Code != 1 {
				t.Fatalf("--call check with a finding: exit %d, want 1\n%s", r.Code, r)
			}
			for _, want := range []string{"Check complete, 1 warning has been found!", "WARNING: FromAsCasing", filepath.Join(dir, "Dockerfile") + ":1"} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r)
				}
			}
			if strings.Contains(r.Stderr, "ERROR") {
				t.Errorf("a check with findings printed an error:\n%s", r)
			}
			if _, err := engine(t, env.DockerContainerd).ImageInspect(context.Background(), tag); err == nil {
				t.Errorf("--call check loaded %s", tag)
			}

			if r := b.build(t, "--call=check,ignorestatus=true", dir); r.Code != 0 || !strings.Contains(r.Stdout, "FromAsCasing") {
				t.Errorf("ignorestatus=true: want exit 0 and the finding\n%s", r)
			}

			r = b.build(t, "--call=check,format=json", dir)
			var res lint.LintResults
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 1 {
				t.Fatalf("format=json: exit %d, stdout not the check's JSON (%v)\n%s", r.Code, err, r)
			}
			if len(res.Warnings) != 1 || res.Warnings[0].RuleName != "FromAsCasing" {
				t.Errorf("format=json warnings = %+v, want one FromAsCasing", res.Warnings)
			}

			clean := callContext(t, fmt.Sprintf("FROM %s AS base\nCOPY Dockerfile /\n", env.BaseImage))
			if r := b.build(t, "--check", clean); r.Code != 0 || !strings.Contains(r.Stdout, "Check complete, no warnings found.") {
				t.Errorf("--check on a clean Dockerfile: want exit 0 and no warnings\n%s", r)
			}

			strict := callContext(t, lintDockerfile("# check=error=true\n"))
			r = b.build(t, "--check", strict)
			if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: lint violation found for rules: FromAsCasing") {
				t.Errorf("check=error=true: want exit 1 and the lint violation error\n%s", r)
			}
		})
	}
}

// --call outline, targets and subrequests.describe print the frontend's
// answers, as JSON with format=json, and build nothing.
func TestBuildCallOutlineTargets(t *testing.T) {
	t.Parallel()
	df := fmt.Sprintf("# GREETING says hello\nARG GREETING=hi\n\n# base is where it starts\nFROM %s AS base\nARG GREETING\nRUN echo $GREETING\n\nFROM base AS final\n", env.BaseImage)
	for _, b := range callBuilders(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dir := callContext(t, df)
			out := filepath.Join(t.TempDir(), "out")
			r := b.build(t, "--call=outline,format=json", "--target", "base", "--progress=quiet", "-o", "type=local,dest="+out, dir)
			var o outline.Outline
			if err := json.Unmarshal([]byte(r.Stdout), &o); err != nil || r.Code != 0 {
				t.Fatalf("outline json: exit %d, %v\n%s", r.Code, err, r)
			}
			if o.Name != "base" || len(o.Args) != 1 || o.Args[0].Name != "GREETING" || o.Args[0].Value != "hi" {
				t.Errorf("outline = %+v, want target base with GREETING=hi", o)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("--call outline exported to %s", out)
			}

			r = b.build(t, "--call", "targets", "-q", dir)
			if r.Code != 0 {
				t.Fatalf("--call targets: exit %d\n%s", r.Code, r)
			}
			for _, want := range []string{"TARGET", "base", "is where it starts", "final (default)"} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("--call targets stdout lacks %q:\n%s", want, r.Stdout)
				}
			}
			r = b.build(t, "--call", "targets,format=json", "-q", dir)
			var list targets.List
			if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list.Targets) != 2 {
				t.Errorf("targets json: %v, %+v\n%s", err, list, r)
			}

			r = b.build(t, "--call", "subrequests.describe", "-q", dir)
			if r.Code != 0 || !strings.Contains(r.Stdout, "outline") || !strings.Contains(r.Stdout, "targets") {
				t.Errorf("--call subrequests.describe: want the methods listed\n%s", r)
			}
		})
	}
}

// A bad --call or call stops with one line naming it, before any builder
// is reached.
func TestCallRefused(t *testing.T) {
	t.Parallel()
	dir := callContext(t, lintDockerfile(""))
	bakeFile := filepath.Join(t.TempDir(), "docker-bake.hcl")
	if err := os.WriteFile(bakeFile, []byte(fmt.Sprintf("target \"default\" {\n  context = %q\n  call = \"nope\"\n}\n", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--call", "foo", dir}, `invalid --call "foo": unknown method "foo"`},
		{[]string{"build", "--call", "outline,format=yaml", dir}, `invalid --call "outline,format=yaml": unknown format "yaml"`},
		{[]string{"build", "--call", "check,what=1", dir}, `invalid --call "check,what=1"`},
		{[]string{"bake", "-f", bakeFile, "--call", "foo"}, `invalid --call "foo": unknown method "foo"`},
		{[]string{"bake", "--allow", "fs.read=" + dir, "-f", bakeFile}, `invalid call "nope": unknown method "nope"`},
	} {
		// An unreachable builder: reaching it would fail differently.
		r := xb(t, t.TempDir(), tc.args, withDockerHost("unix:///nonexistent.sock"))
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("xbuild %v: want exit 1 and one line with %q\n%s", tc.args, tc.want, r)
		}
	}
}

// bake runs each target's call: --print shows it, the findings print under
// each target's name, a target's context target is there for its check,
// and --call overrides every target.
func TestBakeCallCheck(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dirty, clean := callContext(t, lintDockerfile("")), callContext(t, fmt.Sprintf("FROM %s AS base\n", env.BaseImage))
	app := callContext(t, "FROM dep\nCOPY Dockerfile /app\n")
	bakeDir := t.TempDir()
	hcl := fmt.Sprintf(`group "default" { targets = ["dirty", "clean", "app"] }
target "app" {
  context = %q
  contexts = { dep = "target:dirty" }
  call = "check"
}
target "dirty" {
  context = %q
  description = "breaks a check"
  call = "check"
}
target "clean" {
  context = %q
  call = "check"
}
`, app, dirty, clean)
	if err := os.WriteFile(filepath.Join(bakeDir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	allow := []string{"bake", "--allow", "fs.read=" + dirty, "--allow", "fs.read=" + clean, "--allow", "fs.read=" + app}
	p := bakePrint(t, allow[1:], withDir(bakeDir))
	if p.Target["dirty"]["call"] != "check" {
		t.Errorf("--print: dirty.call = %v, want check", p.Target["dirty"]["call"])
	}
	r := xb(t, cfg, allow, withDir(bakeDir))
	if r.Code != 1 {
		t.Fatalf("bake with a finding: exit %d, want 1\n%s", r.Code, r)
	}
	want := "app\n\nCheck complete, no warnings found.\n\nclean\n\nCheck complete, no warnings found.\n\ndirty\nbreaks a check\n\nCheck complete, 1 warning has been found!\n"
	if !strings.HasPrefix(r.Stdout, want) || !strings.Contains(r.Stdout, "FromAsCasing") {
		t.Errorf("bake stdout does not start with\n%s\n%s", want, r)
	}
	r = xb(t, cfg, append(allow, "--call", "check,format=json"), withDir(bakeDir))
	var out struct {
		Target map[string]map[string]json.RawMessage `json:"target"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || r.Code != 1 {
		t.Fatalf("bake --call check,format=json: exit %d, %v\n%s", r.Code, err, r)
	}
	var res lint.LintResults
	if err := json.Unmarshal(out.Target["dirty"]["check"], &res); err != nil || len(res.Warnings) != 1 {
		t.Errorf("dirty.check = %s (%v), want one warning", out.Target["dirty"]["check"], err)
	}
	r = xb(t, cfg, append(allow, "--call", "targets"), withDir(bakeDir))
	if r.Code != 0 || !strings.Contains(r.Stdout, "base (default)") {
		t.Errorf("bake --call targets: want each target's stages\n%s", r)
	}
}

// BUILDX_METADATA_WARNINGS=1 puts a build's check findings into the
// metadata file, as BuildKit sent them; unset, the key is absent.
func TestBuildMetadataWarnings(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := callContext(t, lintDockerfile(""))
	for _, on := range []bool{true, false} {
		md := filepath.Join(t.TempDir(), "md.json")
		opt := withEnv("BUILDX_METADATA_WARNINGS=0")
		if on {
			opt = withEnv("BUILDX_METADATA_WARNINGS=1")
		}
		mustXB(t, cfg, []string{"build", "--output", "type=cacheonly", "--metadata-file", md, dir}, opt)
		data, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Ref      string                   `json:"buildx.build.ref"`
			Warnings []bkclient.VertexWarning `json:"buildx.build.warnings"`
		}
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("metadata file: %v\n%s", err, data)
		}
		if !on {
			if got.Warnings != nil {
				t.Errorf("BUILDX_METADATA_WARNINGS=0: metadata holds warnings:\n%s", data)
			}
			continue
		}
		if len(got.Warnings) != 1 || !strings.Contains(string(got.Warnings[0].Short), "FromAsCasing") || got.Warnings[0].SourceInfo == nil {
			t.Errorf("buildx.build.warnings = %+v, want the FromAsCasing finding with its source\n%s", got.Warnings, data)
		}
		if got.Ref == "" {
			t.Errorf("metadata file lacks buildx.build.ref:\n%s", data)
		}
	}
}

// The action's call input is --call: a check prints its findings and fails
// the step on any.
func TestActionCall(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	dir := callContext(t, lintDockerfile(""))
	res := r.step("main.js", map[string]string{
		"context": dir, "call": "check", "driver": "remote", "endpoint": env.BuildKit, "xbuild-path": xbuildBin,
	}, "DOCKER_HOST="+env.DockerContainerd)
	if res.Code != 1 || !strings.Contains(res.Stdout, "Check complete, 1 warning has been found!") || !strings.Contains(res.Stdout, "FromAsCasing") {
		t.Errorf("call=check: want exit 1 and the finding\n%s", res)
	}
	if p := r.post(); p.Code != 0 {
		t.Errorf("cleanup: %s", p)
	}
}
