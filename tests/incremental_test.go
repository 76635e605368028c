package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var loadSummary = regexp.MustCompile(`(\d+) of (\d+) blobs already present, sent (\d+) \(`)

// loadCounts reads the direct load's summary line from the progress.
func loadCounts(t *testing.T, stderr string) (present, total, sent int) {
	t.Helper()
	m := loadSummary.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no load summary in the progress:\n%s", stderr)
	}
	present, _ = strconv.Atoi(m[1])
	total, _ = strconv.Atoi(m[2])
	sent, _ = strconv.Atoi(m[3])
	return present, total, sent
}

// A remote builder loading into the containerd store sends only the blobs
// the store lacks.
func TestIncrementalLoad(t *testing.T) {
	t.Parallel()
	host := withDockerHost(os.Getenv("XBUILD_TEST_DOCKER_CONTAINERD"))
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", os.Getenv("XBUILD_TEST_BUILDKIT")})
	ctxDir := helloContext(t)
	tag := uniqueTag(t, "incremental")
	build := func() result {
		return mustXB(t, cfg, []string{"build", "--builder", "r", "--platform=linux/amd64,linux/arm64", "--load",
			"--provenance=false", "-t", tag, "--build-arg", baseArg(), ctxDir}, host)
	}
	build()
	// The same image again: everything is there, nothing is sent.
	present, total, sent := loadCounts(t, build().Stderr)
	if sent != 0 || present != total {
		t.Errorf("second load of the same image: %d of %d present, sent %d; want all present, none sent", present, total, sent)
	}
	// One file changed: its layer (the same for both platforms), two
	// manifests, two configs and the index.
	if err := os.WriteFile(filepath.Join(ctxDir, "hello.sh"), []byte("#!/bin/sh\necho changed on $(uname -m)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := build()
	present, total, sent = loadCounts(t, r.Stderr)
	if sent == 0 || sent > 6 || present < total-6 {
		t.Errorf("load after a one-file change: %d of %d present, sent %d; want at most 6 sent", present, total, sent)
	}
	api := engine(t, os.Getenv("XBUILD_TEST_DOCKER_CONTAINERD"))
	for plat, want := range map[string]string{"linux/arm64": "changed on aarch64", "linux/amd64": "changed on x86_64"} {
		if got := runImage(t, api, tag, plat); !strings.Contains(got, want) {
			t.Errorf("running %s for %s printed %q, want %q", tag, plat, got, want)
		}
	}
	kinds := manifestKinds(t, api, tag)
	if len(kinds["image"]) != 2 {
		t.Errorf("manifests after incremental loads = %v, want two images", kinds)
	}
}
