package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// policyDockerfile builds from the env's base image, so the only image
// source a policy sees is the base image in the env's registry.
const policyDockerfile = "ARG BASE\nFROM ${BASE}\nRUN echo policy-ok\n"

// registryOnlyPolicy allows images from the env's registry only.
func registryOnlyPolicy() string {
	return fmt.Sprintf(`package docker

default allow := false

allow if not input.image

allow if input.image.host == %q

deny_msg contains msg if {
	not allow
	msg := sprintf("image %%s is not from the test registry", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`, env.Registry)
}

// denyBasePolicy denies the env's base image by name.
func denyBasePolicy() string {
	return fmt.Sprintf(`package docker

default allow := true

allow := false if input.image.ref == %q

deny_msg contains "the base image is denied" if not allow

decision := {"allow": allow, "deny_msg": deny_msg}
`, env.BaseImage)
}

func policyBuilder(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "pol", "--driver", "remote", "--use", env.BuildKit})
	return cfg
}

// wantDenied checks a build stopped by the policy before the base image was
// fetched, with buildx's message lines and exit code.
func wantDenied(t *testing.T, r result, msg string) {
	t.Helper()
	if r.Code != 1 {
		t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
	}
	for _, want := range []string{
		"Policy: " + msg + "\n",
		`not allowed by policy: action DENY`,
		"ERROR: ",
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "policy-ok") {
		t.Errorf("the denied build ran its steps\n%s", r)
	}
}

// A policy allowing the env's registry lets the build through; one denying
// the base image stops it before the pull, with the policy's message; the
// Dockerfile's own Dockerfile.rego applies without a flag, and
// --policy disabled=true turns it off.
func TestPolicyBuild(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), policyDockerfile)
	writeFile(t, filepath.Join(dir, "allow.rego"), registryOnlyPolicy())
	writeFile(t, filepath.Join(dir, "deny.rego"), denyBasePolicy())
	build := func(extra ...string) result {
		args := append([]string{"build", "--progress=plain", "--build-arg", baseArg()}, extra...)
		return xb(t, cfg, append(args, dir))
	}

	if r := build("--policy", "filename=allow.rego"); r.Code != 0 {
		t.Fatalf("build allowed by the policy failed:\n%s", r)
	}
	wantDenied(t, build("--policy", "filename=deny.rego"), "the base image is denied")
	// The env's BuildKit consults policies for every source, so strict
	// changes nothing there; the policy still decides.
	if r := build("--policy", "filename=allow.rego,strict=true"); r.Code != 0 {
		t.Fatalf("strict build allowed by the policy failed:\n%s", r)
	}
	wantDenied(t, build("--policy", "filename=deny.rego,strict=true"), "the base image is denied")
	// Files of one --policy are one policy; two values are two, both must allow.
	wantDenied(t, build("--policy", "filename=allow.rego", "--policy", "filename=deny.rego"), "the base image is denied")

	writeFile(t, filepath.Join(dir, "Dockerfile.rego"), denyBasePolicy())
	wantDenied(t, build(), "the base image is denied")
	if r := build("--policy", "disabled=true"); r.Code != 0 {
		t.Fatalf("build with policies disabled failed:\n%s", r)
	}
	if r := build("--policy", "reset=true,filename=allow.rego"); r.Code != 0 {
		t.Fatalf("build with the Dockerfile's policy reset failed:\n%s", r)
	}
}

// materialPolicy decides on an image by the working folder of the first
// image its provenance names: that image's config is known only through a
// lookup on the builder.
func materialPolicy(workingDir string) string {
	return fmt.Sprintf(`package docker

default allow := false

allow if not input.image

allow if input.image.provenance.materials[0].image.workingDir == %q

deny_msg contains "the image's base is not the expected one" if not allow

decision := {"allow": allow, "deny_msg": deny_msg}
`, workingDir)
}

// A policy on the config of an image's provenance materials looks them up
// through the node that builds: it lets the build through when the base's
// config matches and stops it with its message when not.
func TestPolicyMaterialLookup(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "child", "Dockerfile"), "ARG BASE\nFROM ${BASE}\nLABEL stage=child\n")
	child := env.Registry + "/" + uniqueTag(t, "policy-child")
	mustXB(t, cfg, []string{"build", "--progress=quiet", "--build-arg", baseArg(), "--provenance=mode=min",
		"--push", "-t", child, filepath.Join(dir, "child")})

	writeFile(t, filepath.Join(dir, "Dockerfile"), policyDockerfile)
	writeFile(t, filepath.Join(dir, "root.rego"), materialPolicy("/"))
	writeFile(t, filepath.Join(dir, "other.rego"), materialPolicy("/elsewhere"))
	build := func(file string) result {
		return xb(t, cfg, []string{"build", "--progress=plain", "--build-arg", "BASE=" + child, "--policy", "filename=" + file, dir})
	}
	if r := build("root.rego"); r.Code != 0 || !strings.Contains(r.Stderr, "policy-ok") {
		t.Fatalf("build allowed by its base's config failed:\n%s", r)
	}
	wantDenied(t, build("other.rego"), "the image's base is not the expected one")
}

