package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// Damaged state: a truncated builder file, a stale lock, a
// lock someone holds, a corrupt metadata output. The other builders still
// work (I3), every message names the file, and the way out needs no
// manual step (I7). The files are found, not named: whatever `xbuild
// create` writes under $XBUILD_CONFIG, in whichever layout.

// builderFiles creates a remote builder called name and returns the JSON
// files (paths in cfg) that appeared for it and name it.
func builderFiles(t *testing.T, cfg, name string) []string {
	t.Helper()
	before := snapshot(t, cfg)
	mustXB(t, cfg, []string{"create", "--name", name, "--driver", "remote", env.BuildKit})
	var out []string
	for rel, data := range snapshot(t, cfg) {
		if _, old := before[rel]; !old && json.Valid(data) && strings.Contains(string(data), `"`+name+`"`) {
			out = append(out, rel)
		}
	}
	if len(out) == 0 {
		t.Fatalf("creating builder %s wrote no JSON file naming it under %s", name, cfg)
	}
	slices.Sort(out)
	return out
}

// lockFiles are the lock files of a config folder (named *lock*).
func lockFiles(t *testing.T, cfg string) []string {
	t.Helper()
	var out []string
	for rel := range snapshot(t, cfg) {
		if strings.Contains(strings.ToLower(filepath.Base(rel)), "lock") {
			out = append(out, filepath.Join(cfg, rel))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no lock file under %s: builder state is changed unlocked", cfg)
	}
	return out
}

// namesFile: a message names a file of cfg by its absolute path or by its
// path in the folder.
func namesFile(out, cfg, rel string) bool {
	return strings.Contains(out, filepath.Join(cfg, rel)) || strings.Contains(out, rel)
}

// worksOn checks that a build on builder works (I3: the damage of another
// file breaks nothing else), and notes the recovery.
func (s *scenario) worksOn(fault time.Time, cfg, builder string) {
	s.t.Helper()
	r := xb(s.t, cfg, []string{"build", "--builder", builder, "-o", "type=local,dest=" + s.t.TempDir(), smallContext(s.t)})
	if r.Code != 0 {
		s.violate(invariant.StateWhole, "builder %s no longer builds:\n%s", builder, r)
		return
	}
	s.recovered(fault)
}

func TestReliabilityDamagedState(t *testing.T) {
	t.Parallel()
	t.Run("damaged-builder-file", damagedBuilderFile)
	t.Run("stale-lock", staleLock)
	t.Run("held-lock", heldLock)
	t.Run("corrupt-metadata", corruptMetadata)
}

// damagedBuilderFile truncates one builder's files: the other builder
// works, ls lists both and names the file, using the damaged one fails
// naming it, and rm removes it so that the name can be created again.
func damagedBuilderFile(t *testing.T) {
	s := newScenario(t)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "relok", "--driver", "remote", env.BuildKit})
	files := builderFiles(t, cfg, "relbroken")
	before := snapshot(t, cfg)
	for _, rel := range files {
		if err := os.Truncate(filepath.Join(cfg, rel), int64(len(before[rel])/2)); err != nil {
			t.Fatal(err)
		}
	}
	damaged := time.Now()
	r := xb(t, cfg, []string{"ls"})
	if r.Code != 0 || !strings.Contains(r.Stdout, "relok") || !namesFile(r.Stdout+r.Stderr, cfg, files[0]) {
		s.violate(invariant.StateWhole, "ls with %s truncated: want exit 0, relok listed and the file named:\n%s", files[0], r)
	}
	s.worksOn(damaged, cfg, "relok")
	r = xb(t, cfg, []string{"build", "--builder", "relbroken", smallContext(t)})
	if r.Code == 0 || !namesFile(r.Stderr, cfg, files[0]) {
		t.Errorf("building on the damaged builder: want a failure naming %s:\n%s", files[0], r)
	}
	s.checkState(cfg, before, files...)
	if r := xb(t, cfg, []string{"rm", "relbroken"}); r.Code != 0 {
		s.violate(invariant.Recovers, "rm of the damaged builder, the way out its messages point to:\n%s", r)
	} else if r := xb(t, cfg, []string{"create", "--name", "relbroken", "--driver", "remote", env.BuildKit}); r.Code != 0 {
		s.violate(invariant.Recovers, "creating the removed builder again:\n%s", r)
	}
}

