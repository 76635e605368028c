package exporter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker/go-units"
	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/imagestore"
)

// dialContainerd connects to a containerd image store and checks that it
// answers. The error says why a direct load is not possible.
func dialContainerd(ctx context.Context, loc imagestore.Location) (*client.Client, error) {
	if loc.Address == "" {
		return nil, errors.New("the engine's containerd is not known (or XBUILD_DIRECT_LOAD=0)")
	}
	path := strings.TrimPrefix(loc.Address, "unix://")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("the containerd socket %s is not on this host", path)
	}
	c, err := client.New(path, client.WithDefaultNamespace(loc.Namespace), client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("cannot reach containerd at %s: %w", path, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach containerd at %s: %w", path, err)
	}
	return c, nil
}

// containerdLoad exports into a containerd content store through the
// session, so BuildKit skips every blob the store already holds, then
// unpacks and names the image.
type containerdLoad struct {
	c     *client.Client
	loc   imagestore.Location
	lease leases.Lease
	store *countingStore
	names []string
	// unpack lists the platforms to unpack; empty means the host's.
	unpack []ocispecs.Platform
}

// startContainerdLoad takes a lease that keeps every blob written from now
// on safe from garbage collection until the image is named.
func startContainerdLoad(ctx context.Context, c *client.Client, loc imagestore.Location, names []string, unpack []ocispecs.Platform) (*containerdLoad, error) {
	ctx = namespaces.WithNamespace(ctx, loc.Namespace)
	l, err := c.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("taking a containerd lease: %w", err)
	}
	return &containerdLoad{
		c: c, loc: loc, lease: l, names: names, unpack: unpack,
		store: &countingStore{Store: c.ContentStore(), ns: loc.Namespace, lease: l.ID},
	}, nil
}

// finish names the image when the solve succeeded. The lease is released
// in every case; what a failed or interrupted load wrote is left to
// containerd's garbage collector, and no name ever points at it.
func (l *containerdLoad) finish(ctx context.Context, resp map[string]string, solveErr error, pr Progress) error {
	return l.complete(ctx, solveErr, pr, func(context.Context) (ocispecs.Descriptor, error) { return DescriptorFrom(resp) })
}

// complete names the image root gives, unless solveErr says the export
// failed, then releases the lease.
func (l *containerdLoad) complete(ctx context.Context, solveErr error, pr Progress, root func(context.Context) (ocispecs.Descriptor, error)) error {
	defer l.c.Close()
	ctx = namespaces.WithNamespace(context.WithoutCancel(ctx), l.loc.Namespace)
	defer l.c.LeasesService().Delete(ctx, l.lease) //nolint:errcheck // expires anyway
	if solveErr != nil {
		return nil
	}
	step := pr.Step(fmt.Sprintf("loading into containerd %s (namespace %s)", l.loc.Address, l.loc.Namespace))
	ctx = leases.WithLease(ctx, l.lease.ID)
	desc, err := root(ctx)
	if err == nil {
		err = l.name(ctx, desc, step)
	}
	if err != nil {
		// containerd's own words ("error reading from server: EOF") do not
		// say which daemon went away.
		err = fmt.Errorf("loading into containerd at %s (namespace %s): %w", l.loc.Address, l.loc.Namespace, err)
	}
	step.Done(err)
	return err
}

