package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// type=oci and type=docker with tar=false write an OCI layout folder,
// which a failed build leaves as it was and a second build adds to.
func TestOCILayoutOutput(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	build := func(t *testing.T, output string) {
		t.Helper()
		mustXB(t, cfg, []string{"build", "--builder", "r", "--platform", "linux/amd64", "--build-arg", baseArg(), "-o", output, ctxDir})
	}
	for _, typ := range []string{"oci", "docker"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "layout")
			build(t, "type="+typ+",tar=false,dest="+dest+",name=example/hello:one")
			for _, f := range []string{"index.json", "oci-layout", "blobs/sha256"} {
				if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
					t.Errorf("layout folder lacks %s: %v", f, err)
				}
			}
			layoutConfig(t, dest) // fails unless index, manifest and config are there
			before, err := os.ReadFile(filepath.Join(dest, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			bad := t.TempDir()
			if err := os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM "+env.BaseImage+"\nRUN exit 3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := xb(t, cfg, []string{"build", "--builder", "r", "-o", "type=" + typ + ",tar=false,dest=" + dest + ",name=example/hello:bad", bad})
			if r.Code != 1 {
				t.Fatalf("failed build: exit code = %d, want 1\n%s", r.Code, r)
			}
			after, _ := os.ReadFile(filepath.Join(dest, "index.json"))
			if !bytes.Equal(before, after) {
				t.Errorf("a failed build changed index.json:\n%s\nto\n%s", before, after)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 1 {
				t.Errorf("a failed build left %v beside the layout", entries)
			}
			build(t, "type="+typ+",tar=false,dest="+dest+",name=example/hello:two")
			var idx struct{ Manifests []ociDesc }
			readJSON(t, filepath.Join(dest, "index.json"), &idx)
			var names []string
			for _, m := range idx.Manifests {
				names = append(names, m.Annotations["io.containerd.image.name"])
			}
			if len(names) != 2 || !strings.Contains(strings.Join(names, " "), "example/hello:one") {
				t.Errorf("layout after a second build names %v, want both images", names)
			}
		})
	}
	t.Run("stdout refused", func(t *testing.T) {
		t.Parallel()
		r := xb(t, cfg, []string{"build", "--builder", "r", "-o", "type=oci,tar=false,dest=-", ctxDir})
		if r.Code != 1 || !strings.Contains(r.Stderr, "dest cannot be stdout for oci exporter") {
			t.Errorf("tar=false to stdout: %s", r)
		}
	})
}

// A push leaves the media types to BuildKit, as buildx does (it sets no
// oci-mediatypes; the env's BuildKit then writes OCI ones), and the
// exporter's attribute still decides when given.
func TestRegistryMediaTypes(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	repo := fmt.Sprintf("%s/xbuild-test/mediatypes-%d", env.Registry, time.Now().UnixNano())
	const (
		ociManifest    = "application/vnd.oci.image.manifest.v1+json"
		dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	)
	for _, tc := range []struct {
		name, tag string
		args      []string
		want      string
	}{
		{"registry", "plain", []string{"--provenance=false", "-o", "type=registry,name=" + repo + ":plain"}, ociManifest},
		{"push flag", "push", []string{"--provenance=false", "--push", "-t", repo + ":push"}, ociManifest},
		{"docker asked", "docker", []string{"--provenance=false", "-o", "type=registry,oci-mediatypes=false,name=" + repo + ":docker"}, dockerManifest},
		{"attestations", "attested", []string{"-o", "type=image,push=true,name=" + repo + ":attested"}, "application/vnd.oci.image.index.v1+json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"build", "--builder", "r", "--platform", "linux/amd64", "--build-arg", baseArg()}, tc.args...)
			mustXB(t, cfg, append(args, ctxDir))
			ref := repo + ":" + tc.tag
			raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", ref}).Stdout
			var m struct{ MediaType string }
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("manifest of %s: %v\n%s", ref, err, raw)
			}
			if m.MediaType != tc.want {
				t.Errorf("%s media type = %q, want %q", ref, m.MediaType, tc.want)
			}
		})
	}
}

// A platform may carry its OS version: it reaches BuildKit as given. With
// no Windows worker and a Linux base image, BuildKit's refusal is the
// outcome, not a parse error; a Linux version builds as Linux.
func TestPlatformOSVersion(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	r := xb(t, cfg, []string{"build", "--builder", "r", "--platform", "windows(10.0.17763)/amd64", "--build-arg", baseArg(), ctxDir})
	if r.Code != 1 || !strings.Contains(r.Stderr, "no match for platform in manifest") {
		t.Errorf("windows(10.0.17763)/amd64 should reach the builder and be refused there:\n%s", r)
	}
	out := t.TempDir()
	mustXB(t, cfg, []string{"build", "--builder", "r", "--platform", "linux(5.10)/amd64", "--build-arg", baseArg(), "-o", out, ctxDir})
	// BuildKit hands the platform to the Dockerfile as given.
	if got, err := os.ReadFile(filepath.Join(out, "built-for")); err != nil || !strings.Contains(string(got), "built for linux(5.10)/amd64 on x86_64") {
		t.Errorf("linux(5.10)/amd64 built-for = %q, %v", got, err)
	}
}

// Key-value flags with an empty key are refused in buildx's words, which
// scripts match.
func TestBuildKeyValueErrors(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--build-arg", "--label"} {
		r := xb(t, t.TempDir(), []string{"build", flag, "=TEST_STRING", helloContext(t)})
		if want := `ERROR: invalid key-value pair "=TEST_STRING": empty key`; r.Code != 1 || strings.TrimSpace(r.Stderr) != want {
			t.Errorf("build %s =TEST_STRING:\n%s\nwant exit 1 and %q", flag, r, want)
		}
	}
}

// BUILDX_NO_DEFAULT_LOAD keeps bake on the docker driver from loading
// what it builds when no output is named.
func TestBakeNoDefaultLoad(t *testing.T) {
	t.Parallel()
	dir := helloContext(t)
	tag := uniqueTag(t, "bake-no-default-load")
	hcl := fmt.Sprintf("target \"default\" {\n  tags = [%q]\n  args = { BASE = %q }\n}\n", tag, env.BaseImage)
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	host := withDockerHost(env.DockerContainerd)
	api := engine(t, env.DockerContainerd)
	mustXB(t, t.TempDir(), []string{"bake"}, withDir(dir), host, withEnv("BUILDX_NO_DEFAULT_LOAD=1"))
	if _, err := api.ImageInspect(t.Context(), tag); err == nil {
		t.Errorf("BUILDX_NO_DEFAULT_LOAD=1: bake loaded %s", tag)
	}
	mustXB(t, t.TempDir(), []string{"bake"}, withDir(dir), host)
	if _, err := api.ImageInspect(t.Context(), tag); err != nil {
		t.Errorf("without BUILDX_NO_DEFAULT_LOAD bake did not load %s: %v", tag, err)
	}
}
