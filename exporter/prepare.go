package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

// Destination is what Prepare needs to know of the node that builds and of
// the engine that --load writes to.
type Destination struct {
	// Native: the node is the engine's own BuildKit and writes into the
	// engine's store itself.
	Native bool
	// Store is the image store of the engine --load writes to.
	Store imagestore.Kind
	// Engine is that engine.
	Engine engine.Endpoint
	// FileExporters lists the exporter types the node takes for files.
	FileExporters []string
	// Containerd is where the engine keeps its images when its store is
	// containerd: a load from a node that is not the engine writes there
	// directly when this host can reach it.
	Containerd imagestore.Location
	// Platforms are the build's platforms; a direct load unpacks the host's
	// one of them.
	Platforms []ocispecs.Platform
	// PushThroughEngine: the node's image exporter cannot push, so Finish
	// pushes through the engine's push endpoint.
	PushThroughEngine bool
}

// PrepareOptions are the per-build inputs of Prepare.
type PrepareOptions struct {
	// Tags name the image for image, oci and docker outputs without a name.
	Tags []string
	// Stdout receives outputs whose dest is "-".
	Stdout io.Writer
	// Loader moves an archive into an engine; nil uses the engine API.
	Loader Loader
	// RegistryCreds returns the credentials for a registry host, for pushes
	// the engine makes on this side's behalf; nil pushes anonymously.
	RegistryCreds func(host string) (user, secret string, err error)
}

// Loader loads an image archive into an engine's store.
type Loader interface {
	// Load reads a docker or OCI archive from r until EOF and loads it.
	// It returns only when the engine has finished, with an error if the
	// engine reported any, even one it sent as a progress message.
	Load(ctx context.Context, ep engine.Endpoint, r io.Reader) error
}

// Progress shows the steps that finishing an export takes.
type Progress interface {
	// Step starts a step shown under name.
	Step(name string) Step
}

// Step is one step of Progress.
type Step interface {
	Log(format string, args ...any)
	// Done ends the step, failed when err is not nil.
	Done(err error)
}

// finisher completes (solveErr nil) or undoes one export. On success it
// may record what it delivered in resp (a pushed manifest's digest).
type finisher func(ctx context.Context, resp map[string]string, solveErr error, pr Progress) error

// Export is a set of prepared exports for one solve.
//
// Finish must be called exactly once after the solve, with the solve's
// response and error: it completes loads and files on success and removes
// every partial result on failure.
type Export struct {
	Entries []bkclient.ExportEntry
	// Notes are what the user should know about how the exports will
	// happen (a load that cannot be incremental, and why).
	Notes []string

	mu      sync.Mutex
	pending []finisher
}

func (e *Export) onFinish(f finisher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = append(e.pending, f)
}

