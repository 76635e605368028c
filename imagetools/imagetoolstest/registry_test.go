package imagetoolstest_test

import (
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/imagetools"
	"github.com/xbuild/xbuild/imagetools/imagetoolstest"
)

// The suite reads the env's base image from the env's registry, a
// loopback one, which Registry speaks to over plain HTTP.
func TestRegistryConformance(t *testing.T) {
	registry := imagetoolstest.Getenv(t, "XBUILD_TEST_REGISTRY")
	image := imagetoolstest.Getenv(t, "XBUILD_TEST_BASE_IMAGE")
	if named, err := reference.ParseNormalizedNamed(image); err != nil || reference.Domain(named) != registry {
		t.Fatalf("XBUILD_TEST_BASE_IMAGE=%s is not in XBUILD_TEST_REGISTRY=%s (%v): rerun `hack/env up`", image, registry, err)
	}
	imagetoolstest.Run(t, "registry", imagetoolstest.Backend{
		New:   func(*testing.T) imagetools.Source { return imagetools.NewRegistry(nil) },
		Image: image,
	})
}

// Before any Resolve a Registry has no repository to read from, and says
// so without asking a registry.
func TestRegistryFetchBeforeResolve(t *testing.T) {
	t.Parallel()
	desc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1}
	data, err := imagetools.NewRegistry(nil).Fetch(t.Context(), desc)
	if !cerrdefs.IsFailedPrecondition(err) || data != nil {
		t.Errorf("Fetch() before Resolve() = %d bytes, %v; want nil and an error for which errdefs.IsFailedPrecondition holds", len(data), err)
	}
}
