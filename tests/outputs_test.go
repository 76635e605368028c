package tests

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file output type, written by the remote driver and checked for
// what it must hold.
func TestFileOutputs(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	out := t.TempDir()
	build := func(t *testing.T, platform string, outputs ...string) {
		t.Helper()
		args := []string{"build", "--builder", "r", "--platform", platform, "--build-arg", baseArg()}
		for _, o := range outputs {
			args = append(args, "--output", o)
		}
		mustXB(t, cfg, append(args, ctxDir))
	}
	t.Run("oci", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(out, "img.oci.tar")
		build(t, "linux/amd64,linux/arm64", "type=oci,dest="+dest+",name=example/hello:oci")
		files := tarFiles(t, dest)
		var index struct {
			MediaType string `json:"mediaType"`
			Manifests []struct {
				MediaType   string            `json:"mediaType"`
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.Unmarshal(files["index.json"], &index); err != nil {
			t.Fatalf("index.json: %v", err)
		}
		if len(index.Manifests) != 1 || index.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
			t.Errorf("index.json = %+v, want one image index", index)
		}
		if _, ok := files["oci-layout"]; !ok {
			t.Errorf("no oci-layout file in %s", dest)
		}
	})
	t.Run("docker", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(out, "img.docker.tar")
		build(t, "linux/amd64", "type=docker,dest="+dest+",name=example/hello:docker")
		var manifest []struct{ RepoTags []string }
		if err := json.Unmarshal(tarFiles(t, dest)["manifest.json"], &manifest); err != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != "example/hello:docker" {
			t.Errorf("manifest.json = %+v, want example/hello:docker", manifest)
		}
	})
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(out, "rootfs")
		build(t, "linux/arm64", "type=local,dest="+dest)
		got, err := os.ReadFile(filepath.Join(dest, "built-for"))
		if err != nil || !strings.Contains(string(got), "built for linux/arm64 on aarch64") {
			t.Errorf("built-for = %q, %v", got, err)
		}
	})
	t.Run("tar", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(out, "rootfs.tar")
		build(t, "linux/amd64", "type=tar,dest="+dest)
		if got := string(tarFiles(t, dest)["built-for"]); !strings.Contains(got, "built for linux/amd64") {
			t.Errorf("built-for in the tar = %q", got)
		}
	})
	t.Run("failed build leaves no file", func(t *testing.T) {
		t.Parallel()
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM "+env.BaseImage+"\nRUN exit 3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(out, "never", "img.tar")
		r := xb(t, cfg, []string{"build", "--builder", "r", "--output", "type=oci,dest=" + dest, bad})
		if r.Code != 1 {
			t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
		}
		entries, _ := os.ReadDir(filepath.Dir(dest))
		if len(entries) != 0 {
			t.Errorf("a failed build left %v", entries)
		}
	})
}

// tarFiles reads a tar archive's regular files into memory.
func tarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			out[strings.TrimPrefix(h.Name, "./")] = data
		}
	}
}