func (l *containerdLoad) name(ctx context.Context, desc ocispecs.Descriptor, step Step) error {
	tree, err := l.store.summary(ctx, desc)
	if err != nil {
		return err
	}
	// containerd's garbage collector follows labels, not the image's
	// structure: without them only the index would outlive the lease.
	if err := images.Dispatch(ctx, images.SetChildrenLabels(l.store, images.ChildrenHandler(l.store)), nil, desc); err != nil {
		return fmt.Errorf("labelling the loaded image's content: %w", err)
	}
	// Counted within the image: the shares of a joined load also write
	// indexes of their own that the image does not keep.
	written, size := l.store.writtenOf(tree)
	step.Log("%d of %d blobs already present, sent %d (%s)", len(tree)-written, len(tree), written, units.BytesSize(float64(size)))
	ps := l.unpack
	if len(ps) == 0 {
		ps = []ocispecs.Platform{platforms.DefaultSpec()}
	}
	names := l.names
	if len(names) == 0 {
		// An untagged load is kept the way the Docker Engine keeps
		// dangling images; without a name the collector would take it.
		names = []string{"moby-dangling@" + desc.Digest.String()}
	}
	for _, name := range names {
		img := images.Image{Name: name, Target: desc, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		for _, p := range ps {
			// Unpack before naming: a name must never point at an image
			// the engine cannot run.
			i := client.NewImageWithPlatform(l.c, img, platforms.Only(p))
			if err := i.Unpack(ctx, l.loc.Snapshotter); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("unpacking %s for %s: %w", name, platforms.Format(p), err)
			}
		}
		if err := putImage(ctx, l.c.ImageService(), img); err != nil {
			return fmt.Errorf("naming %s: %w", name, err)
		}
		step.Log("named %s -> %s", name, desc.Digest)
	}
	return nil
}

// startJoinedLoad reaches the containerd out loads into for a Join, with
// a lease every share writes under, so none of it is collected before the
// index that joins them is named. tags name the image when out does not.
func startJoinedLoad(ctx context.Context, out Output, dst Destination, tags []string) (*containerdLoad, error) {
	loc := dst.Containerd
	if out.Type == TypeContainerd {
		loc = containerdTarget(out.Attrs)
	}
	name := out.Attrs["name"]
	if name == "" {
		name = strings.Join(tags, ",")
	}
	names, err := normalizedNames(name)
	if err != nil {
		return nil, err
	}
	if out.Type == TypeContainerd && len(names) == 0 {
		return nil, errContainerdName
	}
	c, err := dialContainerd(ctx, loc)
	if err != nil {
		return nil, err
	}
	l, err := startContainerdLoad(ctx, c, loc, names, hostPlatform(dst.Platforms))
	if err != nil {
		c.Close()
		return nil, err
	}
	return l, nil
}

// shareEntry is the export entry of each share of a joined load. A share
// of one platform keeps its attestations, as the joined image would have
// in one solve: the OCI exporter drops default (inline-only) ones from a
// single image unless told otherwise.
func (l *containerdLoad) shareEntry() bkclient.ExportEntry {
	return bkclient.ExportEntry{Type: TypeOCI, OutputStore: l.store, Attrs: map[string]string{
		"tar": "false", "prefer-image-digest": "true", "attestation-inline": "true",
	}}
}

func putImage(ctx context.Context, is images.Store, img images.Image) error {
	if _, err := is.Update(ctx, img, "target"); err == nil || !cerrdefs.IsNotFound(err) {
		return err
	}
	_, err := is.Create(ctx, img)
	if cerrdefs.IsAlreadyExists(err) {
		_, err = is.Update(ctx, img, "target")
	}
	return err
}

// DescriptorFrom reads the image descriptor of an export's response.
func DescriptorFrom(resp map[string]string) (ocispecs.Descriptor, error) {
	var desc ocispecs.Descriptor
	raw, ok := resp[KeyDescriptor]
	if !ok {
		return desc, errors.New("the builder returned no image descriptor")
	}
	dt, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return desc, fmt.Errorf("reading the image descriptor: %w", err)
	}
	if err := json.Unmarshal(dt, &desc); err != nil {
		return desc, fmt.Errorf("reading the image descriptor: %w", err)
	}
	return desc, nil
}

// normalizedNames turns the exporter's comma-separated names into the full
// names the engine keeps (docker.io/library/hello:latest).
func normalizedNames(names string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return nil, fmt.Errorf("invalid image name %q: %w", n, err)
		}
		out = append(out, reference.TagNameOnly(ref).String())
	}
	return out, nil
}

