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
	"sync/atomic"
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
	defer l.c.Close()
	ctx = namespaces.WithNamespace(context.WithoutCancel(ctx), l.loc.Namespace)
	defer l.c.LeasesService().Delete(ctx, l.lease) //nolint:errcheck // expires anyway
	if solveErr != nil {
		return nil
	}
	step := pr.Step(fmt.Sprintf("loading into containerd %s (namespace %s)", l.loc.Address, l.loc.Namespace))
	err := l.name(leases.WithLease(ctx, l.lease.ID), resp, step)
	step.Done(err)
	return err
}

func (l *containerdLoad) name(ctx context.Context, resp map[string]string, step Step) error {
	desc, err := descriptorFrom(resp)
	if err != nil {
		return err
	}
	total, err := l.store.summary(ctx, desc)
	if err != nil {
		return err
	}
	// containerd's garbage collector follows labels, not the image's
	// structure: without them only the index would outlive the lease.
	if err := images.Dispatch(ctx, images.SetChildrenLabels(l.store, images.ChildrenHandler(l.store)), nil, desc); err != nil {
		return fmt.Errorf("labelling the loaded image's content: %w", err)
	}
	written, bytes := l.store.written()
	step.Log("%d of %d blobs already present, sent %d (%s)", total-written, total, written, units.BytesSize(float64(bytes)))
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

func descriptorFrom(resp map[string]string) (ocispecs.Descriptor, error) {
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

	mu     sync.Mutex
	blobs  map[digest.Digest]bool
	nbytes atomic.Int64
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
	w, err := s.Store.Writer(s.scope(ctx), opts...)
	if err != nil {
		return nil, err
	}
	return &countingWriter{Writer: w, s: s}, nil
}

type countingWriter struct {
	content.Writer
	s *countingStore
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	err := w.Writer.Commit(w.s.scope(ctx), size, expected, opts...)
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		return err
	}
	if err == nil {
		w.s.mu.Lock()
		if w.s.blobs == nil {
			w.s.blobs = map[digest.Digest]bool{}
		}
		w.s.blobs[w.Digest()] = true
		w.s.mu.Unlock()
		w.s.nbytes.Add(w.n)
	}
	return err
}

// written is how many blobs and bytes this load wrote.
func (s *countingStore) written() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs), s.nbytes.Load()
}

// WrittenBlobs lists the digests this load wrote.
func (s *countingStore) writtenBlobs() []digest.Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]digest.Digest, 0, len(s.blobs))
	for d := range s.blobs {
		out = append(out, d)
	}
	return out
}

// summary counts the blobs the image is made of.
func (s *countingStore) summary(ctx context.Context, desc ocispecs.Descriptor) (int, error) {
	seen := map[digest.Digest]bool{}
	err := images.Walk(s.scope(ctx), images.HandlerFunc(func(ctx context.Context, d ocispecs.Descriptor) ([]ocispecs.Descriptor, error) {
		if seen[d.Digest] {
			return nil, nil
		}
		seen[d.Digest] = true
		return images.Children(ctx, s.Store, d)
	}), desc)
	if err != nil {
		return 0, fmt.Errorf("checking the loaded image: %w", err)
	}
	return len(seen), nil
}
