package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitCheckout makes a Git checkout holding the hello example in app/,
// with a remote URL that carries credentials, and returns it with its
// commit.
func gitCheckout(t *testing.T) (root, sha string) {
	t.Helper()
	root = t.TempDir()
	if err := os.Rename(helloContext(t), filepath.Join(root, "app")); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("remote", "add", "origin", "https://user:secret@example.com/org/repo.git")
	git("add", ".")
	git("commit", "-qm", "init")
	return root, git("rev-parse", "HEAD")
}

// buildRef reads the build's history ref from its metadata file.
func buildRef(t *testing.T, mdFile string) string {
	t.Helper()
	data, err := os.ReadFile(mdFile)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatalf("metadata: %v\n%s", err, data)
	}
	ref, _ := md["buildx.build.ref"].(string)
	parts := strings.Split(ref, "/")
	if len(parts) != 3 {
		t.Fatalf("buildx.build.ref = %q, want BUILDER/NODE/REF", ref)
	}
	return parts[2]
}

// A build from a Git checkout records its remote URL, without the
// credentials, and its commit; BUILDX_GIT_LABELS adds them as labels;
// BUILDX_GIT_INFO=0 records nothing.
func TestGitInfo(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	root, sha := gitCheckout(t)
	const source = "https://xxxxx:xxxxx@example.com/org/repo.git"
	type inspected struct{ VCSRepository, VCSRevision string }
	build := func(t *testing.T, envs ...string) (inspected, map[string]string, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "layout")
		md := filepath.Join(t.TempDir(), "md.json")
		mustXB(t, cfg, []string{"build", "--builder", "r", "--platform", "linux/amd64", "--build-arg", baseArg(),
			"--provenance", "mode=max", "--metadata-file", md, "-o", "type=oci,tar=false,dest=" + out, "app"},
			withDir(root), withEnv(envs...))
		r := mustXB(t, cfg, []string{"history", "inspect", "--builder", "r", "--format", "json", buildRef(t, md)})
		var got inspected
		if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
			t.Fatalf("history inspect: %v\n%s", err, r.Stdout)
		}
		return got, layoutConfig(t, out).Config.Labels, layoutText(t, out)
	}
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		got, labels, blobs := build(t)
		if got.VCSRepository != source || got.VCSRevision != sha {
			t.Errorf("history inspect = %+v, want %s at %s", got, source, sha)
		}
		if !strings.Contains(blobs, source) || strings.Contains(blobs, "secret") {
			t.Errorf("provenance should name %s and not the credentials", source)
		}
		if labels["org.opencontainers.image.revision"] != "" {
			t.Errorf("labels without BUILDX_GIT_LABELS = %v", labels)
		}
	})
	t.Run("labels", func(t *testing.T) {
		t.Parallel()
		_, labels, _ := build(t, "BUILDX_GIT_LABELS=1")
		want := map[string]string{
			"org.opencontainers.image.revision":  sha,
			"org.opencontainers.image.source":    source,
			"com.docker.image.source.entrypoint": "app/Dockerfile",
		}
		for k, v := range want {
			if labels[k] != v {
				t.Errorf("label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		got, labels, blobs := build(t, "BUILDX_GIT_INFO=0")
		if got.VCSRepository != "" || got.VCSRevision != "" || strings.Contains(blobs, "example.com") {
			t.Errorf("BUILDX_GIT_INFO=0 still recorded %+v", got)
		}
		if labels["org.opencontainers.image.source"] != "" {
			t.Errorf("BUILDX_GIT_INFO=0 labels = %v", labels)
		}
	})
}

type ociDesc struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

// readJSON reads a JSON file into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
}

// layoutBlob reads a blob of an OCI layout folder as JSON into v.
func layoutBlob(t *testing.T, dir, dgst string, v any) {
	t.Helper()
	readJSON(t, filepath.Join(dir, "blobs", strings.Replace(dgst, ":", "/", 1)), v)
}

type imageConfig struct {
	Config struct{ Labels map[string]string }
}

// layoutConfig is the image config of the first platform image in an OCI
// layout folder, whose index holds an image or an index of images and
// attestations.
func layoutConfig(t *testing.T, dir string) imageConfig {
	t.Helper()
	var idx struct{ Manifests []ociDesc }
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Manifests) == 0 {
		t.Fatalf("%s/index.json names no image", dir)
	}
	desc := idx.Manifests[0]
	if strings.HasSuffix(desc.MediaType, "index.v1+json") {
		var inner struct{ Manifests []ociDesc }
		layoutBlob(t, dir, desc.Digest, &inner)
		desc = ociDesc{}
		for _, m := range inner.Manifests {
			if m.Annotations["vnd.docker.reference.type"] == "" {
				desc = m
				break
			}
		}
	}
	var mf struct{ Config ociDesc }
	layoutBlob(t, dir, desc.Digest, &mf)
	var cfg imageConfig
	layoutBlob(t, dir, mf.Config.Digest, &cfg)
	return cfg
}

// layoutText is every blob of an OCI layout folder under 1 MiB, as text,
// for checks of what the folder holds anywhere.
func layoutText(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Size() < 1<<20 {
			data, _ := os.ReadFile(filepath.Join(blobs, e.Name()))
			b.Write(data)
		}
	}
	return b.String()
}