// countingStore is the content store BuildKit writes into through the
// session. It puts every call under the load's namespace and lease, and
// counts what was really written.
type countingStore struct {
	content.Store
	ns, lease string

	mu    sync.Mutex
	blobs map[digest.Digest]int64 // written by this load, with their sizes
	// open holds a channel per ref being written, closed when its writer
	// ends. Nodes exporting shares of one build write the same blobs
	// (a COPY layer is the same on every platform); containerd refuses a
	// second writer of a ref with an error the client logs before
	// retrying, so the second one waits here instead.
	open map[string]chan struct{}
}

func (s *countingStore) scope(ctx context.Context) context.Context {
	return leases.WithLease(namespaces.WithNamespace(ctx, s.ns), s.lease)
}

func (s *countingStore) Info(ctx context.Context, dgst digest.Digest) (content.Info, error) {
	return s.Store.Info(s.scope(ctx), dgst)
}

func (s *countingStore) ReaderAt(ctx context.Context, desc ocispecs.Descriptor) (content.ReaderAt, error) {
	return s.Store.ReaderAt(s.scope(ctx), desc)
}

func (s *countingStore) Status(ctx context.Context, ref string) (content.Status, error) {
	return s.Store.Status(s.scope(ctx), ref)
}

func (s *countingStore) Update(ctx context.Context, info content.Info, fieldpaths ...string) (content.Info, error) {
	return s.Store.Update(s.scope(ctx), info, fieldpaths...)
}

func (s *countingStore) Abort(ctx context.Context, ref string) error {
	return s.Store.Abort(s.scope(ctx), ref)
}

func (s *countingStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	var wo content.WriterOpts
	for _, o := range opts {
		if err := o(&wo); err != nil {
			return nil, err
		}
	}
	release, err := s.claim(ctx, wo.Ref)
	if err != nil {
		return nil, err
	}
	w, err := s.Store.Writer(s.scope(ctx), opts...)
	if err != nil {
		release()
		return nil, err
	}
	return &countingWriter{Writer: w, s: s, release: sync.OnceFunc(release)}, nil
}

// claim waits until no other writer of this store writes ref.
func (s *countingStore) claim(ctx context.Context, ref string) (func(), error) {
	for {
		s.mu.Lock()
		busy, ok := s.open[ref]
		if !ok {
			if s.open == nil {
				s.open = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			s.open[ref] = done
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.open, ref)
				s.mu.Unlock()
				close(done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type countingWriter struct {
	content.Writer
	s       *countingStore
	n       int64
	release func()
}

func (w *countingWriter) Close() error {
	defer w.release()
	return w.Writer.Close()
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	defer w.release()
	err := w.Writer.Commit(w.s.scope(ctx), size, expected, opts...)
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		return err
	}
	if err == nil {
		w.s.mu.Lock()
		if w.s.blobs == nil {
			w.s.blobs = map[digest.Digest]int64{}
		}
		w.s.blobs[w.Digest()] = w.n
		w.s.mu.Unlock()
	}
	return err
}

// writtenOf is how many of the given blobs this load wrote, and their bytes.
func (s *countingStore) writtenOf(blobs map[digest.Digest]bool) (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, size := 0, int64(0)
	for d := range blobs {
		if b, ok := s.blobs[d]; ok {
			n++
			size += b
		}
	}
	return n, size
}

// summary lists the blobs the image is made of.
func (s *countingStore) summary(ctx context.Context, desc ocispecs.Descriptor) (map[digest.Digest]bool, error) {
	seen := map[digest.Digest]bool{}
	err := images.Walk(s.scope(ctx), images.HandlerFunc(func(ctx context.Context, d ocispecs.Descriptor) ([]ocispecs.Descriptor, error) {
		if seen[d.Digest] {
			return nil, nil
		}
		seen[d.Digest] = true
		return images.Children(ctx, s.Store, d)
	}), desc)
	if err != nil {
		return nil, fmt.Errorf("checking the loaded image: %w", err)
	}
	return seen, nil
}
