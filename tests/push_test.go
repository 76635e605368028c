package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On the docker driver with the classic store the engine's exporter only
// names the image: every way of asking for a push must end with the
// manifest in the registry and its digest in the metadata file.
func TestPushFromClassicStore(t *testing.T) {
	t.Parallel()
	classic := withDockerHost(env.DockerClassic)
	reg := env.Registry
	repo := fmt.Sprintf("xbuild-test/classic-push-%d", time.Now().UnixNano())
	ctxDir := helloContext(t)
	for _, tc := range []struct {
		name string
		args func(ref string) []string
	}{
		{"push flag", func(ref string) []string { return []string{"--push", "-t", ref} }},
		{"image output", func(ref string) []string { return []string{"--output", "type=image,name=" + ref + ",push=true"} }},
		{"registry output", func(ref string) []string { return []string{"--output", "type=registry,name=" + ref} }},
		{"push and load", func(ref string) []string { return []string{"--push", "--load", "-t", ref} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tag := strings.ReplaceAll(tc.name, " ", "-")
			ref := reg + "/" + repo + ":" + tag
			md := filepath.Join(t.TempDir(), "md.json")
			args := append([]string{"build", "--metadata-file", md, "--build-arg", baseArg()}, tc.args(ref)...)
			r := mustXB(t, t.TempDir(), append(args, ctxDir), classic)
			if !strings.Contains(r.Stderr, "pushing "+ref+" with docker") {
				t.Errorf("no push step in the progress:\n%s", r.Stderr)
			}
			checkPushed(t, reg, repo, tag, readMetadata(t, md))
		})
	}
}

// bake's --push and type=registry outputs, and the action's push input, go
// through the same push.
func TestPushFromClassicStoreBakeAndAction(t *testing.T) {
	t.Parallel()
	classic := env.DockerClassic
	reg := env.Registry
	repo := fmt.Sprintf("xbuild-test/classic-bake-%d", time.Now().UnixNano())
	dir := helloContext(t)
	hcl := fmt.Sprintf(`target "flag" {
  tags = ["%[1]s/%[2]s:flag"]
  args = { BASE = "%[3]s" }
}
target "out" {
  tags = ["%[1]s/%[2]s:out"]
  args = { BASE = "%[3]s" }
  output = ["type=registry"]
}
`, reg, repo, env.BaseImage)
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	md := filepath.Join(t.TempDir(), "md.json")
	mustXB(t, cfg, []string{"bake", "--push", "--metadata-file", md, "flag"}, withDir(dir), withDockerHost(classic))
	checkPushed(t, reg, repo, "flag", readMetadata(t, md)["flag"].(map[string]any))
	mustXB(t, cfg, []string{"bake", "--metadata-file", md, "out"}, withDir(dir), withDockerHost(classic))
	checkPushed(t, reg, repo, "out", readMetadata(t, md)["out"].(map[string]any))

	run := newRunner(t, false)
	res := run.step("main.js", map[string]string{
		"context": dir, "tags": reg + "/" + repo + ":action", "build-args": baseArg(), "push": "true", "xbuild-path": xbuildBin,
	}, "DOCKER_HOST="+classic)
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	var stepMD map[string]any
	if err := json.Unmarshal([]byte(run.file(run.output)["metadata"]), &stepMD); err != nil {
		t.Fatalf("the step's metadata output: %v", err)
	}
	checkPushed(t, reg, repo, "action", stepMD)
	if got := run.file(run.output)["digest"]; got != stepMD["containerimage.digest"] {
		t.Errorf("the step's digest output = %q, want the pushed %v", got, stepMD["containerimage.digest"])
	}
}

// A push the registry refuses, or that cannot reach it, fails the build
// with the engine's reason.
func TestPushFromClassicStoreRefused(t *testing.T) {
	t.Parallel()
	classic := withDockerHost(env.DockerClassic)
	readOnly := readOnlyRegistry(t)
	ctxDir := helloContext(t)
	for _, tc := range []struct {
		name, ref, want string
	}{
		{"read-only registry", readOnly + "/app:1", "Method not allowed"},
		{"unreachable host", "127.0.0.1:1/app:1", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			md := filepath.Join(t.TempDir(), "md.json")
			r := xb(t, t.TempDir(), []string{"build", "--push", "-t", tc.ref, "--metadata-file", md, "--build-arg", baseArg(), ctxDir}, classic)
			if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: pushing "+tc.ref+" with docker engine") || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit 1 naming the push and %q:\n%s", tc.want, r)
			}
			if _, err := os.Stat(md); err == nil {
				t.Errorf("a failed push wrote a metadata file")
			}
		})
	}
	// What the engine cannot push is refused before any work.
	r := xb(t, t.TempDir(), []string{"build", "--output", "type=image,name=" + readOnly + "/app:1,push=true,push-by-digest=true", ctxDir}, classic)
	if r.Code != 1 || !strings.Contains(r.Stderr, "push-by-digest=true is not supported") || strings.Contains(r.Stderr, "#1 ") {
		t.Errorf("push-by-digest on the classic store:\n%s", r)
	}
}

// checkPushed fails unless the registry holds repo:tag under the digest
// the metadata records.
func checkPushed(t *testing.T, reg, repo, tag string, md map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+reg+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry has no %s:%s: %s", repo, tag, resp.Status)
	}
	if got, want := md["containerimage.digest"], resp.Header.Get("Docker-Content-Digest"); got != want {
		t.Errorf("metadata containerimage.digest = %v, want the registry's %s (metadata %v)", got, want, md)
	}
	if cfg, _ := md["containerimage.config.digest"].(string); !strings.HasPrefix(cfg, "sha256:") {
		t.Errorf("metadata containerimage.config.digest = %v, want the image ID", md["containerimage.config.digest"])
	}
}

func readMetadata(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return md
}

// readOnlyRegistry starts the env's registry binary in read-only mode on a
// free loopback port and returns its address.
func readOnlyRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  maintenance:\n    readonly:\n      enabled: true\nhttp:\n  addr: %s\n", dir, addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(env.RegistryBin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a read-only registry: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read-only registry did not answer: %v", err)
		}
	}
}

// What the classic store's builder cannot deliver is refused before any
// work, in the words buildx uses, instead of failing after the build (cache
// exporters) or not at all.
func TestClassicStoreRefusesUndeliverableOutputs(t *testing.T) {
	t.Parallel()
	classic := withDockerHost(env.DockerClassic)
	out := t.TempDir()
	for _, tc := range []struct {
		name, flag, value, want string
	}{
		{"cache to a folder", "--cache-to", "type=local,dest=" + filepath.Join(out, "cache"), "Cache export is not supported for the docker driver."},
		{"cache to a registry", "--cache-to", "type=registry,ref=" + env.Registry + "/xbuild-test/cache", "Cache export is not supported for the docker driver."},
		{"oci archive", "--output", "type=oci,dest=" + filepath.Join(out, "img.tar"), "OCI exporter is not supported for the docker driver."},
		{"docker archive", "--output", "type=docker,dest=" + filepath.Join(out, "img.tar"), "Docker exporter is not supported for the docker driver."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, t.TempDir(), []string{"build", tc.flag, tc.value, "--build-arg", baseArg(), helloContext(t)}, classic)
			want := "[+] Building 0.0s (0/0)\nERROR: " + tc.want + "\nSwitch to a different driver, or turn on the containerd image store, and try again.\n"
			if r.Code != 1 || !strings.HasPrefix(r.Stderr, want) {
				t.Errorf("want exit 1 and %q before any step:\n%s", want, r)
			}
		})
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("a refused build left %v behind", entries)
	}
}