// proxyPolicy denies fetches from blocked.example and asks for the
// daemon's network proxy, through which a step's fetches meet the policy.
func proxyPolicy(proxy bool) string {
	return fmt.Sprintf(`package docker

default allow := true

allow := false if input.http.host == "blocked.example"

deny_msg contains "blocked.example is denied" if not allow

decision := {"allow": allow, "deny_msg": deny_msg, "caps": {"exec.proxy": %t}}
`, proxy)
}

// A policy whose caps ask for exec.proxy runs the build's steps behind the
// daemon's network proxy, which answers a denied fetch with 403; without
// the cap the step has no proxy.
func TestPolicyNetworkProxy(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "ARG BASE\nFROM ${BASE}\n"+
		"RUN wget -q -O- http://blocked.example/file 2>&1; echo \"proxy=${HTTP_PROXY:+on}.\"\n")
	writeFile(t, filepath.Join(dir, "on.rego"), proxyPolicy(true))
	writeFile(t, filepath.Join(dir, "off.rego"), proxyPolicy(false))
	build := func(file string) result {
		return mustXB(t, cfg, []string{"build", "--progress=plain", "--no-cache", "--build-arg", baseArg(), "--policy", "filename=" + file, dir})
	}
	r := build("on.rego")
	for _, want := range []string{"policy enabled network proxy\n", "403 Forbidden", "proxy=on."} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("build with exec.proxy: stderr lacks %q\n%s", want, r)
		}
	}
	r = build("off.rego")
	if !strings.Contains(r.Stderr, "proxy=.") || strings.Contains(r.Stderr, "network proxy") || strings.Contains(r.Stderr, "403") {
		t.Errorf("build without exec.proxy: want no proxy\n%s", r)
	}
}

// Bad policy input fails before the build starts, in one line naming the
// file or the value.
func TestPolicyBadInput(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), policyDockerfile)
	writeFile(t, filepath.Join(dir, "broken.rego"), "package docker\n\nallow if {\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "malformed", args: []string{"--policy", "filename=broken.rego"}, want: "ERROR: parsing policy file broken.rego: line 4: "},
		{name: "missing", args: []string{"--policy", "filename=nosuch.rego"}, want: "ERROR: policy file nosuch.rego not found"},
		{name: "bad key", args: []string{"--policy", "color=red"}, want: `ERROR: invalid --policy "color=red": invalid value color=red`},
		{name: "disabled with more", args: []string{"--policy", "disabled=true,filename=broken.rego"}, want: "ERROR: disabled policy cannot be combined with other policy flags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := xb(t, cfg, append(append([]string{"build", "--progress=plain"}, tc.args...), dir))
			if r.Code != 1 || !strings.HasPrefix(r.Stderr, tc.want) || strings.Count(r.Stderr, "\n") != 1 {
				t.Errorf("want exit 1 and one line starting %q\n%s", tc.want, r)
			}
		})
	}
}

