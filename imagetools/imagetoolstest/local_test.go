package imagetoolstest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/xbuild/xbuild/imagetools"
	"github.com/xbuild/xbuild/imagetools/imagetoolstest"
)

// namespace is where the containerd-store engine keeps its images, the
// store `imagetools inspect --local` reads.
const namespace = "moby"

// The suite reads the containerd store of the env's containerd-store
// engine, holding a copy of the base image made for this test.
func TestLocalConformance(t *testing.T) {
	addr := strings.TrimPrefix(imagetoolstest.Getenv(t, "XBUILD_TEST_CONTAINERD_CONTAINERD"), "unix://")
	base := imagetoolstest.Getenv(t, "XBUILD_TEST_BASE_IMAGE")
	image := storeCopy(t, addr, base)
	imagetoolstest.Run(t, "containerd-store", imagetoolstest.Backend{
		New: func(t *testing.T) imagetools.Source {
			l, err := imagetools.NewLocal(addr, namespace)
			if err != nil {
				t.Fatalf("NewLocal(%s, %s) = %v", addr, namespace, err)
			}
			t.Cleanup(func() { _ = l.Close() })
			return l
		},
		Image: image,
	})
}

// storeCopy copies every platform of ref from its registry into the store
// under a name of this test's own, removed when t ends. An engine's pull
// would fetch only this host's platform, and naming the copy apart leaves
// the engine's own images as they were.
func storeCopy(t *testing.T, addr, ref string) string {
	t.Helper()
	c, err := client.New(addr, client.WithDefaultNamespace(namespace))
	if err != nil {
		t.Fatalf("reaching containerd at %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := namespaces.WithNamespace(t.Context(), namespace)
	// the lease keeps the blobs from the garbage collector until the image
	// (and the labels linking each blob to its children) holds them
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()

	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	name, root, err := resolver.Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("resolving %s: %v", ref, err)
	}
	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ContentStore()
	handler := images.Handlers(remotes.FetchHandler(cs, fetcher), images.SetChildrenLabels(cs, images.ChildrenHandler(cs)))
	if err := images.Dispatch(ctx, handler, nil, root); err != nil {
		t.Fatalf("copying %s into the store: %v", ref, err)
	}
	img := images.Image{Name: fmt.Sprintf("docker.io/xbuild-test/imagetoolstest:%d", time.Now().UnixNano()), Target: root}
	if _, err := c.ImageService().Create(ctx, img); err != nil {
		t.Fatalf("naming the copy of %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_ = c.ImageService().Delete(namespaces.WithNamespace(context.Background(), namespace), img.Name)
	})
	return img.Name
}
