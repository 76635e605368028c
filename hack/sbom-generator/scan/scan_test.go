package scan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestTargets(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src := filepath.Join(root, "rootfs")
	extras := filepath.Join(root, "extras")
	for _, d := range []string{src, filepath.Join(extras, "stage-a"), filepath.Join(extras, "stage-b")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Targets(src, extras)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["rootfs"] != src || got["stage-b"] != filepath.Join(extras, "stage-b") {
		t.Errorf("Targets() = %v", got)
	}
	if got, err := Targets(src, filepath.Join(root, "missing")); err != nil || len(got) != 1 {
		t.Errorf("Targets(missing extras) = %v, %v; want only the source", got, err)
	}
	if _, err := Targets(filepath.Join(root, "nope"), ""); err == nil {
		t.Error("Targets(missing source) = nil error")
	}
}

func TestWriteStatement(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "rootfs.spdx.json")
	if err := WriteStatement(p, json.RawMessage(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"busybox"}]}`)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	var st Statement
	if err := json.Unmarshal(data, &st); err != nil || st.PredicateType != "https://spdx.dev/Document" || st.Type != "https://in-toto.io/Statement/v0.1" {
		t.Errorf("statement = %s (%v)", data, err)
	}
}
