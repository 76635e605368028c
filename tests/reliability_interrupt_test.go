package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// Ctrl-C: SIGINT during a build. xbuild exits 130 within
// interruptBound, the daemon ends the step (no process of it is left on
// the daemon's host within interruptBound), what the build was writing is
// removed, and a second SIGINT exits at once even when the daemon does not
// answer the cancel.

// expectInterrupted checks how a command ends after SIGINT at sent:
// within interruptBound, with 130.
func (s *scenario) expectInterrupted(b *bg, sent time.Time) {
	s.t.Helper()
	code, ended := b.wait(interruptBound - time.Since(sent))
	if !ended {
		s.t.Errorf("xbuild still ran %s after SIGINT (now killed):\n%s", interruptBound, b.out)
		return
	}
	if code != 130 {
		s.t.Errorf("exit %d after SIGINT, want 130:\n%s", code, b.out)
	}
}

// expectStepGone checks that the processes of the RUN step named by token
// end within interruptBound of the SIGINT sent at sent.
func expectStepGone(t *testing.T, token string, sent time.Time) {
	t.Helper()
	for left := invariant.Running(token); len(left) > 0; left = invariant.Running(token) {
		if time.Since(sent) > interruptBound {
			t.Errorf("processes %v of the cancelled RUN step still run %s after SIGINT", left, interruptBound)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectNoOutput checks that an interrupted build left nothing in dir,
// the folder its output went to: neither the output nor a partial one
// beside it.
func expectNoOutput(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the interrupted build left %s", filepath.Join(dir, e.Name()))
	}
}

func TestReliabilityInterrupt(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	t.Run("sigint-run", func(t *testing.T) { interruptRun(t, cfg) })
	// A big output, so that the signal lands while it is written; one
	// seed for both, so that the second exports from cache at once.
	big, seed := bigContext(t, 300), "SEED="+uniqueNumber()
	t.Run("sigint-export-local", func(t *testing.T) { interruptExport(t, cfg, big, seed, "local", "copying files") })
	t.Run("sigint-export-tar", func(t *testing.T) { interruptExport(t, cfg, big, seed, "tar", "sending tarball") })
	t.Run("sigint-twice", interruptTwice)
}

// interruptRun: SIGINT while a RUN step sleeps.
func interruptRun(t *testing.T, cfg string) {
	s := newScenario(t)
	token := uniqueNumber()
	ctxDir := sleepContext(t, token)
	outDir := t.TempDir()
	before := snapshot(t, cfg)
	b := startXB(t, cfg, []string{"build", "--builder", "r", "--no-cache", "-o", "type=local,dest=" + filepath.Join(outDir, "out"), ctxDir})
	b.waitFor(t, "started-"+token)
	b.signal(t, syscall.SIGINT)
	sent := time.Now()
	s.expectInterrupted(b, sent)
	expectStepGone(t, token, sent)
	expectNoOutput(t, outDir)
	s.checkState(cfg, before)
	s.recoversWith(sent, cfg, []string{"build", "--builder", "r", "-o", "type=local,dest=" + t.TempDir(), smallContext(t)})
}

// interruptExport: SIGINT while the result is written to a folder (local)
// or an archive (tar), once the progress shows phase.
func interruptExport(t *testing.T, cfg, ctxDir, seed, typ, phase string) {
	s := newScenario(t)
	outDir := t.TempDir()
	dest := filepath.Join(outDir, "out")
	before := snapshot(t, cfg)
	b := startXB(t, cfg, []string{"build", "--builder", "r", "--build-arg", seed, "-o", "type=" + typ + ",dest=" + dest, ctxDir})
	b.waitFor(t, phase)
	b.signal(t, syscall.SIGINT)
	sent := time.Now()
	s.expectInterrupted(b, sent)
	if b.code == 0 {
		t.Fatalf("the export ended before SIGINT reached it: no interrupted export to check")
	}
	expectNoOutput(t, outDir)
	s.checkState(cfg, before)
	s.recoversWith(sent, cfg, []string{"build", "--builder", "r", "-o", "type=" + typ + ",dest=" + filepath.Join(t.TempDir(), "out"), smallContext(t)})
}

// interruptTwice: the daemon is frozen (SIGSTOP) during a step, so that
// it cannot answer the cancel of the first SIGINT; the second SIGINT must
// still end xbuild at once. A daemon of the test's own, since it is
// frozen.
func interruptTwice(t *testing.T) {
	s := newScenario(t)
	cfg := t.TempDir()
	addr := newLocalBuilder(t, cfg, "relint")
	pid := pidFromFile(t, filepath.Join(filepath.Dir(strings.TrimPrefix(addr, "unix://")), "buildkitd.pid"))
	token := uniqueNumber()
	b := startXB(t, cfg, []string{"build", "--builder", "relint", "--no-cache", sleepContext(t, token)}, toolsPath())
	b.waitFor(t, "started-"+token)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	b.signal(t, syscall.SIGINT)
	select {
	case <-b.done:
		t.Logf("the first SIGINT ended xbuild; no second one to send")
	case <-time.After(200 * time.Millisecond):
		b.signal(t, syscall.SIGINT)
	}
	sent := time.Now()
	s.expectInterrupted(b, sent)
	t.Logf("exit %d %s after the second SIGINT", b.code, time.Since(sent).Round(time.Millisecond))
	thaw()
	s.recoversWith(sent, cfg, []string{"build", "--builder", "relint", "-o", "type=local,dest=" + t.TempDir(), smallContext(t)}, toolsPath())
}
