package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// localRef is one ref file of buildx's local build state.
type localRef struct {
	Target, LocalPath, DockerfilePath, GroupRef string
}

// Every build keeps the ref file buildx keeps under its config folder, so
// both tools' history name it by its context and Dockerfile; a bake run
// also keeps the group of its builds.
func TestLocalState(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := helloContext(t)
	df := filepath.Join(ctxDir, "build.Dockerfile")
	if err := os.Rename(filepath.Join(ctxDir, "Dockerfile"), df); err != nil {
		t.Fatal(err)
	}
	t.Run("build", func(t *testing.T) {
		t.Parallel()
		md := filepath.Join(t.TempDir(), "md.json")
		mustXB(t, cfg, []string{"build", "--builder", "r", "--build-arg", baseArg(), "--metadata-file", md, "-f", df, ctxDir})
		ref := buildRef(t, md)
		var st localRef
		readJSON(t, filepath.Join(cfg, "refs", "r", "r0", ref), &st)
		if want := (localRef{Target: "default", LocalPath: ctxDir, DockerfilePath: df}); st != want {
			t.Errorf("ref file = %+v, want %+v", st, want)
		}
		r := mustXB(t, cfg, []string{"history", "inspect", "--builder", "r", "--format", "json", ref})
		var got struct{ Name string }
		if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
			t.Fatalf("history inspect: %v\n%s", err, r.Stdout)
		}
		want := filepath.Base(ctxDir) + "/build.Dockerfile"
		if got.Name != want {
			t.Errorf("history inspect name = %q, want %q", got.Name, want)
		}
		r = mustXB(t, cfg, []string{"history", "ls", "--builder", "r", "--format", "json", "--filter", "ref=" + ref})
		var listed struct{ Name string }
		if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || listed.Name != want {
			t.Errorf("history ls = %s, %v; want the name %q", r.Stdout, err, want)
		}
	})
	t.Run("bake", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		hcl := `target "default" {
  context = "` + ctxDir + `"
  dockerfile = "build.Dockerfile"
  args = { BASE = "` + env.BaseImage + `" }
}
`
		if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		md := filepath.Join(t.TempDir(), "md.json")
		mustXB(t, cfg, []string{"bake", "--builder", "r", "--metadata-file", md, "--allow", "fs.read=" + ctxDir}, withDir(dir))
		var byTarget map[string]map[string]any
		readJSON(t, md, &byTarget)
		full, _ := byTarget["default"]["buildx.build.ref"].(string)
		ref := filepath.Base(full)
		var st localRef
		readJSON(t, filepath.Join(cfg, "refs", "r", "r0", ref), &st)
		if st.Target != "default" || st.LocalPath != ctxDir || st.DockerfilePath != df || st.GroupRef == "" {
			t.Fatalf("ref file = %+v, want target default, %s, %s and a group", st, ctxDir, df)
		}
		var group struct{ Targets, Refs []string }
		readJSON(t, filepath.Join(cfg, "refs", "__group__", st.GroupRef), &group)
		if !slices.Equal(group.Targets, []string{"default"}) || !slices.Contains(group.Refs, ref) {
			t.Errorf("group = %+v, want target default and ref %s", group, ref)
		}
	})
}
