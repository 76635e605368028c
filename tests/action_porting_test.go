package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A workflow of docker's actions runs with only its uses: lines changed:
// an input xbuild does not know is a warning, and the build goes on; the
// build writes its record under RUNNER_TEMP.
func TestActionPortUnknownInputWarns(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	res := r.step("main.js", map[string]string{
		"context":      helloContext(t),
		"build-args":   baseArg(),
		"platfroms":    "linux/amd64",
		"install":      "true",
		"cache-binary": "true",
		"github-token": "ghs_unused",
		"driver":       "remote",
		"endpoint":     env.BuildKit,
		"xbuild-path":  xbuildBin,
	})
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	for _, want := range []string{"::warning::input platfroms is not used by xbuild\n", "::warning::input install is not used by xbuild\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("no warning %q:\n%s", want, res.Stdout)
		}
	}
	if strings.Contains(res.Stdout, "input cache-binary") || strings.Contains(res.Stdout, "input github-token") {
		t.Errorf("a known input was warned about:\n%s", res.Stdout)
	}
	out := r.file(r.output)
	if out["driver"] != "remote" || out["name"] != r.file(r.state)["builder"] || out["metadata"] == "" {
		t.Errorf("outputs = %v", out)
	}
	rec, err := os.ReadFile(out["record"])
	if !strings.HasPrefix(out["record"], r.dir) || !strings.HasSuffix(out["record"], ".dockerbuild") || err != nil || len(rec) < 2 || rec[0] != 0x1f || rec[1] != 0x8b {
		t.Errorf("record output %q is not a gzipped bundle under RUNNER_TEMP (%v)", out["record"], err)
	}
	_ = r.post()
}

// A setup-buildx-action step builds nothing: it creates the builder, writes
// setup-buildx-action's outputs and makes it current, so the next step
// builds there; the cleanup keeps its state with keep-state.
func TestActionPortSetupStep(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	name := fmt.Sprintf("ci-%d", time.Now().UnixNano())
	res := r.step("main.js", map[string]string{
		"driver": "remote", "endpoint": env.BuildKit, "name": name, "platforms": "linux/amd64",
		"use": "true", "cleanup": "true", "keep-state": "true", "xbuild-path": xbuildBin,
	})
	if res.Code != 0 {
		t.Fatalf("the setup step failed:\n%s", res)
	}
	if strings.Contains(res.Stderr, "#0 building with") {
		t.Errorf("the setup step built:\n%s", res)
	}
	out := r.file(r.output)
	if out["name"] != name || out["driver"] != "remote" || out["endpoint"] != env.BuildKit || out["status"] != "running" ||
		!strings.Contains(out["platforms"], "linux/amd64") || out["imageid"] != "" {
		t.Errorf("setup outputs = %v", out)
	}
	var nodes []struct{ Name, Endpoint, Status, Buildkit, Platforms string }
	if err := json.Unmarshal([]byte(out["nodes"]), &nodes); err != nil || len(nodes) != 1 || nodes[0].Endpoint != env.BuildKit ||
		nodes[0].Status != "running" || nodes[0].Buildkit == "" || nodes[0].Platforms == "" {
		t.Errorf("nodes output = %s (%v)", out["nodes"], err)
	}
	build := r.step("main.js", map[string]string{"context": helloContext(t), "build-args": baseArg(), "xbuild-path": xbuildBin})
	if build.Code != 0 || !strings.Contains(build.Stderr, `#0 building with "`+name+`" instance using remote driver`) {
		t.Fatalf("the next step did not build on the set-up builder:\n%s", build)
	}
	if p := r.post(); p.Code != 0 || !strings.Contains(p.Stdout, "removed builder "+name+", keeping its build state") {
		t.Errorf("cleanup: %s", p)
	}
}

// A setup-buildx-action step with no inputs at all builds nothing and
// reports the builder later steps will use.
func TestActionPortSetupStepNoInputs(t *testing.T) {
	t.Parallel()
	r := newRunner(t, true)
	res := r.step("main.js", map[string]string{"xbuild-path": xbuildBin, "use": "true", "cleanup": "true"}, "DOCKER_HOST="+env.DockerContainerd)
	if res.Code != 0 || strings.Contains(res.Stderr, "#0 building with") {
		t.Fatalf("the setup step failed or built:\n%s", res)
	}
	out := r.file(r.output)
	if out["driver"] != "docker" || out["name"] == "" || out["status"] != "running" {
		t.Errorf("setup outputs = %v", out)
	}
	if st := r.file(r.state); st["builder"] != "" {
		t.Errorf("the step saved a builder to remove, having created none: %v", st)
	}
}

