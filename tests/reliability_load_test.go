package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// Load: many xbuild processes at once. `make test` runs one round of each;
// hack/reliability.sh asks for $XBUILD_RELIABILITY_ROUNDS rounds (each
// recorded as a run) within $XBUILD_RELIABILITY_BUDGET.
const (
	concurrentLoads    = 32
	concurrentBuilders = 16
)

// rounds is how many rounds a load scenario runs, and for how long at most.
func rounds(t *testing.T) (int, time.Duration) {
	t.Helper()
	n, budget := 1, 10*time.Minute
	if v := os.Getenv("XBUILD_RELIABILITY_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("XBUILD_RELIABILITY_ROUNDS=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("XBUILD_RELIABILITY_BUDGET"); v != "" {
		var err error
		if budget, err = time.ParseDuration(v); err != nil {
			t.Fatalf("XBUILD_RELIABILITY_BUDGET=%q: %v", v, err)
		}
	}
	return n, budget
}

// runRounds runs round as many times as rounds allows, each as a
// subtest of its own (one run of the scenario each), stopping at the first
// failed round.
func runRounds(t *testing.T, name string, round func(t *testing.T, n int)) {
	n, budget := rounds(t)
	start := time.Now()
	for i := 0; i < n && (i == 0 || time.Since(start) < budget); i++ {
		if !t.Run(name, func(t *testing.T) { round(t, i) }) {
			return
		}
	}
}

// 32 loads at once into one containerd-store engine, half through the
// engine's own BuildKit and half straight into its containerd from the
// env's buildkitd; half of them different images under tags of their own,
// half the same image under four tags they share. Every load succeeds,
// every image in the store is whole, every tag points at an image one of
// its writers made.
func TestReliabilityConcurrentLoads(t *testing.T) {
	t.Parallel()
	rig := newEngineRig(t)
	runRounds(t, "concurrent-loads", func(t *testing.T, round int) {
		s := newScenario(t)
		same := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nCOPY f /f\n", "f": "same " + uniqueNumber()})
		var wg sync.WaitGroup
		var mu sync.Mutex
		tags := map[string]map[digest.Digest]bool{}
		for i := range concurrentLoads {
			builder, tag, ctxDir := "default", fmt.Sprintf("rel/load:%d", i), same
			if i%2 == 1 {
				builder = "r"
			}
			if i < concurrentLoads/2 {
				ctxDir = writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nCOPY f /f\n", "f": fmt.Sprintf("round %d load %d %s", round, i, uniqueNumber())})
			} else {
				tag = fmt.Sprintf("rel/load:same-%d", i%4)
			}
			md := filepath.Join(t.TempDir(), "metadata.json")
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := xb(t, rig.cfg, []string{"build", "--builder", builder, "--load", "-t", tag, "--metadata-file", md, ctxDir}, rig.host())
				if r.Code != 0 {
					s.violate(invariant.ExitMeansOutput, "load %d (%s, builder %s) failed:\n%s", i, tag, builder, r)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if tags[tag] == nil {
					tags[tag] = map[digest.Digest]bool{}
				}
				tags[tag][loadedImage(md)] = true
			}()
		}
		wg.Wait()
		t.Logf("round %d: %d loads, into %d tags", round, concurrentLoads, len(tags))
		s.checkStore(rig.sock)
		for tag, made := range tags {
			now := tagNow(t, rig.sock, "docker.io/"+tag)
			if !made[now] {
				s.violate(invariant.TagOldOrNew, "%s points at %s, which none of its loads made (%v)", tag, now, made)
			}
		}
	})
}

// loadedImage is what a load named in its metadata file: the config
// digest the docker driver reports, else the manifest digest.
func loadedImage(md string) digest.Digest {
	data, err := os.ReadFile(md)
	if err != nil {
		return ""
	}
	var m struct {
		Digest digest.Digest `json:"containerimage.digest"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Digest
}

// 16 processes at once each create a builder of their own, use it and
// remove it, while four more race to create one name: every builder is
// there, once, between its create and its rm, exactly one of the racing
// creates wins, and the state is whole afterwards.
func TestReliabilityConcurrentBuilders(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	runRounds(t, "concurrent-builders", func(t *testing.T, round int) {
		s := newScenario(t)
		before := snapshot(t, cfg)
		ctxDir := smallContext(t)
		var wg sync.WaitGroup
		for k := range concurrentBuilders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				churnBuilder(s, cfg, fmt.Sprintf("churn-%d-%d", round, k), ctxDir)
			}()
		}
		racing := fmt.Sprintf("churn-%d-same", round)
		wins := make(chan int, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := xb(t, cfg, []string{"create", "--name", racing, "--driver", "remote", env.BuildKit})
				if r.Code == 0 {
					wins <- 1
				} else if !strings.Contains(r.Stderr, "already exists") {
					t.Errorf("a losing create of %s: want it to say the builder already exists:\n%s", racing, r)
				}
			}()
		}
		wg.Wait()
		close(wins)
		if n := len(wins); n != 1 {
			t.Errorf("%d of 4 racing creates of %s succeeded, want exactly 1", n, racing)
		}
		mustXB(t, cfg, []string{"rm", racing})
		for name, n := range listed(t, cfg) {
			if strings.HasPrefix(name, "churn-") {
				s.violate(invariant.StateWhole, "builder %s is still listed %d time(s) after its rm", name, n)
			}
		}
		s.checkState(cfg, before)
	})
}

// churnBuilder creates one builder, finds it listed once, builds on it and
// removes it.
func churnBuilder(s *scenario, cfg, name, ctxDir string) {
	t := s.t
	if r := xb(t, cfg, []string{"create", "--name", name, "--driver", "remote", env.BuildKit}); r.Code != 0 {
		s.violate(invariant.StateWhole, "create %s failed:\n%s", name, r)
		return
	}
	if n := listed(t, cfg)[name]; n != 1 {
		s.violate(invariant.StateWhole, "builder %s listed %d times after its create, want once", name, n)
	}
	if r := xb(t, cfg, []string{"build", "--builder", name, ctxDir}); r.Code != 0 {
		s.violate(invariant.ExitMeansOutput, "build on %s failed:\n%s", name, r)
	}
	if r := xb(t, cfg, []string{"rm", name}); r.Code != 0 {
		s.violate(invariant.StateWhole, "rm %s failed:\n%s", name, r)
	}
}

// listed counts how many times `ls --format json` lists each builder.
func listed(t *testing.T, cfg string) map[string]int {
	t.Helper()
	r := xb(t, cfg, []string{"ls", "--format", "json", "--timeout", "5s"})
	if r.Code != 0 {
		t.Errorf("ls failed:\n%s", r)
	}
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var b struct{ Name string }
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Errorf("ls --format json line %q: %v", line, err)
			continue
		}
		out[b.Name]++
	}
	return out
}
