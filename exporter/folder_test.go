package exporter

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestMoveInto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		existing map[string]string // dest before; nil: no dest
		replace  bool
		want     []string
	}{
		{"new folder", nil, false, []string{"a/x=new", "top=new"}},
		{"beside what is there", map[string]string{"a/old": "old", "top": "old", "keep": "old"}, false, []string{"a/old=old", "a/x=new", "keep=old", "top=new"}},
		{"mode=delete", map[string]string{"keep": "old"}, true, []string{"a/x=new", "top=new"}},
		{"a file where the output has a folder", map[string]string{"a": "file"}, false, []string{"a/x=new", "top=new"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			writeTree(t, src, map[string]string{"a/x": "new", "top": "new"})
			if tc.existing != nil {
				writeTree(t, dst, tc.existing)
			}
			if err := moveInto(src, dst, tc.replace); err != nil {
				t.Fatalf("moveInto() = %v", err)
			}
			if got := readTree(t, dst); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("dest holds %v, want %v", got, tc.want)
			}
		})
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
