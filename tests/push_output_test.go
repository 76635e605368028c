package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// --push with an image output pushes that output, as buildx does: the
// name comes from the output, no -t needed, and one image is exported.
func TestPushFlagJoinsImageOutput(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ref := fmt.Sprintf("%s/xbuild-test/push-output:%d", env.Registry, time.Now().UnixNano())
	r := mustXB(t, cfg, []string{"build", "--builder", "r", "--push", "--output", "type=image,name=" + ref, smallContext(t)})
	if n := strings.Count(r.Stderr, "exporting to image"); n != 1 {
		t.Errorf("%d image exports, want 1:\n%s", n, r.Stderr)
	}
	insp := mustXB(t, cfg, []string{"imagetools", "inspect", ref})
	if !strings.Contains(insp.Stdout, ref) {
		t.Errorf("%s is not in the registry:\n%s", ref, insp)
	}
}
