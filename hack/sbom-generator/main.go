// Command sbom-generator implements BuildKit's SBOM scanner protocol with
// syft as a library, so `xbuild build --sbom=true` works without the
// scanner image from Docker Hub: BuildKit runs this image with the rootfs to
// scan in BUILDKIT_SCAN_SOURCE (and more in BUILDKIT_SCAN_SOURCE_EXTRAS),
// and reads in-toto statements with SPDX JSON predicates from
// BUILDKIT_SCAN_DESTINATION.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/format/spdxjson"
	_ "modernc.org/sqlite" // the RPM cataloguer reads sqlite databases

	"xbuild.local/hack/sbom-generator/scan"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "sbom-generator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dest := os.Getenv("BUILDKIT_SCAN_DESTINATION")
	src := os.Getenv("BUILDKIT_SCAN_SOURCE")
	if dest == "" || src == "" {
		return errors.New("BUILDKIT_SCAN_DESTINATION and BUILDKIT_SCAN_SOURCE must be set (this program runs inside a BuildKit SBOM scan)")
	}
	targets, err := scan.Targets(src, os.Getenv("BUILDKIT_SCAN_SOURCE_EXTRAS"))
	if err != nil {
		return err
	}
	for name, dir := range targets {
		doc, err := spdx(ctx, dir)
		if err != nil {
			return fmt.Errorf("scanning %s: %w", name, err)
		}
		if err := scan.WriteStatement(filepath.Join(dest, name+".spdx.json"), doc); err != nil {
			return err
		}
	}
	return nil
}

// spdx catalogues a folder and returns its SPDX JSON document.
func spdx(ctx context.Context, dir string) (json.RawMessage, error) {
	src, err := syft.GetSource(ctx, dir, syft.DefaultGetSourceConfig().WithSources("dir"))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	s, err := syft.CreateSBOM(ctx, src, syft.DefaultCreateSBOMConfig())
	if err != nil {
		return nil, err
	}
	enc, err := spdxjson.NewFormatEncoderWithConfig(spdxjson.DefaultEncoderConfig())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := enc.Encode(&buf, *s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
