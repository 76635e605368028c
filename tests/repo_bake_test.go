package tests

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The repository's own docker-bake.hcl resolves to its two default
// targets, both for linux/amd64 and linux/arm64, and its binaries target
// builds an xbuild that runs. (hack/env up builds and pushes the other target, the SBOM
// generator, the same way; TestSBOMAndProvenance uses it.)
func TestRepositoryBakeFile(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	r := mustXB(t, cfg, []string{"bake", "--print"}, withDir(repoRoot), withEnv("REGISTRY=example.test:5000"))
	var def struct {
		Group  map[string]struct{ Targets []string }
		Target map[string]struct {
			Platforms []string
			Tags      []string
			Target    string
			Output    []map[string]string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &def); err != nil {
		t.Fatalf("bake --print: %v\n%s", err, r.Stdout)
	}
	if got := def.Group["default"].Targets; !slices.Equal(got, []string{"binaries", "sbom-generator"}) {
		t.Errorf("default group = %v", got)
	}
	for _, name := range []string{"binaries", "sbom-generator"} {
		if got := def.Target[name].Platforms; !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
			t.Errorf("target %s platforms = %v", name, got)
		}
	}
	if got := def.Target["sbom-generator"].Tags; !slices.Equal(got, []string{"example.test:5000/xbuild/sbom-generator:latest"}) {
		t.Errorf("sbom-generator tags = %v, want the REGISTRY variable honoured", got)
	}
	if out := def.Target["binaries"].Output; len(out) != 1 || out[0]["type"] != "local" || out[0]["dest"] != "bin/release" || out[0]["platform-split"] != "false" {
		t.Errorf("binaries output = %v", out)
	}

	// Only the host platform here: the arm64 binary is the same compile
	// with another GOARCH, and hack/env up already builds the generator
	// for both.
	dest := t.TempDir()
	mustXB(t, cfg, []string{"bake", "binaries", "--allow", "fs.read=/etc/ssl/certs",
		"--set", "binaries.platform=linux/" + runtime.GOARCH,
		"--set", "binaries.output=type=local,dest=" + dest,
		"--set", "binaries.args.VERSION=v0.0.0-repo-bake"},
		withDir(repoRoot), withEnv("GOPROXY="+goProxyURL(t), "BASE_IMAGE="+env.BaseImage))
	asset := "xbuild-linux-" + runtime.GOARCH
	out, err := exec.Command(filepath.Join(dest, asset), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v0.0.0-repo-bake") {
		t.Errorf("the built xbuild version: %v\n%s", err, out)
	}
	sum, err := os.ReadFile(filepath.Join(dest, asset+".sha256"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, asset))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x  %s\n", sha256.Sum256(data), asset); string(sum) != want {
		t.Errorf("%s.sha256 = %q, want %q", asset, sum, want)
	}
}

// goProxyURL is the first proxy URL of the Go in PATH, which the
// repository's Dockerfile downloads the toolchain and modules from.
func goProxyURL(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("go env GOPROXY: %v", err)
	}
	for _, p := range strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		if strings.HasPrefix(p, "http") {
			return p
		}
	}
	return "https://proxy.golang.org"
}
