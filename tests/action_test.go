package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runner plays the part of a GitHub Actions runner for action.yml: inputs
// as INPUT_* variables, the runner's files, GITHUB_ACTIONS=true.
type runner struct {
	t                           *testing.T
	dir, output, summary, state string
	env                         []string
}

func newRunner(t *testing.T, public bool) *runner {
	t.Helper()
	dir := t.TempDir()
	r := &runner{t: t, dir: dir, output: filepath.Join(dir, "output"), summary: filepath.Join(dir, "summary.md"), state: filepath.Join(dir, "state")}
	event := filepath.Join(dir, "event.json")
	priv := "true"
	if public {
		priv = "false"
	}
	if err := os.WriteFile(event, []byte(`{"repository":{"private":`+priv+`}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{r.output, r.summary, r.state, filepath.Join(dir, "env")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.env = append(os.Environ(), "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+r.output, "GITHUB_STEP_SUMMARY="+r.summary,
		"GITHUB_STATE="+r.state, "GITHUB_ENV="+filepath.Join(dir, "env"), "GITHUB_EVENT_PATH="+event,
		"RUNNER_TEMP="+dir, "XBUILD_CONFIG="+filepath.Join(dir, "xbuild"), "BUILDKIT_PROGRESS=")
	return r
}

// step runs a node script of the action with inputs; it returns stdout,
// stderr and the exit code.
func (r *runner) step(script string, inputs map[string]string, extraEnv ...string) result {
	r.t.Helper()
	cmd := exec.Command("node", filepath.Join(repoRoot, ".github", "action", script))
	cmd.Dir = r.dir
	cmd.Env = append(append([]string{}, r.env...), extraEnv...)
	for k, v := range inputs {
		cmd.Env = append(cmd.Env, "INPUT_"+strings.ToUpper(k)+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("running node %s: %v", script, err)
	}
	return res
}

// post runs the cleanup with the state the main step saved.
func (r *runner) post() result {
	var state []string
	for k, v := range r.file(r.state) {
		state = append(state, "STATE_"+k+"="+v)
	}
	return r.step("post.js", nil, state...)
}

// file reads a runner file of name=value lines and name<<DELIM heredocs.
func (r *runner) file(path string) map[string]string {
	r.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

func TestActionBuild(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	ctxDir := helloContext(t)
	// "as" in lower case is a build check warning on line 2.
	df := "ARG BASE\nFROM ${BASE} as base\nCOPY hello.sh /hello.sh\nRUN echo built > /built-for\nCMD [\"/bin/sh\", \"/hello.sh\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := uniqueTag(t, "action")
	res := r.step("main.js", map[string]string{
		"context":    ctxDir,
		"platforms":  "linux/amd64\nlinux/arm64",
		"tags":       tag,
		"build-args": baseArg(),
		"load":       "true",
		"secrets":    "id=tok,env=ACTION_SECRET",
		"driver":     "remote",
		"endpoint":   env.BuildKit,
	}, "DOCKER_HOST="+env.DockerContainerd, "ACTION_SECRET=never-shown-4711")
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	out := r.file(r.output)
	if !strings.HasPrefix(out["digest"], "sha256:") || out["imageid"] != out["digest"] {
		t.Errorf("outputs digest=%q imageid=%q", out["digest"], out["imageid"])
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(out["metadata"]), &md); err != nil || md["containerimage.digest"] != out["digest"] {
		t.Errorf("output metadata = %q (%v)", out["metadata"], err)
	}
	kinds := manifestKinds(t, engine(t, env.DockerContainerd), tag)
	if len(kinds["image"]) != 2 || len(kinds["attestation"]) != 2 {
		t.Errorf("loaded manifests = %v", kinds)
	}
	summary, _ := os.ReadFile(r.summary)
	for _, want := range []string{"## Build summary", "| default | linux/amd64, linux/arm64 | docker.io/" + tag, out["digest"], "provenance mode=max", "secrets: `tok`"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	wantAnnotation := "::warning file=" + filepath.Join(ctxDir, "Dockerfile") + ",line=2,"
	if !strings.Contains(res.Stdout, wantAnnotation) {
		t.Errorf("no annotation %q in:\n%s", wantAnnotation, res.Stdout)
	}
	if !strings.Contains(res.Stderr, "#0 building with") {
		t.Errorf("GitHub Actions did not get plain progress:\n%s", res.Stderr)
	}
	for _, where := range []string{res.Stdout, res.Stderr, string(summary), out["metadata"]} {
		if strings.Contains(where, "never-shown-4711") {
			t.Fatalf("the secret leaked:\n%s", where)
		}
	}
	state := r.file(r.state)
	if state["builder"] == "" {
		t.Fatalf("the step saved no builder to clean up: %v", state)
	}
	saved, err := os.ReadFile(filepath.Join(r.dir, "xbuild", "instances", state["builder"]))
	if err != nil || !strings.Contains(string(saved), `"architecture":"amd64"`) || !strings.Contains(string(saved), `"architecture":"arm64"`) {
		t.Errorf("the created builder does not carry the step's platforms (%v):\n%s", err, saved)
	}
	if p := r.post(); p.Code != 0 || !strings.Contains(p.Stdout, "removed builder "+state["builder"]) {
		t.Errorf("cleanup: %s", p)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "xbuild", "instances", state["builder"])); err == nil {
		t.Errorf("the builder survived the cleanup")
	}
}

func TestActionBake(t *testing.T) {
	t.Parallel()
	r := newRunner(t, false)
	dir := writeBakeGroup(t)
	res := r.step("main.js", map[string]string{
		"source":      dir,
		"targets":     "docs,tools",
		"set":         "*.args.BASE=" + env.BaseImage + "\ntools.output=type=cacheonly",
		"xbuild-path": xbuildBin,
	}, "DOCKER_HOST="+env.DockerContainerd, "BASE=unused")
	if res.Code != 0 {
		t.Fatalf("the bake step failed:\n%s", res)
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(r.file(r.output)["metadata"]), &md); err != nil {
		t.Fatalf("metadata output: %v", err)
	}
	for _, target := range []string{"docs", "tools"} {
		if _, ok := md[target]; !ok {
			t.Errorf("metadata lacks target %s: %v", target, md)
		}
	}
	// each target's log in a group of its own, not interleaved
	for _, target := range []string{"docs", "tools"} {
		_, rest, ok := strings.Cut(res.Stderr, "::group::target "+target+"\n")
		body, _, closed := strings.Cut(rest, "::endgroup::\n")
		if !ok || !closed || !strings.Contains(body, "#0 building with") || strings.Contains(body, "::group::") {
			t.Errorf("no log group of its own for target %s:\n%s", target, res.Stderr)
		}
	}
	summary, _ := os.ReadFile(r.summary)
	if !strings.Contains(string(summary), "| docs |") || !strings.Contains(string(summary), "provenance mode=min") {
		t.Errorf("bake summary (private repository, so mode=min):\n%s", summary)
	}
}

func TestActionBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{name: "malformed platforms", inputs: map[string]string{"platforms": "linux/amd64,,linux/arm64x"}, want: `invalid platform "linux/arm64x"`},
		{name: "push without tags", inputs: map[string]string{"push": "true"}, want: "tags is empty"},
		{name: "not a boolean", inputs: map[string]string{"load": "yes please"}, want: `input load: "yes please" is not true or false`},
		{name: "append without a driver", inputs: map[string]string{"append": "- endpoint: tcp://10.0.0.9:1234"}, want: "input append adds nodes to a builder the step creates"},
		{name: "append with an unknown key", inputs: map[string]string{"driver": "remote", "endpoint": "tcp://10.0.0.9:1234", "append": "- endpoint: tcp://10.0.0.9:1234\n  buildkitd-flags: --debug"}, want: `input append: node 1: unknown key "buildkitd-flags"`},
		{name: "append not a list", inputs: map[string]string{"driver": "remote", "endpoint": "tcp://10.0.0.9:1234", "append": "endpoint: tcp://10.0.0.9:1234"}, want: "input append: want a YAML list of nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, true)
			tt.inputs["xbuild-path"] = xbuildBin
			res := r.step("main.js", tt.inputs, "DOCKER_HOST="+env.DockerContainerd)
			if res.Code != 1 || !strings.Contains(res.Stderr, tt.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", res.Code, tt.want, res)
			}
			if strings.Contains(res.Stderr, "#1 ") {
				t.Errorf("a build started:\n%s", res.Stderr)
			}
		})
	}
}

// setup-buildx-action's append: the step's builder gets a second node for
// arm64, the first keeps amd64, and the push joins both nodes' images into
// one index; the cleanup removes the builder with both nodes.
func TestActionAppendNodes(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	bk := env.BuildKit
	tag := fmt.Sprintf("%s/xbuild-test/action-append:%d", env.Registry, time.Now().UnixNano())
	res := r.step("main.js", map[string]string{
		"context":     helloContext(t),
		"platforms":   "linux/amd64,linux/arm64",
		"tags":        tag,
		"build-args":  baseArg(),
		"push":        "true",
		"driver":      "remote",
		"endpoint":    bk,
		"append":      "- name: arm\n  endpoint: " + bk + "\n  platforms: linux/arm64\n",
		"xbuild-path": xbuildBin,
	})
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	if !strings.Contains(res.Stderr, "building linux/arm64 on node arm") || !strings.Contains(res.Stderr, "building linux/amd64 on node xbuild-") {
		t.Errorf("the platforms were not built on their nodes:\n%s", res.Stderr)
	}
	state := r.file(r.state)
	saved, err := os.ReadFile(filepath.Join(r.dir, "xbuild", "instances", state["builder"]))
	var b struct {
		Nodes []struct {
			Name      string
			Platforms []struct{ OS, Architecture string }
		}
	}
	plats := func(i int) string {
		var out []string
		for _, p := range b.Nodes[i].Platforms {
			out = append(out, p.OS+"/"+p.Architecture)
		}
		return strings.Join(out, ",")
	}
	if err != nil || json.Unmarshal(saved, &b) != nil || len(b.Nodes) != 2 ||
		plats(0) != "linux/amd64" || b.Nodes[1].Name != "arm" || plats(1) != "linux/arm64" {
		t.Errorf("the builder's nodes (%v):\n%s", err, saved)
	}
	cfg := t.TempDir()
	raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", tag})
	if want := digestOf(r.file(r.output)["digest"]); want.String() != "sha256:"+fmt.Sprintf("%x", sha256.Sum256([]byte(strings.TrimSuffix(raw.Stdout, "\n")))) {
		t.Errorf("output digest %s is not the pushed index:\n%s", want, raw.Stdout)
	}
	if got := inspectPlatforms(t, cfg, tag); len(got) != 2 {
		t.Errorf("%s platforms = %+v", tag, got)
	}
	if p := r.post(); p.Code != 0 || !strings.Contains(p.Stdout, "removed builder "+state["builder"]) {
		t.Errorf("cleanup: %s", p)
	}
}

// On a classic-store engine, a two-platform step gets a local builder of
// its own instead of the classic-store error, and loses it at cleanup.
func TestActionClassicStoreGetsOwnBuilder(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	dest := filepath.Join(t.TempDir(), "img.oci.tar")
	res := r.step("main.js", map[string]string{
		"context":                 helloContext(t),
		"platforms":               "linux/amd64,linux/arm64",
		"build-args":              baseArg(),
		"outputs":                 "type=oci,dest=" + dest,
		"buildkitd-config-inline": "[registry.\"" + env.Registry + "\"]\n  http = true\n[worker.containerd]\n  enabled = false",
		"xbuild-path":             xbuildBin,
	}, "DOCKER_HOST="+env.DockerClassic,
		"PATH="+filepath.Join(repoRoot, "hack", "tools", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	if !strings.Contains(res.Stdout, "building with a local buildkitd") {
		t.Errorf("the step did not say it made its own builder:\n%s", res.Stdout)
	}
	var index struct{ Manifests []struct{ MediaType string } }
	if err := json.Unmarshal(tarFiles(t, dest)["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Errorf("OCI output index.json: %+v, %v", index, err)
	}
	name := r.file(r.state)["builder"]
	if p := r.post(); p.Code != 0 || !strings.Contains(p.Stdout, "removed builder "+name) {
		t.Errorf("cleanup: %s", p)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "xbuild", "local", name)); err == nil {
		t.Errorf("the local builder's state survived the cleanup")
	}
}

// `version` installs a release binary from the action's repository, checked
// against its .sha256; a mismatch or a missing release installs nothing and
// builds nothing.
func TestActionInstallsRelease(t *testing.T) {
	t.Parallel()
	bin, err := os.ReadFile(xbuildBin)
	if err != nil {
		t.Fatal(err)
	}
	asset := "xbuild-linux-" + runtime.GOARCH
	good := fmt.Sprintf("%x  %s\n", sha256.Sum256(bin), asset)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/acme/xbuild/releases/download/v1.2.3/" + asset, "/acme/xbuild/releases/download/v6.6.6/" + asset:
			_, _ = w.Write(bin)
		case "/acme/xbuild/releases/download/v1.2.3/" + asset + ".sha256":
			_, _ = io.WriteString(w, good)
		case "/acme/xbuild/releases/download/v6.6.6/" + asset + ".sha256":
			_, _ = io.WriteString(w, strings.Repeat("0", 64)+"  "+asset+"\n")
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	runnerEnv := []string{"GITHUB_SERVER_URL=" + srv.URL, "GITHUB_ACTION_REPOSITORY=acme/xbuild"}

	r := newRunner(t, false)
	res := r.step("main.js", map[string]string{
		"version": "v1.2.3", "context": helloContext(t), "build-args": baseArg(),
		"driver": "remote", "endpoint": env.BuildKit,
	}, runnerEnv...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "installed xbuild v1.2.3 ("+asset) {
		t.Fatalf("installing a release:\n%s", res)
	}
	installed := r.file(r.state)["xbuild"]
	if data, err := os.ReadFile(installed); err != nil || !bytes.Equal(data, bin) || !strings.HasPrefix(installed, r.dir) {
		t.Errorf("the step ran %q, not the downloaded release (%v)", installed, err)
	}
	if r.file(r.output)["metadata"] == "" {
		t.Error("the installed release built nothing")
	}
	_ = r.post()

	for _, tc := range []struct {
		name    string
		inputs  map[string]string
		want    string
		wantErr bool
	}{
		{name: "checksum mismatch", inputs: map[string]string{"version": "v6.6.6"}, want: asset + " of v6.6.6 does not match its .sha256"},
		{name: "no such release", inputs: map[string]string{"version": "v0.0.1"}, want: "HTTP 404 (is v0.0.1 a release of acme/xbuild?)"},
		{name: "not a tag", inputs: map[string]string{"version": "latest; rm -rf /"}, want: "is not a release tag"},
		{name: "both ways", inputs: map[string]string{"version": "v1.2.3", "xbuild-path": xbuildBin}, want: "either version or xbuild-path"},
	} {
		r := newRunner(t, false)
		tc.inputs["context"] = helloContext(t)
		res := r.step("main.js", tc.inputs, runnerEnv...)
		if res.Code == 0 || !strings.Contains(res.Stdout, "::error::") || !strings.Contains(res.Stdout, tc.want) {
			t.Errorf("%s: want a failed step with %q, got\n%s", tc.name, tc.want, res)
		}
		if st := r.file(r.state); st["xbuild"] != "" || strings.Contains(res.Stderr, "#1 ") {
			t.Errorf("%s: something was installed or built: %v\n%s", tc.name, st, res)
		}
	}
}

// The step under a real runner emulator: act runs a workflow like the
// project's own example job (checkout, then this repository's action),
// with the job on this host, and a later step sees the step's outputs.
func TestActionUnderAct(t *testing.T) {
	t.Parallel()
	ref := fmt.Sprintf("%s/xbuild-test/act:%d", env.Registry, time.Now().UnixNano())
	workflow := fmt.Sprintf(`name: example
on: push
jobs:
  example:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Build examples/hello
        id: build
        uses: ./
        with:
          context: %s
          platforms: linux/amd64,linux/arm64
          build-args: %s
          tags: %s
          push: true
          driver: remote
          endpoint: %s
          xbuild-path: %s
      - run: echo "step digest=${{ steps.build.outputs.digest }}"
`, helloContext(t), baseArg(), ref, env.BuildKit, xbuildBin)
	repo, home := actRepo(t, workflow)
	out := runAct(t, repo, home, ".github/workflows/example.yml")
	insp := mustXB(t, t.TempDir(), []string{"imagetools", "inspect", "--format", "{{json .Manifest}}", ref})
	var m struct{ Digest string }
	if err := json.Unmarshal([]byte(insp.Stdout), &m); err != nil || m.Digest == "" {
		t.Fatalf("the pushed index: %v\n%s", err, insp.Stdout)
	}
	if !strings.Contains(out, "step digest="+m.Digest) {
		t.Errorf("the next step did not see digest %s:\n%s", m.Digest, out)
	}
	if !strings.Contains(out, "removed builder xbuild-") {
		t.Errorf("the post step did not remove the step's builder:\n%s", out)
	}
}

// actRepo makes a Git repository holding this action and workflow as
// .github/workflows/example.yml, for act to run; it returns the
// repository and a home folder for act.
func actRepo(t *testing.T, workflow string) (repo, home string) {
	t.Helper()
	repo = t.TempDir()
	files := map[string]string{".github/workflows/example.yml": workflow}
	for _, f := range []string{"action.yml", ".github/action/main.js", ".github/action/post.js"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(data)
	}
	for f, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home = t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=xbuild", "-c", "user.email=xbuild@example.com"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "example")
	return repo, home
}

// The project's own workflow, .github/workflows/ci.yml, its example job as
// it is: act checks this repository out, the step builds xbuild from it
// with this machine's Go, builds examples/hello into the classic-store
// engine, and the job's last step runs the image.
func TestProjectWorkflowUnderAct(t *testing.T) {
	t.Parallel()
	sha, err := exec.Command("git", "-C", repoRoot, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("the repository's commit: %v", err)
	}
	classic := env.DockerClassic
	tag := "hello:" + strings.TrimSpace(string(sha))
	t.Cleanup(func() {
		_, _ = engine(t, classic).ImageRemove(context.Background(), tag, dockerRemoveForce)
	})
	// act fetches every action a job names before it starts, skipped steps'
	// too; setup-go (skipped under act) comes from a stand-in folder.
	setupGo := writeContext(t, map[string]string{
		"action.yml": "name: setup-go stand-in\nruns:\n  using: node20\n  main: index.js\n",
		"index.js":   "process.exit(1); // never runs: the job skips setup-go under act\n",
	})
	out := runAct(t, repoRoot, t.TempDir(), ".github/workflows/ci.yml", "-j", "example",
		"--local-repository", "actions/setup-go@v5="+setupGo,
		"--var", "BASE_IMAGE="+env.BaseImage, "--env", "DOCKER_HOST="+classic)
	if strings.Contains(out, "setup-go stand-in") {
		t.Errorf("setup-go ran under act:\n%s", out)
	}
	for _, want := range []string{"hello from x86_64", "image sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the example job's output lacks %q:\n%s", want, out)
		}
	}
}

// runAct runs a workflow of repo with act, every job on this host, and
// fails the test unless the job succeeds. home is act's: it keeps its
// workspace and caches there; Go keeps the machine's caches.
func runAct(t *testing.T, repo, home, workflow string, args ...string) string {
	t.Helper()
	return runActEnv(t, repo, home, workflow, nil, args...)
}

// runActEnv is runAct with more variables in act's own environment, which
// act hands the job (ACTIONS_RUNTIME_TOKEN, for one, is read from there).
func runActEnv(t *testing.T, repo, home, workflow string, procEnv []string, args ...string) string {
	t.Helper()
	goEnv, err := exec.Command("go", "env", "GOPATH", "GOMODCACHE", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	paths := strings.Fields(string(goEnv))
	if len(paths) != 3 {
		t.Fatalf("go env GOPATH GOMODCACHE GOCACHE = %q", goEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Act,
		append([]string{"push", "-W", workflow, "-P", "ubuntu-latest=-self-hosted", "-P", "ubuntu-24.04=-self-hosted"}, args...)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"GOPATH="+paths[0], "GOMODCACHE="+paths[1], "GOCACHE="+paths[2],
		"XBUILD_CONFIG="+filepath.Join(home, "xbuild"), "DOCKER_CONFIG="+filepath.Join(home, "docker"))
	cmd.Env = append(cmd.Env, procEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Job succeeded") {
		t.Fatalf("act %s: %v\n%s", workflow, err, out)
	}
	return string(out)
}
