package exporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagetools"
)

// JoinsArchive reports whether out is one archive a Join can write from
// every share: an OCI or Docker archive file (or "-" for stdout).
func JoinsArchive(out Output) bool {
	return (out.Type == TypeOCI || out.Type == TypeDocker) && out.Dest != ""
}

// archiveJoin keeps the shares' images in a content store of this side's
// until Finish writes them, under one index, as a single archive.
type archiveJoin struct {
	out    Output
	names  []string
	stdout io.Writer
	dir    string
	store  content.Store
	// engine, when set, receives the archive through its image load
	// endpoint (with loader) instead of a file.
	engine *engine.Endpoint
	loader Loader
}

func startArchiveJoin(out Output, names []string, stdout io.Writer) (*archiveJoin, error) {
	dir, err := os.MkdirTemp("", "xbuild-join-")
	if err != nil {
		return nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	st, err := local.NewStore(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	if n, err := normalizedNames(out.Attrs["name"]); err == nil && len(n) > 0 {
		names = n
	}
	return &archiveJoin{out: out, names: names, stdout: stdout, dir: dir, store: st}, nil
}

// shareEntry exports a share into the join's store, as an OCI image.
func (a *archiveJoin) shareEntry() bkclient.ExportEntry {
	return bkclient.ExportEntry{Type: TypeOCI, Attrs: map[string]string{"tar": "false", "attestation-inline": "true"}, OutputStore: a.store}
}

// finish assembles the index, writes the archive and removes the store,
// whether or not the shares were built.
func (a *archiveJoin) finish(ctx context.Context, shares []joinedShare, annotations map[string]string, sharesErr error, pr Progress) (*Joined, error) {
	defer os.RemoveAll(a.dir)
	if sharesErr != nil {
		return nil, sharesErr
	}
	inputs := make([]imagetools.Input, len(shares))
	for i, s := range shares {
		inputs[i] = imagetools.Input{Ref: "node " + s.node, Source: storeSource{root: s.root, p: a.store}}
	}
	st := pr.Step(a.stepName())
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: annotations})
	if err == nil {
		err = content.WriteBlob(ctx, a.store, "xbuild-index-"+idx.Desc.Digest.String(), bytes.NewReader(idx.Raw), idx.Desc)
	}
	if err == nil {
		err = a.write(ctx, idx.Desc)
	}
	st.Done(err)
	if err != nil {
		return nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	return &Joined{Index: idx.Desc, Names: a.names}, nil
}

// write puts the archive in place: next to its destination first, renamed
// only once complete, so a failure leaves no partial file.
func (a *archiveJoin) write(ctx context.Context, index ocispecs.Descriptor) error {
	opts := []archive.ExportOpt{archive.WithManifest(index, a.names...), archive.WithAllPlatforms()}
	if a.out.Type == TypeOCI {
		opts = append(opts, archive.WithSkipDockerManifest())
	} else {
		// docker load reads manifest.json for the platform it runs.
		opts = append(opts, archive.WithPlatform(platforms.Default()))
	}
	if a.engine != nil {
		return a.load(ctx, opts)
	}
	if a.out.Dest == "-" {
		return archive.Export(ctx, a.store, a.stdout, opts...)
	}
	dest := a.out.Dest
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // gone once renamed
	if err := archive.Export(ctx, a.store, f, opts...); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dest)
}

func (a *archiveJoin) stepName() string {
	if a.engine != nil {
		return "loading the nodes' images as one OCI archive through the image load endpoint of the docker engine at " + a.engine.Host
	}
	return fmt.Sprintf("writing the nodes' images as one %s archive to %s", a.out.Type, a.out.Dest)
}

// startEngineArchiveJoin is an archive join whose archive, an OCI one,
// goes to the engine's image load endpoint: how the shares of a load meet
// when this host cannot reach the engine's containerd. names are already
// normalized.
func startEngineArchiveJoin(ep engine.Endpoint, loader Loader, names []string) (*archiveJoin, error) {
	a, err := startArchiveJoin(Output{Type: TypeOCI, Attrs: map[string]string{}}, names, nil)
	if err != nil {
		return nil, err
	}
	if loader == nil {
		loader = EngineLoader{}
	}
	a.engine, a.loader = &ep, loader
	return a, nil
}

// load streams the archive to the engine and waits for its verdict; the
// engine names the image only once the whole archive is in, so a failure
// leaves no name behind.
func (a *archiveJoin) load(ctx context.Context, opts []archive.ExportOpt) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := a.loader.Load(ctx, *a.engine, pr)
		pr.CloseWithError(err) // unblocks the export if the engine gave up early
		done <- err
	}()
	exportErr := archive.Export(ctx, a.store, pw, opts...)
	pw.CloseWithError(exportErr) // nil: the engine reads to the end
	if err := <-done; err != nil {
		return fmt.Errorf("loading into the docker engine at %s: %w", a.engine.Host, err)
	}
	return exportErr
}
