package builder_test

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/engine"
)

// Callers tell errors apart by class, never by text: every sentinel is in
// one of containerd's classes, also when wrapped, and keeps its message.
func TestSentinelClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		err   error
		class error
		text  string
	}{
		{"unknown builder", builder.ErrUnknownBuilder, cerrdefs.ErrNotFound, "no builder found"},
		{"no such builder", store.ErrNotFound, cerrdefs.ErrNotFound, "no such builder"},
		{"builder exists", store.ErrExists, cerrdefs.ErrAlreadyExists, "builder already exists"},
		{"unknown driver", driver.ErrUnknownDriver, cerrdefs.ErrInvalidArgument, "unknown driver"},
		{"no docker context", engine.ErrNoContext, cerrdefs.ErrNotFound, "no such docker context"},
		{"no bake file", bake.ErrNoDefinition, cerrdefs.ErrNotFound, "no bake definition found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wrapped := fmt.Errorf("doing something: %w", tc.err)
			if !errors.Is(wrapped, tc.class) || !errors.Is(wrapped, tc.err) {
				t.Errorf("errors.Is(%v, %v) = false, want true", wrapped, tc.class)
			}
			if got := tc.err.Error(); len(got) < len(tc.text) || got[:len(tc.text)] != tc.text {
				t.Errorf("%s.Error() = %q, want it to start with %q", tc.name, got, tc.text)
			}
		})
	}
}
