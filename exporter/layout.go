package exporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/buildkit/client/ociindex"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// wantsLayout reports whether an oci or docker output asks for an OCI
// layout folder (tar=false) rather than an archive.
func wantsLayout(o Output) bool {
	if o.Type != TypeOCI && o.Type != TypeDocker {
		return false
	}
	tar, err := strconv.ParseBool(o.Attrs["tar"])
	return err == nil && !tar
}

// checkLayoutDest refuses, before the build, what buildx refuses for an
// OCI layout folder: no dest, stdout, or a file.
func checkLayoutDest(typ, dest string) error {
	switch dest {
	case "":
		return fmt.Errorf("dest is required for %s exporter", typ)
	case "-":
		return fmt.Errorf("dest cannot be stdout for %s exporter", typ)
	}
	if fi, err := os.Stat(dest); err == nil && !fi.IsDir() {
		return fmt.Errorf("destination directory %s is a file", dest)
	}
	return nil
}

// layoutOutput has BuildKit write an OCI layout into a folder next to dest
// (BuildKit's client fills a content store there and writes its
// index.json once the solve succeeded), and moves it into dest only then:
// a failed build leaves dest as it was. As with BuildKit's own layout
// folders, a dest that holds a layout already keeps its other images: the
// blobs join it and the new image is added to its index under its names.
func layoutOutput(ex *Export, dest string) (string, error) {
	return stagedFolder(ex, dest, func(staged string) error { return mergeLayout(staged, dest) })
}

// mergeLayout moves the layout at src into dst: whole when dst does not
// exist, else its blobs, then each image of its index into dst's index.
func mergeLayout(src, dst string) error {
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return os.Rename(src, dst)
	}
	if err := moveInto(filepath.Join(src, ocispecs.ImageBlobsDir), filepath.Join(dst, ocispecs.ImageBlobsDir), false); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(src, ocispecs.ImageIndexFile))
	if err != nil {
		return err
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("reading the new index.json: %w", err)
	}
	into := ociindex.NewStoreIndex(dst)
	for _, desc := range idx.Manifests {
		var names []ociindex.NameOrTag
		if n := desc.Annotations["io.containerd.image.name"]; n != "" {
			names = append(names, ociindex.Name(n))
		} else if t := desc.Annotations[ocispecs.AnnotationRefName]; t != "" {
			names = append(names, ociindex.Tag(t))
		}
		if err := into.Put(desc, names...); err != nil {
			return err
		}
	}
	return nil
}
