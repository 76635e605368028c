package tests

import (
	"fmt"
	"regexp"
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
	// Plain progress prints a step's title again when it resumes: count
	// the steps, not the lines.
	steps := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#(\d+) exporting to image$`).FindAllStringSubmatch(r.Stderr, -1) {
		steps[m[1]] = true
	}
	if len(steps) != 1 {
		t.Errorf("%d image exports, want 1:\n%s", len(steps), r.Stderr)
	}
	insp := mustXB(t, cfg, []string{"imagetools", "inspect", ref})
	if !strings.Contains(insp.Stdout, ref) {
		t.Errorf("%s is not in the registry:\n%s", ref, insp)
	}
}
