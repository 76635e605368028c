package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// type=gha against act's own cache server (the v1 cache API, which act
// announces as ACTIONS_CACHE_URL): the same workflow runs twice, sharing
// the server's storage and nothing else. Each run builds on a local
// builder of its own, started with empty state and removed at the end of
// its job, so a RUN step the second run finds CACHED came from the gha
// cache the first run exported. The runtime token is nowhere in act's log.
func TestActionGhaCacheUnderAct(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": fmt.Sprintf("ARG BASE\nFROM ${BASE}\nRUN echo %d > /stamp && sleep 2\n", stamp),
	})
	bin := filepath.Join(repoRoot, "hack", "tools", "bin")
	workflow := fmt.Sprintf(`name: cache
on: push
jobs:
  cache:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          context: %s
          build-args: %s
          cache-from: type=gha,scope=xbuild-test-%d
          cache-to: type=gha,mode=max,scope=xbuild-test-%d
          driver: local
          buildkitd-config-inline: |
            [registry."%s"]
              http = true
            [worker.containerd]
              enabled = false
          xbuild-path: %s
`, ctxDir, baseArg(), stamp, stamp, env.Registry, xbuildBin)
	repo, _ := actRepo(t, workflow)
	cacheDir := t.TempDir()
	marker := runtimeToken(fmt.Sprintf("act-tok-never-shown-%d", stamp))
	run := func() string {
		t.Helper()
		return actLog(runActEnv(t, repo, t.TempDir(), ".github/workflows/example.yml", []string{"ACTIONS_RUNTIME_TOKEN=" + marker},
			"--cache-server-path", cacheDir, "--env", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH")))
	}
	first := run()
	if runCached(first) {
		t.Fatalf("the first run found the RUN step cached, so the second proves nothing:\n%s", first)
	}
	if !strings.Contains(first, "building with a local buildkitd") && !strings.Contains(first, "instance using local driver") {
		t.Errorf("the first run did not build on a local builder of its own:\n%s", first)
	}
	if stored := dirSize(t, filepath.Join(cacheDir, "cache")); stored == 0 {
		t.Fatalf("act's cache server stored nothing after the first run:\n%s", first)
	}
	second := run()
	if !runCached(second) {
		t.Errorf("the second run rebuilt the RUN step: the gha cache was not used:\n%s", second)
	}
	for i, log := range []string{first, second} {
		if strings.Contains(log, marker) || strings.Contains(log, strings.Split(marker, ".")[2]) {
			t.Errorf("run %d: the runtime token is in act's log:\n%s", i+1, log)
		}
	}
}

// actLog strips act's [workflow/job] | prefix from each line, leaving
// what the steps printed.
func actLog(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if _, rest, ok := strings.Cut(l, "| "); ok && strings.HasPrefix(l, "[") {
			lines[i] = rest
		}
	}
	return strings.Join(lines, "\n")
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