// bake-action's no-cache: true rebuilds every step (the FROM image is
// still shown CACHED, as BuildKit shows it under --no-cache); left at
// false it overrides nothing, so the bake file's own no-cache holds.
func TestActionPortBakeNoCache(t *testing.T) {
	t.Parallel()
	hcl := fmt.Sprintf(`variable "BASE" {}
target "app" {
  args = { BASE = BASE }
  dockerfile-inline = "ARG BASE\nFROM $${BASE}\nRUN echo %d > /stamp\n"
}
target "fresh" {
  inherits = ["app"]
  no-cache = true
}
`, time.Now().UnixNano())
	dir := writeContext(t, map[string]string{"docker-bake.hcl": hcl})
	bake := func(target, noCache string) result {
		t.Helper()
		r := newRunner(t, false)
		res := r.step("main.js", map[string]string{"source": dir, "targets": target, "vars": "BASE=" + env.BaseImage,
			"no-cache": noCache, "pull": "false", "driver": "remote", "endpoint": env.BuildKit, "xbuild-path": xbuildBin})
		if res.Code != 0 {
			t.Fatalf("bake %s with no-cache=%q failed:\n%s", target, noCache, res)
		}
		_ = r.post()
		return res
	}
	bake("app", "") // fills the cache
	for _, tc := range []struct {
		target, noCache string
		cached          bool
	}{
		{"app", "false", true}, {"app", "true", false}, {"fresh", "false", false},
	} {
		res := bake(tc.target, tc.noCache)
		if got := runCached(res.Stderr); got != tc.cached {
			t.Errorf("bake %s with no-cache=%q: RUN step CACHED = %t, want %t:\n%s", tc.target, tc.noCache, got, tc.cached, res.Stderr)
		}
	}
}

// A gha cache entry gets the runner's token and cache URL, as buildx adds
// them: the cache service sees the token, and it is nowhere in the step's
// output, summary or outputs.
func TestActionPortGhaCacheToken(t *testing.T) {
	t.Parallel()
	marker := runtimeToken("tok-never-shown-5123")
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		auth = append(auth, req.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "no cache here", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	r := newRunner(t, true)
	res := r.step("main.js", map[string]string{
		"context": helloContext(t), "build-args": baseArg(),
		"cache-from": "type=gha,scope=port", "cache-to": "type=gha,mode=max,scope=port",
		"driver": "remote", "endpoint": env.BuildKit, "xbuild-path": xbuildBin,
	}, "ACTIONS_RUNTIME_TOKEN="+marker, "ACTIONS_CACHE_URL="+srv.URL+"/")
	_ = r.post()
	mu.Lock()
	seen := strings.Join(auth, "\n")
	mu.Unlock()
	if !strings.Contains(seen, "Bearer "+marker) {
		t.Errorf("the cache service got no token (Authorization: %q):\n%s", seen, res)
	}
	summary, _ := os.ReadFile(r.summary)
	outputs, _ := os.ReadFile(r.output)
	for what, s := range map[string]string{"stdout": res.Stdout, "stderr": res.Stderr, "summary": string(summary), "outputs": string(outputs)} {
		if strings.Contains(s, marker) {
			t.Errorf("the token is in the step's %s:\n%s", what, s)
		}
	}
}

// DOCKER_BUILD_SUMMARY, DOCKER_BUILD_CHECKS_ANNOTATIONS and
// DOCKER_BUILD_RECORD_UPLOAD set to false turn off the job summary, the
// build check annotations and the build record.
func TestActionPortBuildSwitches(t *testing.T) {
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "ARG BASE\nFROM ${BASE} as base\nRUN echo x > /x\n"})
	run := func(extra ...string) (*runner, result) {
		r := newRunner(t, true)
		res := r.step("main.js", map[string]string{"context": ctxDir, "build-args": baseArg(), "driver": "remote",
			"endpoint": env.BuildKit, "xbuild-path": xbuildBin}, extra...)
		if res.Code != 0 {
			t.Fatalf("the step failed:\n%s", res)
		}
		_ = r.post()
		return r, res
	}
	r, res := run()
	summary, _ := os.ReadFile(r.summary)
	if !strings.Contains(res.Stdout, "::warning file=") || len(summary) == 0 || r.file(r.output)["record"] == "" {
		t.Errorf("with the switches on: annotation, summary and record expected:\n%s\nsummary:\n%s", res, summary)
	}
	r, res = run("DOCKER_BUILD_SUMMARY=false", "DOCKER_BUILD_CHECKS_ANNOTATIONS=false", "DOCKER_BUILD_RECORD_UPLOAD=false")
	summary, _ = os.ReadFile(r.summary)
	records, _ := filepath.Glob(filepath.Join(r.dir, "*.dockerbuild"))
	if strings.Contains(res.Stdout, "::warning file=") || len(summary) != 0 || r.file(r.output)["record"] != "" || len(records) != 0 {
		t.Errorf("with the switches off: no annotation, summary or record expected (records %v):\n%s\nsummary:\n%s", records, res, summary)
	}
}

// runtimeToken is an ACTIONS_RUNTIME_TOKEN as BuildKit's gha cache reads
// it: a JWT (unverified) with cache access controls and a valid time; sig
// stands for its signature.
func runtimeToken(sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"ac": `[{"Scope":"refs/heads/main","Permission":3}]`, "nbf": now - 60, "exp": now + 3600})
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte(sig))
}

// runCached says whether the log shows a RUN step taken from the cache.
func runCached(log string) bool {
	for _, line := range strings.Split(log, "\n") {
		id, step, ok := strings.Cut(line, " ")
		if ok && strings.HasPrefix(id, "#") && strings.Contains(step, "] RUN ") && strings.Contains(log, "\n"+id+" CACHED\n") {
			return true
		}
	}
	return false
}
