package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/buildkit/client/ociindex"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeLayout writes an OCI layout with one blob and one image named name,
// as BuildKit's client leaves it.
func writeLayout(t *testing.T, dir, blob, name string) {
	t.Helper()
	writeTree(t, dir, map[string]string{"blobs/sha256/" + blob: blob})
	desc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageIndex, Digest: digest.Digest("sha256:" + blob), Size: 1}
	if err := ociindex.NewStoreIndex(dir).Put(desc, ociindex.Name(name)); err != nil {
		t.Fatal(err)
	}
}

func layoutNames(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range idx.Manifests {
		names = append(names, m.Annotations["io.containerd.image.name"]+"@"+m.Digest.Encoded())
	}
	return names
}

func TestLayoutOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dest := filepath.Join(dir, "layout")
	finish := func(blob, name string, solveErr error) {
		t.Helper()
		ex := &Export{}
		staged, err := layoutOutput(ex, dest)
		if err != nil {
			t.Fatal(err)
		}
		writeLayout(t, staged, blob, name)
		if err := ex.Finish(context.Background(), map[string]string{}, solveErr, nil); err != nil {
			t.Fatalf("Finish() = %v", err)
		}
	}
	finish("aaaa", "one", nil)
	if got := layoutNames(t, dest); len(got) != 1 || got[0] != "one@aaaa" {
		t.Fatalf("first layout names %v, want one@aaaa", got)
	}
	finish("bbbb", "two", errors.New("solve failed"))
	finish("cccc", "one", nil)
	finish("dddd", "three", nil)
	got := layoutNames(t, dest)
	if len(got) != 2 || got[0] != "one@cccc" || got[1] != "three@dddd" {
		t.Errorf("layout names %v, want one@cccc three@dddd (a name moves to its new image; a failed build adds nothing)", got)
	}
	if _, err := os.Stat(filepath.Join(dest, "blobs", "sha256", "bbbb")); err == nil {
		t.Errorf("a failed build's blob reached the layout")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("staged folders left beside the layout: %v", entries)
	}
}

func TestCheckLayoutDest(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for dest, want := range map[string]string{
		"":   "dest is required for oci exporter",
		"-":  "dest cannot be stdout for oci exporter",
		file: "destination directory " + file + " is a file",
	} {
		if err := checkLayoutDest("oci", dest); err == nil || err.Error() != want {
			t.Errorf("checkLayoutDest(oci, %q) = %v, want %q", dest, err, want)
		}
	}
	if err := checkLayoutDest("oci", t.TempDir()); err != nil {
		t.Errorf("checkLayoutDest(a folder) = %v", err)
	}
}
