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

// A full disk: the engine's containerd root on a tmpfs too small for the
// new image, loaded straight into that containerd or through the engine's
// load endpoint; and an output folder or archive on a tmpfs too small for
// it. The command fails saying so, the old image under the tag still runs
// (or the old output is still there) and the space the failed write took
// comes back: nothing half-written stays behind to fill the disk.
func TestReliabilityDiskFull(t *testing.T) {
	t.Parallel()
	// Both layers are random bytes, so no compression makes them fit: the
	// new image takes more than the engine's 200M, the output more than
	// the folder's 64M.
	rig := newEngineRig(t, "200M")
	const bigMB, seed = 260, "full"
	big := bigContext(t, bigMB)
	t.Run("disk-full-load-direct", func(t *testing.T) { diskFullLoad(t, rig, big, seed, "direct") })
	t.Run("disk-full-load-endpoint", func(t *testing.T) { diskFullLoad(t, rig, big, seed, "endpoint") })
	out := bigContext(t, 100)
	t.Run("disk-full-output-folder", func(t *testing.T) { diskFullOutput(t, rig.cfg, out, seed, "local") })
	t.Run("disk-full-output-archive", func(t *testing.T) { diskFullOutput(t, rig.cfg, out, seed, "oci") })
}

// diskFullLoad loads a small image under a tag, then one too big for the
// engine's disk under the same tag through builder "r", the env's
// buildkitd, "direct" into the engine's containerd or through its load
// "endpoint".
func diskFullLoad(t *testing.T, rig *engineRig, big, seed, way string) {
	s := newScenario(t)
	tag := "rel/disk:" + way
	extraEnv := ""
	if way == "endpoint" {
		extraEnv = "XBUILD_DIRECT_LOAD=0"
	}
	ref := "docker.io/" + tag
	oldSeed := "old-" + uniqueNumber()
	mustXB(t, rig.cfg, []string{"build", "--builder", "r", "--load", "-t", tag, "--build-arg", "SEED=" + oldSeed, bigContext(t, 1)}, rig.host(), withEnv(extraEnv))
	old := tagNow(t, rig.sock, ref)
	data := filepath.Join(rig.dir, "data")
	free := freeBytes(t, data)
	before := snapshot(t, rig.cfg)

	r := xb(t, rig.cfg, []string{"build", "--builder", "r", "--load", "-t", tag, "--build-arg", "SEED=" + seed, big}, rig.host(), withEnv(extraEnv))
	fault := time.Now()
	s.expectNoSpace(r)
	s.spaceComesBack(data, free)
	s.checkStore(rig.sock)
	s.checkTag(rig.sock, ref, old)
	s.checkState(rig.cfg, before)
	if got := runImage(t, engine(t, rig.pe.Host), tag, "linux/amd64"); !strings.Contains(got, oldSeed) {
		s.violate(invariant.TagOldOrNew, "the old %s printed %q after the failed load, want %q", tag, got, oldSeed)
	}
	s.recoversWith(fault, rig.cfg, []string{"build", "--builder", "r", "--load", "-t", tag, smallContext(t)}, rig.host(), withEnv(extraEnv))
}

// diskFullOutput writes an output of type typ ("local": a folder, "oci":
// an archive) too big for a 64M tmpfs over an older one.
func diskFullOutput(t *testing.T, cfg, big, seed, typ string) {
	s := newScenario(t)
	mnt := smallDisk(t, "64M")
	dest := filepath.Join(mnt, "out")
	oldFile := dest
	if typ == "local" {
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		oldFile = filepath.Join(dest, "old.txt")
	}
	if err := os.WriteFile(oldFile, []byte("old output"), 0o644); err != nil {
		t.Fatal(err)
	}
	free := freeBytes(t, mnt)
	r := xb(t, cfg, []string{"build", "--builder", "r", "--output", "type=" + typ + ",dest=" + dest, "--build-arg", "SEED=" + seed, big})
	fault := time.Now()
	s.expectNoSpace(r)
	s.spaceComesBack(mnt, free)
	if data, err := os.ReadFile(oldFile); err != nil || string(data) != "old output" {
		s.violate(invariant.TagOldOrNew, "the old output %s after the failed write: %q, %v", oldFile, data, err)
	}
	entries, _ := os.ReadDir(mnt)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		s.violate(invariant.TagOldOrNew, "the failed write left %v beside %s", names, dest)
	}
	s.recoversWith(fault, cfg, []string{"build", "--builder", "r", "--output", "type=" + typ + ",dest=" + dest, smallContext(t)})
}

// expectNoSpace checks how a command that ran out of disk ends: not with
// 0 (I5), and with an error line that says the disk is full.
func (s *scenario) expectNoSpace(r result) {
	s.t.Helper()
	if r.Code == 0 {
		s.violate(invariant.ExitMeansOutput, "exit 0 though the output did not fit:\n%s", r)
		return
	}
	line := errorLine(r.Stdout + r.Stderr)
	s.t.Logf("exit %d: %s", r.Code, line)
	if !strings.Contains(line, "no space left on device") {
		s.t.Errorf("error line %q, want it to say the disk is full (exit %d)\n%s", line, r.Code, r)
	}
}

// spaceComesBack waits until the filesystem at dir has about as much free
// space as before the failed write: containerd removes what a lease
// stopped holding in the background, so give it time.
func (s *scenario) spaceComesBack(dir string, before uint64) {
	s.t.Helper()
	const slack = 16 << 20
	deadline := time.Now().Add(time.Minute)
	for {
		now := freeBytes(s.t, dir)
		if now+slack >= before {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("%s has %d MB free a minute after the failed write, %d MB before: what it wrote stayed",
				dir, now>>20, before>>20)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// smallDisk mounts a tmpfs of size for one test.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("xbuild-test", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mounting a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