// policy eval decides on a source as a build would; policy test runs the
// test_ rules and reports each; json-schema prints the input's schema.
func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "allow.rego"), registryOnlyPolicy())
	writeFile(t, filepath.Join(dir, "deny.rego"), denyBasePolicy())
	writeFile(t, filepath.Join(dir, "broken.rego"), "package docker\nallow if {\n")
	src := "docker-image://" + env.BaseImage

	if r := xb(t, cfg, []string{"policy", "eval", "-f", "allow", src}, withDir(dir)); r.Code != 0 || r.Stdout != "" {
		t.Errorf("policy eval of an allowed source: want exit 0 and no output\n%s", r)
	}
	r := xb(t, cfg, []string{"policy", "eval", "--file", "deny", src}, withDir(dir))
	if r.Code != 1 || r.Stderr != "ERROR: policy denied: the base image is denied\n" {
		t.Errorf("policy eval of a denied source: want buildx's message\n%s", r)
	}
	r = xb(t, cfg, []string{"policy", "eval", "-f", "-", src}, withDir(dir), withStdin(denyBasePolicy()))
	if r.Code != 1 || !strings.Contains(r.Stderr, "policy denied") {
		t.Errorf("policy eval of a policy on stdin: want it denied\n%s", r)
	}
	r = xb(t, cfg, []string{"policy", "eval", "-f", "broken", src}, withDir(dir))
	if r.Code != 1 || !strings.HasPrefix(r.Stderr, "ERROR: parsing policy file broken.rego: line 3: ") || strings.Count(r.Stderr, "\n") != 1 {
		t.Errorf("policy eval of a malformed file: want one line naming it\n%s", r)
	}
	r = mustXB(t, cfg, []string{"policy", "eval", "--print", src}, withDir(dir))
	var input struct {
		Image struct {
			Repo, Host string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &input); err != nil || input.Image.Host != env.Registry || input.Image.Repo != env.Registry+"/busybox" {
		t.Errorf("policy eval --print = %+v (%v), want the base image's input\n%s", input, err, r)
	}

	schema := mustXB(t, cfg, []string{"policy", "json-schema"})
	var s map[string]any
	if err := json.Unmarshal([]byte(schema.Stdout), &s); err != nil || s["$schema"] == nil || s["$defs"] == nil {
		t.Errorf("policy json-schema printed no JSON schema (%v)\n%s", err, schema)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policy.rego"), `package docker

default allow := false

allow if input.image.repo == "example/allowlist"

deny_msg contains "repository not allowed" if not allow

decision := {"allow": allow, "deny_msg": deny_msg}
`)
	writeFile(t, filepath.Join(dir, "tests", "policy_test.rego"), `package docker

test_allowlisted if {
	result := data.docker.decision with input as {"image": {"repo": "example/allowlist"}}
	result.allow
}

test_blocked if {
	result := data.docker.decision with input as {"image": {"repo": "example/blocked"}}
	not result.allow
}

test_wrong if {
	result := data.docker.decision with input as {"image": {"repo": "example/blocked"}}
	result.allow
}
`)
	r := mustXB(t, cfg, []string{"policy", "test", "--filename", "policy", "--run", "l", "tests"}, withDir(dir))
	want := "test_allowlisted: PASS (allow=true)\ntest_blocked: PASS (allow=false, deny_msg=repository not allowed)\n"
	if r.Stdout != want {
		t.Errorf("policy test --run l printed\n%s\nwant\n%s", r.Stdout, want)
	}
	r = xb(t, cfg, []string{"policy", "test", "--filename", "policy", "tests"}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stdout, "test_wrong: FAIL (allow=false, deny_msg=repository not allowed)\ninput:\n{") ||
		!strings.Contains(r.Stdout, "decision:\n{") || strings.Contains(r.Stderr, "ERROR") {
		t.Errorf("policy test with a failing test: want exit 1, FAIL with its input and decision, no error line\n%s", r)
	}
}

// A bake target's policy field applies to its build, the Dockerfile.rego
// beside its Dockerfile too; --policy disabled=true turns them off and
// --policy takes no files.
func TestPolicyBake(t *testing.T) {
	t.Parallel()
	cfg := policyBuilder(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app", "Dockerfile"), policyDockerfile)
	writeFile(t, filepath.Join(dir, "app", "deny.rego"), denyBasePolicy())
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), fmt.Sprintf(`
target "default" {
  context = "app"
  args = { BASE = %q }
  policy = [{ filename = "deny.rego" }]
}
`, env.BaseImage))
	wantDenied(t, xb(t, cfg, []string{"bake", "--progress=plain"}, withDir(dir)), "the base image is denied")
	if r := xb(t, cfg, []string{"bake", "--progress=plain", "--policy", "disabled=true"}, withDir(dir)); r.Code != 0 {
		t.Fatalf("bake with policies disabled failed:\n%s", r)
	}
	r := xb(t, cfg, []string{"bake", "--policy", "filename=deny.rego"}, withDir(dir))
	if r.Code != 1 || r.Stderr != "ERROR: --policy does not accept filename; define policy files in the bake definition\n" {
		t.Errorf("bake --policy filename=: want buildx's error\n%s", r)
	}
	r = mustXB(t, cfg, []string{"bake", "--print"}, withDir(dir))
	// buildx prints the policy entries with their Go field names.
	if !strings.Contains(r.Stdout, `"Filename": "deny.rego"`) {
		t.Errorf("bake --print does not show the target's policy\n%s", r.Stdout)
	}
}
