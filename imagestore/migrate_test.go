package imagestore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestSetContainerdSnapshotter(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(p, []byte(`{"storage-driver":"overlay2","debug":true,"features":{"other":true}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]any {
		data, _ := os.ReadFile(p)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := SetContainerdSnapshotter(p, true); err != nil {
		t.Fatal(err)
	}
	m := read()
	f := m["features"].(map[string]any)
	if f["containerd-snapshotter"] != true || f["other"] != true || m["debug"] != true || m["storage-driver"] != "overlayfs" {
		t.Errorf("after switching on: %v", m)
	}
	if err := SetContainerdSnapshotter(p, false); err != nil {
		t.Fatal(err)
	}
	if m := read(); m["storage-driver"] != "overlay2" || m["features"].(map[string]any)["containerd-snapshotter"] != false {
		t.Errorf("after switching off: %v", m)
	}
}

func TestContainerImageName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/web_1": "xbuild-migrated/web_1:latest", "My App!": "xbuild-migrated/my-app:latest"} {
		if got := ContainerImageName(in); got != want {
			t.Errorf("ContainerImageName(%q) = %q, want %q", in, got, want)
		}
	}
}
