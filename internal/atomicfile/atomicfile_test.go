package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"old\n", "new\n"} {
		if err := Write(path, []byte(content), 0o600); err != nil {
			t.Fatalf("Write(%q) = %v", content, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("after Write(%q) the file holds %q (%v)", content, got, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Write left %d files, want only the target", len(entries))
	}
}

func TestWriteMissingFolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no", "such", "f")
	if err := Write(path, []byte("x"), 0o644); err == nil {
		t.Errorf("Write into a missing folder = nil, want an error")
	}
}
