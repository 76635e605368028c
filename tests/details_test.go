package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Where Docker Desktop's build backend is installed (its file in
// ~/.docker/desktop-build), a build and a bake end with the link that
// opens their record, as buildx prints it, a failed build after its
// error; elsewhere, and with quiet progress, nothing is printed.
func TestBuildDetailsLink(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	desktopHome, plainHome := t.TempDir(), t.TempDir()
	marker := filepath.Join(desktopHome, ".docker", "desktop-build", ".lastaccess")
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctxDir := smallContext(t)
	bakeDir := writeContext(t, map[string]string{"docker-bake.hcl": `target "a" { context = "` + ctxDir + `" }
target "b" {
  context = "` + ctxDir + `"
  args = { X = "b" }
}
group "default" { targets = ["a", "b"] }
`})
	link := regexp.MustCompile(`View build details: docker-desktop://dashboard/build/r/r0/[a-z0-9]+\n`)
	r := mustXB(t, cfg, []string{"build", "--builder", "r", ctxDir}, withEnv("HOME="+desktopHome))
	if !link.MatchString(r.Stderr) {
		t.Errorf("build with Desktop: no build details link:\n%s", r.Stderr)
	}
	r = mustXB(t, cfg, []string{"bake", "--builder", "r", "--allow", "fs.read=/", "-f", filepath.Join(bakeDir, "docker-bake.hcl")}, withEnv("HOME="+desktopHome))
	for _, target := range []string{"a", "b"} {
		if !regexp.MustCompile(`\n  ` + target + `: docker-desktop://dashboard/build/r/r0/[a-z0-9]+`).MatchString(r.Stderr) {
			t.Errorf("bake with Desktop: no link for target %s:\n%s", target, r.Stderr)
		}
	}
	failing := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN false\n"})
	r = xb(t, cfg, []string{"build", "--builder", "r", failing}, withEnv("HOME="+desktopHome))
	if r.Code != 1 || !regexp.MustCompile(`ERROR: [^\n]+\n\n`+link.String()).MatchString(r.Stderr) {
		t.Errorf("failed build with Desktop: want exit 1 and the link after the error:\n%s", r)
	}
	for name, args := range map[string][]string{
		"without Desktop": {"build", "--builder", "r", ctxDir},
		"quiet":           {"build", "--builder", "r", "-q", ctxDir},
	} {
		home := plainHome
		if name == "quiet" {
			home = desktopHome
		}
		if r := mustXB(t, cfg, args, withEnv("HOME="+home)); strings.Contains(r.Stderr+r.Stdout, "View build details") {
			t.Errorf("build %s printed a build details link:\n%s", name, r.Stderr)
		}
	}
}
