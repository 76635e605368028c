package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A scan as BuildKit runs it, on a rootfs and a stage made here: one
// statement per folder, each an SPDX document listing the Debian package
// the folder's dpkg database records.
func TestRunScansSourceAndExtras(t *testing.T) {
	root := t.TempDir()
	core := filepath.Join(root, "core", "sbom")
	stage := filepath.Join(root, "extras", "sbom-build")
	out := filepath.Join(root, "out")
	dpkg := func(dir, name, version string) {
		t.Helper()
		status := "Package: " + name + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: " + version +
			"\nMaintainer: nobody <nobody@example.com>\nDescription: test package\n"
		p := filepath.Join(dir, "var", "lib", "dpkg", "status")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg(core, "busybox-static", "1:1.35.0-4")
	dpkg(stage, "make", "4.3-4.1")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDKIT_SCAN_SOURCE", core)
	t.Setenv("BUILDKIT_SCAN_SOURCE_EXTRAS", filepath.Join(root, "extras"))
	t.Setenv("BUILDKIT_SCAN_DESTINATION", out)
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][2]string{
		"sbom.spdx.json":       {"busybox-static", "1:1.35.0-4"},
		"sbom-build.spdx.json": {"make", "4.3-4.1"},
	} {
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatalf("no %s: %v", file, err)
		}
		var st struct {
			Type          string `json:"_type"`
			PredicateType string `json:"predicateType"`
			Predicate     struct {
				SPDXVersion string `json:"spdxVersion"`
				Packages    []struct {
					Name        string `json:"name"`
					VersionInfo string `json:"versionInfo"`
				} `json:"packages"`
			} `json:"predicate"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if st.Type != "https://in-toto.io/Statement/v0.1" || st.PredicateType != "https://spdx.dev/Document" || st.Predicate.SPDXVersion == "" {
			t.Errorf("%s: not an in-toto statement with an SPDX predicate: %.300s", file, data)
		}
		found := false
		for _, p := range st.Predicate.Packages {
			found = found || (p.Name == want[0] && p.VersionInfo == want[1])
		}
		if !found {
			t.Errorf("%s lacks %s %s: %+v", file, want[0], want[1], st.Predicate.Packages)
		}
	}
}

func TestRunOutsideBuildKit(t *testing.T) {
	t.Setenv("BUILDKIT_SCAN_SOURCE", "")
	t.Setenv("BUILDKIT_SCAN_DESTINATION", "")
	if err := run(context.Background()); err == nil {
		t.Error("run() without the protocol's variables gave no error")
	}
}