// Finish completes or undoes every export. It returns the first error. On
// success resp is the solve's exporter response: Finish adds to it what
// only this side knows, such as the digest of a push the engine made.
func (e *Export) Finish(ctx context.Context, resp map[string]string, solveErr error, pr Progress) error {
	e.mu.Lock()
	pending := e.pending
	e.pending = nil
	e.mu.Unlock()
	var first error
	for _, f := range pending {
		if err := f(ctx, resp, solveErr, pr); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Prepare turns outputs into BuildKit export entries for a node, the
// phase before the solve; the Export's Finish is the phase after it. When
// Prepare fails, it has undone what it prepared: there is nothing to
// finish.
func Prepare(ctx context.Context, outs []Output, dst Destination, opts PrepareOptions) (*Export, error) {
	if opts.Loader == nil {
		opts.Loader = EngineLoader{}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	p := &preparing{ex: &Export{}, dst: dst, opts: opts}
	for _, o := range outs {
		if o.Type == TypeCacheOnly {
			continue
		}
		entry, err := p.entry(ctx, o)
		if err != nil {
			_ = p.ex.Finish(ctx, nil, err, nil)
			return nil, err
		}
		p.ex.Entries = append(p.ex.Entries, entry)
	}
	return p.ex, nil
}

// preparing is one Prepare call: the exports prepared so far and what
// they are prepared for.
type preparing struct {
	ex   *Export
	dst  Destination
	opts PrepareOptions
}

// entry is the export entry of one output.
func (p *preparing) entry(ctx context.Context, o Output) (bkclient.ExportEntry, error) {
	attrs := maps.Clone(o.Attrs)
	if attrs["name"] == "" && len(p.opts.Tags) > 0 && o.HoldsIndex() {
		attrs["name"] = strings.Join(p.opts.Tags, ",")
	}
	entry := bkclient.ExportEntry{Type: o.Type, Attrs: attrs}
	var err error
	switch {
	case o.Type == TypeImage || o.Loads():
		if o.Type == TypeImage && attrs["name"] == "" && o.Pushes() {
			return entry, fmt.Errorf("pushing needs an image name: add -t NAME or name= to the output")
		}
		err = p.image(ctx, &entry, o)
	case o.Type == TypeContainerd:
		err = p.containerdTarget(ctx, &entry)
	case o.Type == TypeLocal:
		if !p.dst.exports(TypeLocal) {
			return entry, unsupported(o.Type, p.dst)
		}
		entry.OutputDir, err = folderOutput(p.ex, o.Dest, o.Attrs["mode"] == "delete")
	case wantsLayout(o):
		if !p.dst.exports(o.Type) {
			return entry, unsupported(o.Type, p.dst)
		}
		entry.OutputDir, err = layoutOutput(p.ex, o.Dest)
	default: // tar, oci, docker to a file
		if !p.dst.exports(o.Type) {
			return entry, unsupported(o.Type, p.dst)
		}
		entry.Output = fileOutput(p.ex, o.Dest, p.opts.Stdout)
	}
	return entry, err
}

func (d Destination) exports(typ string) bool {
	for _, t := range d.FileExporters {
		if t == typ {
			return true
		}
	}
	return false
}

func unsupported(typ string, dst Destination) error {
	return fmt.Errorf("the %s exporter is not supported by the docker driver on the %s image store: turn on the containerd image store or use a remote builder", typ, dst.Store)
}

// image handles image outputs (push, name) and engine loads.
func (p *preparing) image(ctx context.Context, entry *bkclient.ExportEntry, o Output) error {
	dst := p.dst
	if dst.Native {
		// The engine's own exporter stores the image; on the containerd
		// store it pushes it too.
		entry.Type = "moby"
		if dst.Store == imagestore.Containerd {
			// The containerd store names images by manifest or index digest.
			entry.Attrs["prefer-image-digest"] = "true"
		}
		if o.Pushes() && dst.PushThroughEngine {
			return prepareEnginePush(p.ex, entry.Attrs, dst.Engine, p.opts.RegistryCreds)
		}
		return nil
	}
	if o.Type == TypeImage {
		return nil
	}
	// --load from a node that is not the engine. Into a containerd store
	// this host can reach, write the blobs straight into its content store:
	// BuildKit skips those already there. Otherwise stream an archive to
	// the engine's load endpoint; only the containerd store takes an index.
	entry.Type = TypeDocker
	if dst.Store == imagestore.Containerd {
		entry.Type = TypeOCI
		entry.Attrs["prefer-image-digest"] = "true"
		c, err := dialContainerd(ctx, dst.Containerd)
		if err == nil {
			return p.containerdLoad(ctx, entry, c, dst.Containerd)
		}
		p.ex.Notes = append(p.ex.Notes, fmt.Sprintf("loading through the engine's image load endpoint, not incrementally: %s", err))
	}
	entry.Output = loadOutput(ctx, p.ex, dst.Engine, p.opts.Loader)
	return nil
}

// containerdTarget loads into a containerd named by the user: there is no
// engine to fall back to, so it must answer now.
func (p *preparing) containerdTarget(ctx context.Context, entry *bkclient.ExportEntry) error {
	if !p.dst.exports(TypeOCI) {
		return unsupported(TypeOCI, p.dst)
	}
	loc := containerdTarget(entry.Attrs)
	for _, k := range []string{"address", "namespace", "snapshotter"} {
		delete(entry.Attrs, k)
	}
	if entry.Attrs["name"] == "" {
		return errContainerdName
	}
	c, err := dialContainerd(ctx, loc)
	if err != nil {
		return fmt.Errorf("loading into containerd at %s: %w", loc.Address, err)
	}
	entry.Type = TypeOCI
	return p.containerdLoad(ctx, entry, c, loc)
}

// errContainerdName: a plain containerd has no dangling images to keep an
// unnamed load as.
var errContainerdName = errors.New("loading into containerd needs an image name: add -t NAME or name= to the output")

// containerdTarget is where a type=containerd output writes.
func containerdTarget(attrs map[string]string) imagestore.Location {
	return imagestore.Location{Address: attrs["address"], Namespace: attrs["namespace"], Snapshotter: attrs["snapshotter"]}
}

// containerdLoad points an OCI export at a containerd content store.
func (p *preparing) containerdLoad(ctx context.Context, entry *bkclient.ExportEntry, c *client.Client, loc imagestore.Location) error {
	names, err := normalizedNames(entry.Attrs["name"])
	if err != nil {
		c.Close()
		return err
	}
	l, err := startContainerdLoad(ctx, c, loc, names, hostPlatform(p.dst.Platforms))
	if err != nil {
		c.Close()
		return err
	}
	entry.Attrs["tar"] = "false"
	entry.OutputStore = l.store
	p.ex.onFinish(l.finish)
	return nil
}

// hostPlatform picks what a load unpacks: the host's platform when the
// build has it, else the first platform built (what `docker run` without
// --platform would pick).
func hostPlatform(ps []ocispecs.Platform) []ocispecs.Platform {
	if len(ps) == 0 {
		return nil
	}
	host := platforms.Default()
	for _, p := range ps {
		if host.Match(p) {
			return []ocispecs.Platform{p}
		}
	}
	return ps[:1]
}

// loadOutput starts the engine load when BuildKit opens the stream, and
// makes Finish wait for the engine's verdict.
func loadOutput(ctx context.Context, ex *Export, ep engine.Endpoint, l Loader) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := l.Load(ctx, ep, pr)
			// done first: an engine that gave up before the solve ended
			// is found there when BuildKit fails on the closed stream.
			done <- err
			pr.CloseWithError(err) // unblocks BuildKit if the engine gave up early
		}()
		what := "loading image into docker engine at " + ep.Host
		ex.onFinish(func(_ context.Context, _ map[string]string, solveErr error, _ Progress) error {
			if solveErr != nil {
				select {
				case err := <-done:
					if err != nil {
						return &CauseError{What: what, Err: err}
					}
					return nil
				default:
				}
				pw.CloseWithError(solveErr)
				<-done
				return nil
			}
			_ = pw.Close()
			if err := <-done; err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
		return pw, nil
	}
}

// fileOutput writes an archive next to dest and renames it into place only
// when the solve succeeded, so a failed build leaves no partial file.
func fileOutput(ex *Export, dest string, stdout io.Writer) func(map[string]string) (io.WriteCloser, error) {
	return func(map[string]string) (io.WriteCloser, error) {
		if dest == "-" {
			return nopWriteCloser{stdout}, nil
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return nil, fmt.Errorf("creating folder for %s: %w", dest, err)
		}
		f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", dest, err)
		}
		w := &recordingWriter{WriteCloser: f}
		ex.onFinish(func(_ context.Context, _ map[string]string, solveErr error, _ Progress) error {
			_ = f.Close()
			if solveErr != nil {
				_ = os.Remove(f.Name())
				if err := w.failed(); err != nil {
					return &CauseError{What: "writing " + dest, Err: err}
				}
				return nil
			}
			if err := os.Rename(f.Name(), dest); err != nil {
				_ = os.Remove(f.Name())
				return fmt.Errorf("writing %s: %w", dest, err)
			}
			return nil
		})
		return w, nil
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
