package bake

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bake fuzzers write the fuzzed bytes as a definition file, under the
// name that selects its format, and read it as `xbuild bake` does: Load,
// then Jobs and CheckEntitlements on what loaded. None may panic; a
// rejection has a message; and a definition that loads, printed as
// `bake --print` prints it, loads back as the same definition.

func fuzzGetenv(k string) string { return map[string]string{"GITHUB_TOKEN": "token"}[k] }

func checkLoad(t *testing.T, file string, data []byte) {
	dir := t.TempDir()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), LoadOptions{Files: []string{p}})
	if err != nil {
		checkMessage(t, "Load()", err)
		return
	}
	if _, err := d.Jobs(fuzzGetenv); err != nil {
		checkMessage(t, "Jobs()", err)
	}
	if err := d.CheckEntitlements(true); err != nil {
		checkMessage(t, "CheckEntitlements()", err)
	}
	if len(d.Target) == 0 {
		// A definition without targets prints "target": {}, which HCL's
		// JSON reader refuses: a block needs its label. Nothing to build.
		return
	}
	printed, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatalf("printing the definition loaded from %q: %v", data, err)
	}
	again := filepath.Join(t.TempDir(), "docker-bake.json")
	if err := os.WriteFile(again, printed, 0o600); err != nil {
		t.Fatal(err)
	}
	d2, err := Load(context.Background(), LoadOptions{Files: []string{again}})
	if err != nil {
		t.Fatalf("Load(%q) printed as\n%s\ndoes not load again: %v", data, printed, err)
	}
	reprinted, err := json.MarshalIndent(d2, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(printed, reprinted) {
		t.Fatalf("Load(%q) printed as\n%s\nloads back as\n%s", data, printed, reprinted)
	}
}

// checkMessage holds a rejection to a non-empty message. The messages are
// buildx's and compose-go's, passed on as they are, so one line is not
// asked of them here.
func checkMessage(t *testing.T, call string, err error) {
	t.Helper()
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatalf("%s error = %q, want a message", call, err.Error())
	}
}

func FuzzLoadHCL(f *testing.F) {
	for _, s := range []string{
		`target "default" {}`,
		`group "default" { targets = ["a", "b"] }
target "a" { dockerfile = "a.Dockerfile" platforms = ["linux/amd64", "linux/arm64"] }
target "b" { inherits = ["a"] tags = ["r/b:1"] args = { A = "1" } }`,
		`variable "TAG" { default = "latest" }
target "default" {
  context    = "."
  tags       = ["r/app:${TAG}"]
  output     = ["type=local,dest=out"]
  cache-from = ["type=gha"]
  secret     = ["id=GITHUB_TOKEN,env=GITHUB_TOKEN"]
  attest     = ["type=provenance,mode=max"]
  annotations = ["index:k=v"]
  contexts   = { base = "target:base" }
}
target "base" { dockerfile-inline = "FROM alpine" }`,
		`target "default" { platforms = ["linux/amd65"] }`,
		`target "a" { inherits = ["b"] }
target "b" { inherits = ["a"] }
group "default" { targets = ["a"] }`,
		`target "default" { network = "bogus" }`,
		`target "default" { call = "lint" }`,
		`target "default" {`,
		`target "other" {}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkLoad(t, "docker-bake.hcl", data) })
}

func FuzzLoadJSON(f *testing.F) {
	for _, s := range []string{
		`{"target":{"default":{}}}`,
		`{"group":{"default":{"targets":["a"]}},"target":{"a":{"context":".","tags":["r/a:1"],"platforms":["linux/arm/v7"]}}}`,
		`{"target":{"default":{"output":["type=image,push=true"],"cache-to":["type=inline"],"args":{"A":null}}}}`,
		`{"target":{"default":{"platforms":"linux/amd64"}}}`,
		`{"target":{"default":{"ssh":["default"],"shm-size":"128m","ulimits":["nofile=1024:2048"]}}}`,
		`{"target":[]}`, `{"target":{"default":`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkLoad(t, "docker-bake.json", data) })
}

func FuzzLoadCompose(f *testing.F) {
	for _, s := range []string{
		"services:\n  default:\n    build: .\n",
		"services:\n  web:\n    image: r/web:1\n    build:\n      context: .\n      dockerfile: web.Dockerfile\n      args: [A=1]\n      platforms: [linux/amd64]\n      tags: [r/web:2]\n",
		"services:\n  default:\n    build:\n      context: .\n      secrets: [tok]\n      x-bake:\n        output: type=local,dest=out\nsecrets:\n  tok:\n    environment: GITHUB_TOKEN\n",
		"services:\n  default:\n    image: alpine\n",
		"services:\n  default:\n    build:\n      context: .\n      ssh: [default]\n      extra_hosts: [\"h:1.2.3.4\"]\n",
		"services: [\n", "services:\n\tbad: tab\n", "version: '3'\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkLoad(t, "compose.yaml", data) })
}
