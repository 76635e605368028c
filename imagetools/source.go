package imagetools

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source finds images and reads their blobs.
type Source interface {
	// Resolve returns the full name and the root descriptor of ref.
	Resolve(ctx context.Context, ref string) (string, ocispecs.Descriptor, error)
	// Fetch reads one blob whole.
	Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error)
}

// Registry reads from registries; loopback registries are spoken to over
// plain HTTP, as the Docker Engine does.
type Registry struct {
	resolver remotes.Resolver
	ref      string
}

// NewRegistry returns a registry source using creds for authentication
// (nil for anonymous).
func NewRegistry(creds func(host string) (string, string, error)) *Registry {
	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(creds))
	return &Registry{resolver: docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost), docker.WithAuthorizer(auth)),
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
	r.ref = n
	return n, desc, nil
}

// Fetch implements Source.
func (r *Registry) Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	f, err := r.resolver.Fetcher(ctx, r.ref)
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
// containerd).
type Local struct {
	c  *client.Client
	ns string
}

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
	return data, verify(data, desc)
}

func normalize(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w", ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

func readVerified(r io.Reader, desc ocispecs.Descriptor) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
	if err != nil {
		return nil, err
	}
	return data, verify(data, desc)
}

func verify(data []byte, desc ocispecs.Descriptor) error {
	if int64(len(data)) != desc.Size || desc.Digest.Algorithm().FromBytes(data) != desc.Digest {
		return fmt.Errorf("blob %s is corrupt: its content does not match its digest", desc.Digest)
	}
	return nil
}
