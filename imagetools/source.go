package imagetools

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source reads images as they are stored: Registry from a registry,
// through containerd's resolver, Local from a containerd image store. The
// suite in imagetoolstest holds every implementation to this contract.
//
// Resolve comes first, and Fetch reads the blobs of an image the Source
// resolved. A Registry reads from the repository it resolved last, so
// images of several repositories need a Registry each; a Local reads its
// whole content store.
//
// A Source is safe for concurrent use: Fetch calls may run at once, with
// each other and with a Resolve (of the same repository, for a Registry).
// Neither method changes anything in the backend.
//
// Errors carry the classes of github.com/containerd/errdefs, to be told
// apart with its Is functions, never by their text:
//   - an image or a blob the backend does not hold is NotFound;
//   - a ref that is not an image name is InvalidArgument, found before
//     the backend is asked;
//   - a blob that does not match its descriptor's size and digest is
//     DataLoss, and its bytes are not returned.
//
// Both methods honour ctx: once it is cancelled they return promptly, with
// an error that wraps the context's (errdefs.IsCanceled or
// errdefs.IsDeadlineExceeded holds).
type Source interface {
	// Resolve finds the image ref names (by tag or by digest; with
	// neither, the tag latest) and returns its full name, as
	// reference.ParseNormalizedNamed spells it, and the descriptor of its
	// root: an index or a manifest.
	Resolve(ctx context.Context, ref string) (string, ocispecs.Descriptor, error)
	// Fetch reads the blob desc describes, whole, and checks it against
	// desc's size and digest.
	Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error)
}

// Registry reads from registries; loopback registries are spoken to over
// plain HTTP, as the Docker Engine does. Fetch reads from the repository
// of the last Resolve; before any, it fails with FailedPrecondition.
type Registry struct {
	resolver remotes.Resolver

	mu  sync.Mutex
	ref string // resolved last: the repository Fetch reads from
}

var _ Source = (*Registry)(nil)

// NewRegistry returns a registry source using creds for authentication
// (nil for anonymous). plainHTTP names hosts (host:port) besides loopback
// spoken to over plain HTTP: those a builder's buildkitd.toml marks http.
func NewRegistry(creds func(host string) (string, string, error), plainHTTP ...string) *Registry {
	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(creds))
	isPlain := func(host string) (bool, error) {
		if slices.Contains(plainHTTP, host) {
			return true, nil
		}
		return docker.MatchLocalhost(host)
	}
	return &Registry{resolver: docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(isPlain), docker.WithAuthorizer(auth)),
	})}
}

// Resolve implements Source.
func (r *Registry) Resolve(ctx context.Context, ref string) (string, ocispecs.Descriptor, error) {
	name, err := normalize(ref)
	if err != nil {
		return "", ocispecs.Descriptor{}, err
	}
	n, desc, err := r.resolver.Resolve(ctx, name)
	if err != nil {
		return "", ocispecs.Descriptor{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	r.mu.Lock()
	r.ref = n
	r.mu.Unlock()
	return n, desc, nil
}

// fetcher reads from the repository resolved last.
func (r *Registry) fetcher(ctx context.Context, desc ocispecs.Descriptor) (remotes.Fetcher, error) {
	r.mu.Lock()
	ref := r.ref
	r.mu.Unlock()
	if ref == "" {
		return nil, fmt.Errorf("fetching %s: no image resolved yet, so no repository to read from: %w", desc.Digest, cerrdefs.ErrFailedPrecondition)
	}
	return r.resolver.Fetcher(ctx, ref)
}

// Fetch implements Source.
func (r *Registry) Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	f, err := r.fetcher(ctx, desc)
	if err != nil {
		return nil, err
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	return readVerified(rc, desc)
}

// Local reads from a containerd image store (an engine's, or a plain
// containerd). It finds images by the name they are stored under, so a ref
// by digest resolves only when an image is stored under exactly that name.
type Local struct {
	c  *client.Client
	ns string
}

var _ Source = (*Local)(nil)

// NewLocal opens a containerd image store.
func NewLocal(address, namespace string) (*Local, error) {
	c, err := client.New(address, client.WithDefaultNamespace(namespace))
	if err != nil {
		return nil, fmt.Errorf("reaching containerd at %s: %w", address, err)
	}
	return &Local{c: c, ns: namespace}, nil
}

// Close releases the connection.
func (l *Local) Close() error { return l.c.Close() }

// Resolve implements Source.
func (l *Local) Resolve(ctx context.Context, ref string) (string, ocispecs.Descriptor, error) {
	name, err := normalize(ref)
	if err != nil {
		return "", ocispecs.Descriptor{}, err
	}
	img, err := l.c.ImageService().Get(namespaces.WithNamespace(ctx, l.ns), name)
	if err != nil {
		return "", ocispecs.Descriptor{}, fmt.Errorf("finding %s in the local store: %w", name, err)
	}
	return name, img.Target, nil
}

// Fetch implements Source.
func (l *Local) Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	data, err := content.ReadBlob(namespaces.WithNamespace(ctx, l.ns), l.c.ContentStore(), desc)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the local store: %w", desc.Digest, err)
	}
	if err := verify(data, desc); err != nil {
		return nil, err
	}
	return data, nil
}

func normalize(ref string) (string, error) {
	// The reference parser's errors repeat a name as given, line breaks
	// and all; no name holds a control character, so that is said here.
	if strings.ContainsFunc(ref, unicode.IsControl) {
		return "", fmt.Errorf("invalid image name %q: an image name holds no control characters: %w", ref, cerrdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w: %w", ref, err, cerrdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(named).String(), nil
}

func readVerified(r io.Reader, desc ocispecs.Descriptor) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
	if cerrdefs.IsFailedPrecondition(err) {
		// containerd's fetcher refuses to read past the descriptor's size:
		// the blob is longer than its descriptor says
		return nil, fmt.Errorf("blob %s is corrupt: it holds more than its descriptor's %d bytes (%v): %w",
			desc.Digest, desc.Size, err, cerrdefs.ErrDataLoss)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", desc.Digest, err)
	}
	if err := verify(data, desc); err != nil {
		return nil, err
	}
	return data, nil
}

func verify(data []byte, desc ocispecs.Descriptor) error {
	// A descriptor from a broken or hostile index may hold no digest at
	// all; go-digest panics on computing one of those.
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q is corrupt: its descriptor's digest is invalid (%v): %w", desc.Digest, err, cerrdefs.ErrDataLoss)
	}
	if int64(len(data)) != desc.Size || desc.Digest.Algorithm().FromBytes(data) != desc.Digest {
		return fmt.Errorf("blob %s is corrupt: its content does not match its descriptor: %w", desc.Digest, cerrdefs.ErrDataLoss)
	}
	return nil
}
