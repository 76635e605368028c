package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func testdata(name string) string { return filepath.Join(repoRoot, "tests", "testdata", "bake", name) }

// printed is the part of `bake --print` the tests read.
type printed struct {
	Group  map[string]struct{ Targets []string } `json:"group"`
	Target map[string]map[string]any             `json:"target"`
}

func bakePrint(t *testing.T, args []string, opts ...runOpt) printed {
	t.Helper()
	r := mustXB(t, t.TempDir(), append([]string{"bake", "--print"}, args...), opts...)
	var p printed
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		t.Fatalf("--print wrote more than JSON on stdout: %v\n%s", err, r.Stdout)
	}
	return p
}

func TestBakePrintResolvesEveryFeature(t *testing.T) {
	t.Parallel()
	p := bakePrint(t, []string{"-f", testdata("features.hcl"), "--var", "TAG=v1"}, withEnv("FROM_ENV=from-env", "TAG=env-loses"))
	app := p.Target["app"]
	if app == nil {
		t.Fatalf("no app target in %+v", p)
	}
	want := map[string]any{
		"context":    "ctx",
		"dockerfile": "app.Dockerfile",
		"target":     "final",
		"tags":       []any{"r.example/app:v1"},
		"platforms":  []any{"linux/amd64", "linux/arm64"},
		"no-cache":   true,
		"pull":       true,
		"network":    "host",
	}
	for k, v := range want {
		got, _ := json.Marshal(app[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("app.%s = %s, want %s", k, got, exp)
		}
	}
	args, _ := app["args"].(map[string]any)
	for k, v := range map[string]string{"COMMON": "yes", "FROM_ENV": "from-env", "UPPER": "SHOUT"} {
		if args[k] != v {
			t.Errorf("app.args.%s = %v, want %s (inherits, env override, stdlib function)", k, args[k], v)
		}
	}
	raw, _ := json.Marshal(app)
	for _, want := range []string{`"basectx":"target:base"`, `"mode":"max"`, `"id":"tok"`, `"env":"TOKEN"`, `"ref":"r.example/app:cache"`, `"type":"inline"`, `"type":"docker"`, `org.example.team`, `index:org.opencontainers.image.title=app`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("app lacks %s: %s", want, raw)
		}
	}
	for _, name := range []string{"m-one", "m-two"} {
		if p.Target[name] == nil {
			t.Errorf("matrix target %s missing", name)
		}
	}
	if _, ok := p.Target["_common"]; ok {
		t.Errorf("inherited-only target _common printed")
	}
	base, _ := json.Marshal(p.Target["base"]["output"])
	if string(base) != `[{"type":"cacheonly"}]` {
		t.Errorf("base (reached only as a context) output = %s, want cacheonly", base)
	}
	if g := p.Group["default"].Targets; !slices.Equal(g, []string{"app", "matrixed"}) {
		t.Errorf("default group = %v", g)
	}
}

func TestBakeSetOverrides(t *testing.T) {
	t.Parallel()
	p := bakePrint(t, []string{"-f", testdata("features.hcl"), "--set", "*.platform=linux/arm64", "--set", "app.tags+=extra/app:1", "--set", "m-*.args.ITEM=set",
		"--set", "app.output=type=local,dest=out/app", "app", "matrixed"})
	for name, tgt := range p.Target {
		if name == "base" {
			continue
		}
		got, _ := json.Marshal(tgt["platforms"])
		if string(got) != `["linux/arm64"]` {
			t.Errorf("%s.platforms = %s after --set *.platform", name, got)
		}
	}
	tags, _ := json.Marshal(p.Target["app"]["tags"])
	if string(tags) != `["r.example/app:dev","extra/app:1"]` {
		t.Errorf("app.tags = %s after +=", tags)
	}
	if out, _ := json.Marshal(p.Target["app"]["output"]); string(out) != `[{"dest":"out/app","type":"local"}]` {
		t.Errorf("app.output = %s after --set", out)
	}
	if args, _ := p.Target["m-two"]["args"].(map[string]any); args["ITEM"] != "set" {
		t.Errorf("m-two.args = %v after wildcard --set", args)
	}
}