// holdLock holds path's flock in a process of its own (flock(1), as any
// tool would), and returns it.
func holdLock(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	token := uniqueNumber()
	// -o: the sleep does not inherit the lock, so killing flock frees it.
	cmd := exec.Command("flock", "-o", path, "sleep", token)
	if err := cmd.Start(); err != nil {
		t.Fatalf("flock(1), from util-linux, is needed: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		killLeftovers(token)
	})
	for deadline := time.Now().Add(time.Minute); !lockHeld(t, path); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("flock never took %s", path)
		}
	}
	return cmd
}

// staleLock: every lock file holds junk and its holder was killed; the
// builders work as if nothing happened.
func staleLock(t *testing.T) {
	s := newScenario(t)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "relok", "--driver", "remote", env.BuildKit})
	before := snapshot(t, cfg)
	for _, lock := range lockFiles(t, cfg) {
		holder := holdLock(t, lock)
		// What a tool that writes its pid into its lock leaves.
		if err := os.WriteFile(lock, []byte("4194303\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = holder.Process.Signal(syscall.SIGKILL)
		_ = holder.Wait()
	}
	killed := time.Now()
	s.worksOn(killed, cfg, "relok")
	if r := xb(t, cfg, []string{"create", "--name", "relnew", "--driver", "remote", env.BuildKit}); r.Code != 0 {
		s.violate(invariant.StateWhole, "create after a stale lock:\n%s", r)
	}
	s.checkState(cfg, before)
}

// lockHeld: someone holds path's flock now.
func lockHeld(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// heldLock: another process holds the state lock and does not let go. A
// build waiting for it says which file it waits for, and Ctrl-C ends the
// wait within interruptBound; once the holder is gone, it works.
func heldLock(t *testing.T) {
	s := newScenario(t)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "relok", "--driver", "remote", env.BuildKit})
	locks := lockFiles(t, cfg)
	var holders []*exec.Cmd
	for _, lock := range locks {
		holders = append(holders, holdLock(t, lock))
	}
	b := startXB(t, cfg, []string{"build", "--builder", "relok", "-o", "type=local,dest=" + t.TempDir(), smallContext(t)})
	// Not a bound: time for the build to reach the lock and say so.
	time.Sleep(3 * time.Second)
	b.signal(t, syscall.SIGINT)
	sent := time.Now()
	s.expectInterrupted(b, sent)
	if !slices.ContainsFunc(locks, func(l string) bool { return strings.Contains(b.out.String(), l) }) {
		t.Errorf("a build waiting for a held lock never named it (%v):\n%s", locks, b.out)
	}
	for _, h := range holders {
		_ = h.Process.Kill()
		_ = h.Wait()
	}
	s.worksOn(sent, cfg, "relok")
}

// corruptMetadata: the metadata file's place is damaged — an old file
// cut short, a folder of that name, a file where its folder should be.
// The first is replaced whole; the others fail naming the file (exit 0
// would say it was written: I5), and leave nothing half-written beside it.
func corruptMetadata(t *testing.T) {
	s := newScenario(t)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "relok", "--driver", "remote", env.BuildKit})
	dir := t.TempDir()
	cut, folder, under := filepath.Join(dir, "cut.json"), filepath.Join(dir, "folder.json"), filepath.Join(dir, "file", "md.json")
	for path, content := range map[string]string{cut: `{"containerimage.digest": "sha2`, filepath.Join(dir, "file"): "x"} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	damaged := time.Now()
	for _, md := range []string{cut, folder, under} {
		r := xb(t, cfg, []string{"build", "--builder", "relok", "--metadata-file", md, "-o", "type=local,dest=" + t.TempDir(), smallContext(t)})
		data, _ := os.ReadFile(md)
		switch {
		case md == cut && (r.Code != 0 || !json.Valid(data)):
			s.violate(invariant.ExitMeansOutput, "metadata file over a cut one: exit %d, now %q:\n%s", r.Code, data, r)
		case md != cut && r.Code == 0:
			s.violate(invariant.ExitMeansOutput, "exit 0 though the metadata file %s cannot be written:\n%s", md, r)
		case md != cut && !strings.Contains(r.Stderr, md):
			t.Errorf("the error does not name %s:\n%s", md, r)
		}
	}
	s.check(invariant.CheckState(dir, nil)...)
	s.worksOn(damaged, cfg, "relok")
}
