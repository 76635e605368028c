package imagetoolstest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/xbuild/xbuild/imagetools"
)

// Backend is one Source implementation over its real backend.
type Backend struct {
	// New returns a Source over the backend, fresh for each check; what
	// it opens it releases with t.Cleanup.
	New func(t *testing.T) imagetools.Source
	// Image names an image the backend holds whole: an index of
	// linux/amd64 and linux/arm64 images, every blob they reach present.
	// The suite derives the missing images it asks for from its name.
	Image string
}

// checkTimeout bounds one check, so a hung backend fails the check instead
// of stalling the test binary until its global timeout.
const checkTimeout = 2 * time.Minute

type check struct {
	name string
	fn   func(ctx context.Context, t *testing.T, b Backend)
}

var checks = []check{
	{"ResolveIndex", checkResolveIndex},
	{"ResolveMissing", checkResolveMissing},
	{"ResolveInvalid", checkResolveInvalid},
	{"FetchMissing", checkFetchMissing},
	{"BlobsMatch", checkBlobsMatch},
	{"FetchWrongSize", checkFetchWrongSize},
	{"Concurrent", checkConcurrent},
	{"Cancelled", checkCancelled},
}

// Run runs every check of the suite as a subtest of t named name. The
// checks only read, so they run in parallel.
func Run(t *testing.T, name string, b Backend) {
	t.Helper()
	if b.New == nil || b.Image == "" {
		t.Fatalf("imagetoolstest.Run(%q): Backend needs both New and Image", name)
	}
	t.Run(name, func(t *testing.T) {
		for _, c := range checks {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), checkTimeout)
				defer cancel()
				c.fn(ctx, t, b)
			})
		}
	})
}

// Getenv returns the test env variable name, one of those `hack/env print`
// exports, and fails t when it is unset: a Source's tests need their
// backend, and a missing one is a setup error, never a reason to skip.
func Getenv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is unset: the test env is not up; run `hack/env up` and `eval \"$(hack/env print)\"`", name)
	}
	return v
}