func TestBakeListAndCompose(t *testing.T) {
	t.Parallel()
	r := mustXB(t, t.TempDir(), []string{"bake", "-f", testdata("features.hcl"), "--list=targets,format=json"})
	var list []struct {
		Name  string
		Group bool
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("--list json: %v\n%s", err, r.Stdout)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	for _, want := range []string{"app", "base", "default", "m-one"} {
		if !slices.Contains(names, want) {
			t.Errorf("--list=targets lacks %s: %v", want, names)
		}
	}
	r = mustXB(t, t.TempDir(), []string{"bake", "-f", testdata("features.hcl"), "--list=variables"})
	if !strings.Contains(r.Stdout, "REGISTRY") || !strings.Contains(r.Stdout, "r.example") {
		t.Errorf("--list=variables:\n%s", r.Stdout)
	}
	// A compose file is a bake definition too, found by its default name.
	dir := t.TempDir()
	data, _ := os.ReadFile(testdata("compose.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := bakePrint(t, nil, withDir(dir))
	web, _ := json.Marshal(p.Target["web"])
	if !strings.Contains(string(web), `"example/web:compose"`) || !strings.Contains(string(web), `"GREETING":"hi"`) {
		t.Errorf("compose target web = %s", web)
	}
}

func TestBakeBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "syntax error", args: []string{"-f", testdata("syntax-error.hcl")}, want: "syntax-error.hcl:"},
		{name: "unknown target", args: []string{"-f", testdata("features.hcl"), "nosuch"}, want: "nosuch"},
		{name: "cyclic inherits", args: []string{"-f", testdata("cycle-inherits.hcl"), "a"}, want: "loop"},
		{name: "cyclic contexts", args: []string{"-f", testdata("cycle-contexts.hcl"), "a"}, want: "loop"},
		{name: "matrix collision", args: []string{"-f", testdata("matrix-collision.hcl"), "m"}, want: "same"},
		{name: "unknown --set key", args: []string{"-f", testdata("features.hcl"), "--set", "app.colour=red"}, want: "colour"},
		{name: "no definition", args: nil, want: "no bake definition found"},
		{name: "remote definition", args: []string{"-f", "https://github.com/example/repo.git"}, want: "given as the first argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, t.TempDir(), append([]string{"bake"}, tt.args...), withDir(t.TempDir()))
			if r.Code != 1 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.Code, r.Stderr, tt.want)
			}
			if strings.Contains(r.Stderr, "#1 ") {
				t.Errorf("a build started:\n%s", r.Stderr)
			}
		})
	}
}

// writeBakeGroup writes a group of three targets, one of them two-platform
// built on a "target:" context.
func writeBakeGroup(t *testing.T) string {
	t.Helper()
	dir := helloContext(t)
	hcl := `variable "BASE" {}
variable "TAG" { default = "dev" }
group "default" { targets = ["app", "tools", "docs"] }
target "base" {
  args = { BASE = BASE }
  dockerfile-inline = "ARG BASE\nFROM $${BASE}\nRUN echo base-layer > /base.txt\n"
}
target "app" {
  contexts = { basectx = "target:base" }
  dockerfile-inline = "FROM basectx\nRUN cp /base.txt /built-for\nCOPY hello.sh /hello.sh\nCMD [\"/bin/sh\", \"/hello.sh\"]\n"
  platforms = ["linux/amd64", "linux/arm64"]
  tags = ["xbuild-test/bake-app:${TAG}"]
}
target "tools" {
  args = { BASE = BASE }
  tags = ["xbuild-test/bake-tools:${TAG}"]
}
target "docs" {
  args = { BASE = BASE }
  output = ["type=local,dest=out/docs"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBakeGroupIntoContainerdStore(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	dir := writeBakeGroup(t)
	tag := strings.TrimPrefix(uniqueTag(t, "bake-app"), "xbuild-test/bake-app:")
	uniqueTag(t, "bake-tools") // cleanup only
	md := filepath.Join(t.TempDir(), "md.json")
	mustXB(t, t.TempDir(), []string{"bake", "--load", "--metadata-file", md, "--var", "BASE=" + env.BaseImage, "--var", "TAG=" + tag},
		withDir(dir), withDockerHost(host))
	api := engine(t, host)
	app := "xbuild-test/bake-app:" + tag
	kinds := manifestKinds(t, api, app)
	if len(kinds["image"]) != 2 || len(kinds["attestation"]) != 2 {
		t.Errorf("%s manifests = %v, want two images with attestations", app, kinds)
	}
	for plat, want := range map[string]string{"linux/arm64": "hello from aarch64", "linux/amd64": "hello from x86_64"} {
		if got := runImage(t, api, app, plat); !strings.Contains(got, want) {
			t.Errorf("running %s for %s printed %q", app, plat, got)
		}
	}
	if _, err := api.ImageInspect(t.Context(), "xbuild-test/bake-tools:"+tag); err != nil {
		t.Errorf("tools image not loaded: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "docs", "built-for")); err != nil {
		t.Errorf("docs output not written: %v", err)
	}
	data, _ := os.ReadFile(md)
	var byTarget map[string]map[string]any
	if err := json.Unmarshal(data, &byTarget); err != nil {
		t.Fatalf("metadata: %v\n%s", err, data)
	}
	if d, _ := byTarget["app"]["containerimage.digest"].(string); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("metadata for app = %v", byTarget["app"])
	}
}

func TestBakeGroupOnClassicStoreIsRefused(t *testing.T) {
	t.Parallel()
	dir := writeBakeGroup(t)
	r := xb(t, t.TempDir(), []string{"bake", "--load", "--var", "BASE=" + env.BaseImage},
		withDir(dir), withDockerHost(env.DockerClassic))
	if r.Code != 1 || r.Stderr != documentedError {
		t.Errorf("bake on the classic store: exit %d, stderr\n%q\nwant\n%q", r.Code, r.Stderr, documentedError)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a refused bake wrote outputs")
	}
}

// A failing target is named, and the others are cancelled.
func TestBakeFailureNamesTarget(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := t.TempDir()
	base := env.BaseImage
	hcl := `group "default" { targets = ["good", "bad"] }
target "good" { dockerfile-inline = "FROM ` + base + `\nRUN sleep 30\n" }
target "bad" { dockerfile-inline = "FROM ` + base + `\nRUN exit 7\n" }
`
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	r := xb(t, cfg, []string{"bake", "--no-cache"}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: target bad:") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming target bad", r.Code, r.Stderr)
	}
}
