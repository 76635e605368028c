package drivertest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/driver"
)

// The suite's builds write one small file on scratch: they need no image,
// no network and no emulator, so they test the driver and nothing else.
const (
	fileName    = "f"
	fileContent = "x"
)

// fileExporters are the exporter types Capabilities.Exporters speaks of.
var fileExporters = []string{bkclient.ExporterLocal, bkclient.ExporterTar, bkclient.ExporterOCI, bkclient.ExporterDocker}

// indexPlatforms are the platforms of the index check; scratch file
// operations run in the daemon itself, so neither needs an emulator.
var indexPlatforms = []ocispecs.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

func scratchFile(ctx context.Context, p ocispecs.Platform) (*llb.Definition, error) {
	st := llb.Scratch().File(llb.Mkfile("/"+fileName, 0o644, []byte(fileContent)))
	return st.Marshal(ctx, llb.Platform(p))
}

func client(ctx context.Context, t *testing.T, d driver.Driver) *bkclient.Client {
	t.Helper()
	c, err := d.Client(ctx)
	if err != nil {
		t.Fatalf("Client() = %v, want nil", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// buildAndRead solves the scratch file through the gateway and reads it
// back, which proves the session and the solver both work.
func buildAndRead(ctx context.Context, c *bkclient.Client) error {
	_, err := c.Build(ctx, bkclient.SolveOpt{}, "drivertest", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		def, err := scratchFile(ctx, platforms.DefaultSpec())
		if err != nil {
			return nil, err
		}
		res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
		if err != nil {
			return nil, fmt.Errorf("solving: %w", err)
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		got, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: "/" + fileName})
		if err != nil {
			return nil, fmt.Errorf("reading /%s back: %w", fileName, err)
		}
		if string(got) != fileContent {
			return nil, fmt.Errorf("read /%s = %q, want %q", fileName, got, fileContent)
		}
		return res, nil
	}, nil)
	return err
}

// export solves the scratch file with one exporter of type typ, writing
// under dir, and checks what it wrote.
func export(ctx context.Context, c *bkclient.Client, typ, dir string) error {
	def, err := scratchFile(ctx, platforms.DefaultSpec())
	if err != nil {
		return err
	}
	out := filepath.Join(dir, typ)
	entry := bkclient.ExportEntry{Type: typ}
	if typ == bkclient.ExporterLocal {
		entry.OutputDir = out
	} else {
		entry.Output = fileOutput(out)
	}
	if _, err := c.Solve(ctx, def, bkclient.SolveOpt{Exports: []bkclient.ExportEntry{entry}}, nil); err != nil {
		return err
	}
	return checkExport(typ, out)
}

func fileOutput(path string) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) { return os.Create(path) }
}

// checkExport looks for what each exporter type must write: the file
// itself, or the archive's layout files.
func checkExport(typ, out string) error {
	if typ == bkclient.ExporterLocal {
		got, err := os.ReadFile(filepath.Join(out, fileName))
		if err != nil {
			return fmt.Errorf("reading the local export: %w", err)
		}
		if string(got) != fileContent {
			return fmt.Errorf("local export wrote %q, want %q", got, fileContent)
		}
		return nil
	}
	files, err := readTar(out)
	if err != nil {
		return fmt.Errorf("reading the %s export: %w", typ, err)
	}
	want := map[string]string{
		bkclient.ExporterTar:    fileName,
		bkclient.ExporterOCI:    ocispecs.ImageIndexFile,
		bkclient.ExporterDocker: "manifest.json",
	}[typ]
	if _, ok := files[want]; !ok {
		return fmt.Errorf("%s export holds %v, want %s among them", typ, slices.Sorted(maps.Keys(files)), want)
	}
	return nil
}

// exportIndex builds the scratch file for both index platforms in one
// solve, exports an OCI archive, and checks it holds an index of both.
func exportIndex(ctx context.Context, c *bkclient.Client, dir string) error {
	out := filepath.Join(dir, "index.tar")
	opt := bkclient.SolveOpt{Exports: []bkclient.ExportEntry{{Type: bkclient.ExporterOCI, Output: fileOutput(out)}}}
	if _, err := c.Build(ctx, opt, "drivertest", buildPlatforms, nil); err != nil {
		return err
	}
	files, err := readTar(out)
	if err != nil {
		return fmt.Errorf("reading the oci export: %w", err)
	}
	idx, err := nestedIndex(files)
	if err != nil {
		return err
	}
	var got []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			got = append(got, platforms.Format(*m.Platform))
		}
	}
	for _, p := range indexPlatforms {
		if !slices.Contains(got, platforms.Format(p)) {
			return fmt.Errorf("index holds platforms %v, want %s among them", got, platforms.Format(p))
		}
	}
	return nil
}

// buildPlatforms is a gateway build returning one result per index
// platform, with the metadata image exporters read to make an index.
func buildPlatforms(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
	res := gateway.NewResult()
	var meta exptypes.Platforms
	for _, p := range indexPlatforms {
		def, err := scratchFile(ctx, p)
		if err != nil {
			return nil, err
		}
		r, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, fmt.Errorf("solving for %s: %w", platforms.Format(p), err)
		}
		ref, err := r.SingleRef()
		if err != nil {
			return nil, err
		}
		id := platforms.Format(p)
		res.AddRef(id, ref)
		meta.Platforms = append(meta.Platforms, exptypes.Platform{ID: id, Platform: p})
	}
	dt, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	res.AddMeta(exptypes.ExporterPlatformsKey, dt)
	return res, nil
}

// nestedIndex follows an OCI layout's index.json to the image index it
// names; a single manifest there means the daemon wrote no index.
func nestedIndex(files map[string][]byte) (ocispecs.Index, error) {
	var top, idx ocispecs.Index
	if err := json.Unmarshal(files[ocispecs.ImageIndexFile], &top); err != nil {
		return idx, fmt.Errorf("parsing %s: %w", ocispecs.ImageIndexFile, err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != ocispecs.MediaTypeImageIndex {
		return idx, fmt.Errorf("%s names %v, want one image index", ocispecs.ImageIndexFile, top.Manifests)
	}
	d := top.Manifests[0].Digest
	blob, ok := files[filepath.Join(ocispecs.ImageBlobsDir, d.Algorithm().String(), d.Encoded())]
	if !ok {
		return idx, fmt.Errorf("index %s missing from the archive", d)
	}
	if err := json.Unmarshal(blob, &idx); err != nil {
		return idx, fmt.Errorf("parsing index %s: %w", d, err)
	}
	return idx, nil
}

// readTar reads a small archive into memory, by file name.
func readTar(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if files[filepath.Clean(h.Name)], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
}
