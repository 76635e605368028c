package builder

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo makes a checkout with one commit, a remote URL holding
// credentials and the Dockerfile in app/.
func gitRepo(t *testing.T) (root, sha string) {
	t.Helper()
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
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

func TestGitAttrs(t *testing.T) {
	t.Parallel()
	root, sha := gitRepo(t)
	ctxDir := filepath.Join(root, "app")
	const url = "https://xxxxx:xxxxx@example.com/org/repo.git"
	info := map[string]string{
		"vcs:source": url, "vcs:revision": sha,
		"vcs:localdir:context": "app", "vcs:localdir:dockerfile": "app",
	}
	labels := map[string]string{
		"label:org.opencontainers.image.source":   url,
		"label:org.opencontainers.image.revision": sha,
		"label:" + dockerfileLabel:                filepath.Join("app", "Dockerfile"),
	}
	both := maps.Clone(info)
	maps.Copy(both, labels)
	tests := []struct {
		name string
		req  Request
		in   GitInfo
		want map[string]string
	}{
		{name: "default", req: Request{Context: ctxDir}, want: info},
		{name: "labels", req: Request{Context: ctxDir}, in: GitInfo{Labels: true}, want: both},
		{name: "labels only", req: Request{Context: ctxDir}, in: GitInfo{Off: true, Labels: true}, want: labels},
		{name: "off", req: Request{Context: ctxDir}, in: GitInfo{Off: true}, want: nil},
		{name: "clean tree not dirty", req: Request{Context: ctxDir}, in: GitInfo{Off: true, Labels: true, CheckDirty: true}, want: labels},
		{name: "outside a checkout", req: Request{Context: t.TempDir()}, want: nil},
		{name: "remote context", req: Request{Context: "https://example.com/x.git"}, want: nil},
		{name: "stdin context", req: Request{Context: "-"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := gitAttrs(context.Background(), &tt.req, tt.in)
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("gitAttrs(%q, %+v) = %v, %v; want %v", tt.req.Context, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestGitAttrsDirty(t *testing.T) {
	t.Parallel()
	root, sha := gitRepo(t)
	if err := os.WriteFile(filepath.Join(root, "app", "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := &Request{Context: filepath.Join(root, "app")}
	got, err := gitAttrs(context.Background(), req, GitInfo{CheckDirty: true})
	if err != nil || got["vcs:revision"] != sha+"-dirty" {
		t.Errorf("gitAttrs(dirty tree) vcs:revision = %q, %v; want %s-dirty", got["vcs:revision"], err, sha)
	}
	got, err = gitAttrs(context.Background(), req, GitInfo{})
	if err != nil || got["vcs:revision"] != sha {
		t.Errorf("gitAttrs(dirty tree, no check) vcs:revision = %q, %v; want %s", got["vcs:revision"], err, sha)
	}
}
