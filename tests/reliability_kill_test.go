package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// Killed daemons: a daemon is killed (SIGKILL) in the middle of a build.
// The command ends within deadDaemonBound with an error naming what died
// and a non-zero exit; no image a store names is partial (I1), the tag
// keeps its old image or a complete new one (I2), builder state is whole
// (I3), and the next command works with no manual step (I7) once the
// daemon is back: xbuild restarts a local builder's buildkitd itself; an
// engine is restarted as its admin would.

// toolsPath puts hack/tools/bin first on PATH: the local driver starts the
// buildkitd found there, also when a build finds its daemon dead.
func toolsPath() runOpt {
	return withEnv("PATH=" + filepath.Join(repoRoot, "hack", "tools", "bin") + string(os.PathListSeparator) + os.Getenv("PATH"))
}

// sleepContext is a build whose RUN step prints started-TOKEN and sleeps
// TOKEN seconds, so /proc finds its processes by that number.
func sleepContext(t *testing.T, token string) string {
	t.Helper()
	t.Cleanup(func() { killLeftovers(token) })
	return writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN echo started-" + token + " && sleep " + token + "\n"})
}

// bigContext makes an image with a layer of mb MB of random bytes, whose
// export lasts long enough to be hit; the build arg SEED changes it.
func bigContext(t *testing.T, mb int) string {
	t.Helper()
	return writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage +
		"\nARG SEED\nRUN echo $SEED > /seed && head -c " + strconv.Itoa(mb) + "000000 /dev/urandom > /big\nCMD [\"cat\", \"/seed\"]\n"})
}

// smallContext is a quick build, for the command after a fault.
func smallContext(t *testing.T) string {
	t.Helper()
	return writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN echo recovered-" + uniqueNumber() + " > /r\n"})
}

// expectDeath checks how a command ends whose daemon died at fault: within
// deadDaemonBound, not with 0 (its outputs were never delivered: I5), and
// with an error line naming what died.
func (s *scenario) expectDeath(b *bg, fault time.Time, names string) {
	s.t.Helper()
	code, ended := b.wait(deadDaemonBound - time.Since(fault))
	if !ended {
		s.t.Errorf("xbuild still ran %s after its daemon was killed (now killed):\n%s", deadDaemonBound, b.out)
		return
	}
	if code == 0 {
		s.violate(invariant.ExitMeansOutput, "exit 0 though the daemon died before the build ended:\n%s", b.out)
	}
	if line := errorLine(b.out.String()); !strings.Contains(line, names) {
		s.t.Errorf("error line %q, want it to name %s (exit %d, %s after the kill)", line, names, code, time.Since(fault).Round(time.Millisecond))
	}
}

// recoversWith runs the command after a fault: it must work (I7).
func (s *scenario) recoversWith(fault time.Time, cfg string, args []string, opts ...runOpt) {
	s.t.Helper()
	if r := xb(s.t, cfg, args, opts...); r.Code != 0 {
		s.violate(invariant.Recovers, "the next command after the fault failed:\n%s", r)
		return
	}
	s.recovered(fault)
}

// The local driver's buildkitd, a daemon of this test's own.
func TestReliabilityBuildkitdKilled(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	addr := newLocalBuilder(t, cfg, "relkill")
	root := filepath.Dir(strings.TrimPrefix(addr, "unix://"))
	// Runs before the folder is removed: the killed daemon's step keeps
	// its root file system mounted there.
	t.Cleanup(func() { unmountUnder(root) })
	t.Run("buildkitd-killed-run", func(t *testing.T) { buildkitdKilledDuringRun(t, cfg, root) })
	t.Run("buildkitd-killed-export", func(t *testing.T) { buildkitdKilledDuringExport(t, cfg, root) })
	t.Run("buildkitd-killed-rm", func(t *testing.T) { removeAfterKills(t, cfg, root) })
}

func buildkitdKilledDuringRun(t *testing.T, cfg, root string) {
	s := newScenario(t)
	token := uniqueNumber()
	ctxDir := sleepContext(t, token)
	out := filepath.Join(t.TempDir(), "out")
	before := snapshot(t, cfg)
	b := startXB(t, cfg, []string{"build", "--builder", "relkill", "--no-cache", "-o", "type=local,dest=" + out, ctxDir}, toolsPath())
	b.waitFor(t, "started-"+token)
	killed := killPID(t, pidFromFile(t, filepath.Join(root, "buildkitd.pid")))
	s.expectDeath(b, killed, `builder "relkill"`)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("the failed build left its output folder %s", out)
	}
	s.checkState(cfg, before)
	s.recoversWith(killed, cfg, []string{"build", "--builder", "relkill", "-o", "type=local,dest=" + t.TempDir(), smallContext(t)}, toolsPath())
}

func buildkitdKilledDuringExport(t *testing.T, cfg, root string) {
	s := newScenario(t)
	tag := uniqueTag(t, "rel-bkexport")
	ref := "docker.io/" + tag
	ctxDir := bigContext(t, 100)
	host := withDockerHost(env.DockerContainerd)
	build := func(seed string) []string {
		return []string{"build", "--builder", "relkill", "--load", "-t", tag, "--build-arg", "SEED=" + seed, ctxDir}
	}
	mustXB(t, cfg, build("old-"+uniqueNumber()), host, toolsPath())
	old := tagNow(t, env.ContainerdOfEngine, ref)
	before := snapshot(t, cfg)
	b := startXB(t, cfg, build("new-"+uniqueNumber()), host, toolsPath())
	b.waitFor(t, "exporting layers")
	killed := killPID(t, pidFromFile(t, filepath.Join(root, "buildkitd.pid")))
	s.expectDeath(b, killed, `builder "relkill"`)
	// The env's engine serves other tests: only this test's image is read.
	s.checkImage(env.ContainerdOfEngine, ref)
	s.checkTag(env.ContainerdOfEngine, ref, old)
	s.checkState(cfg, before)
	s.recoversWith(killed, cfg, []string{"build", "--builder", "relkill", "--load", "-t", tag, smallContext(t)}, host, toolsPath())
}

// removeAfterKills: a builder whose daemon was killed during steps is
// still removed by `xbuild rm`, daemon and state, with no manual step (I7).
func removeAfterKills(t *testing.T, cfg, root string) {
	s := newScenario(t)
	start := time.Now()
	if r := xb(t, cfg, []string{"rm", "relkill"}); r.Code != 0 {
		s.violate(invariant.Recovers, "rm after the daemon was killed:\n%s", r)
		return
	}
	s.recovered(start)
	if _, err := os.Stat(root); err == nil {
		t.Errorf("rm left the daemon's folder %s", root)
	}
}

// unmountUnder detaches every mount that a daemon rooted at dir left
// when it was killed during a step or an export: the step's root file
// system below dir, and temporary mounts elsewhere of its snapshots. Their
// mount points and the empty folders they stacked are removed too.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points, empties []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(line, dir+"/") {
			continue
		}
		points = append(points, f[4])
		if _, opts, ok := strings.Cut(line, "lowerdir="); ok {
			opts, _, _ = strings.Cut(opts, ",")
			empties = append(empties, strings.Split(opts, ":")...)
		}
	}
	slices.Sort(points)
	for _, p := range slices.Backward(points) {
		if syscall.Unmount(p, syscall.MNT_DETACH) == nil && !strings.HasPrefix(p, dir+"/") {
			_ = os.Remove(p)
		}
	}
	for _, e := range empties {
		_ = os.Remove(e) // only when empty
	}
}

// engineRig is a private engine with the containerd store and the
// builders that reach it: its own (docker driver, "default") and the
// env's buildkitd as remote builder "r", which loads straight into the
// engine's containerd.
type engineRig struct {
	pe        privateEngine
	cfg, sock string
	// dir is the engine's folder: docker.pid, exec/containerd/.
	dir string
}

// newEngineRig starts the rig; with a size, the engine's data root is a
// tmpfs that small.
func newEngineRig(t *testing.T, size ...string) *engineRig {
	t.Helper()
	// Registered before the engine's own clean-up, so it runs after it:
	// a dockerd killed during an export leaves mounts of its snapshots in
	// /tmp, which stopping the engine does not look for.
	var dir string
	t.Cleanup(func() {
		if dir != "" {
			unmountUnder(dir)
		}
	})
	pe := newPrivateEngine(t, "containerd", size...)
	dir = filepath.Dir(strings.TrimPrefix(pe.Host, "unix://"))
	rig := &engineRig{pe: pe, cfg: t.TempDir(), dir: dir, sock: filepath.Join(dir, "exec", "containerd", "containerd.sock")}
	mustXB(t, rig.cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	return rig
}

func (rig *engineRig) host() runOpt { return withDockerHost(rig.pe.Host) }

// restart starts the engine again after its dockerd was killed, as an
// admin or systemd would: the "daemon restarted" part, outside xbuild.
func (rig *engineRig) restart(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", rig.pe.Restart).CombinedOutput(); err != nil {
		t.Fatalf("restarting the private engine: %v\n%s", err, out)
	}
}

// waitContainerd waits for the engine's containerd to answer again:
// dockerd restarts the containerd it manages by itself.
func (rig *engineRig) waitContainerd(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := client.New(rig.sock, client.WithTimeout(2*time.Second))
		if err == nil {
			_, err = c.Version(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine's containerd is not back after 2 minutes: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// extracting returns the snapshots a containerd is extracting layers into
// (its unpacker names them extract-...).
func extracting(c *client.Client) map[string]bool {
	out := map[string]bool{}
	_ = c.SnapshotService("overlayfs").Walk(context.Background(), func(_ context.Context, i snapshots.Info) error {
		if strings.HasPrefix(i.Name, "extract-") {
			out[i.Name] = true
		}
		return nil
	})
	return out
}

// waitExtracting waits until containerd extracts a layer into a snapshot
// not in before (a killed unpack leaves its own): too short a moment for
// the progress display to show in time.
func (rig *engineRig) waitExtracting(t *testing.T, b *bg, before map[string]bool) {
	t.Helper()
	c := containerdAt(t, rig.sock)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		for name := range extracting(c) {
			if !before[name] {
				return
			}
		}
		select {
		case <-b.done:
			t.Fatalf("xbuild ended (exit %d) before containerd unpacked anything:\n%s", b.code, b.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd never unpacked a layer:\n%s", b.out)
		}
	}
}

// The docker driver's engine, and the containerd of that engine under a
// direct load from a remote builder; one private engine for all four.
func TestReliabilityEngineKilled(t *testing.T) {
	t.Parallel()
	rig := newEngineRig(t)
	t.Run("engine-killed-build", func(t *testing.T) { engineKilled(t, rig, "run") })
	t.Run("engine-killed-load", func(t *testing.T) { engineKilled(t, rig, "load") })
	t.Run("containerd-killed-export", func(t *testing.T) { containerdKilled(t, rig, "export") })
	t.Run("containerd-killed-unpack", func(t *testing.T) { containerdKilled(t, rig, "unpack") })
}

// engineKilled kills the engine's dockerd during a RUN step ("run") or
// during the --load of the image ("load").
func engineKilled(t *testing.T, rig *engineRig, during string) {
	s := newScenario(t)
	tag := "rel/engine:" + during
	ref := "docker.io/" + tag
	ctxDir := bigContext(t, 100)
	mustXB(t, rig.cfg, []string{"build", "--load", "-t", tag, "--build-arg", "SEED=old-" + uniqueNumber(), ctxDir}, rig.host())
	old := tagNow(t, rig.sock, ref)
	args, wait := []string{"build", "--load", "-t", tag, "--build-arg", "SEED=new-" + uniqueNumber(), ctxDir}, "exporting layers"
	if during == "run" {
		token := uniqueNumber()
		args, wait = []string{"build", "--load", "-t", tag, sleepContext(t, token)}, "started-"+token
	}
	before := snapshot(t, rig.cfg)
	b := startXB(t, rig.cfg, args, rig.host())
	b.waitFor(t, wait)
	killed := killPID(t, pidFromFile(t, filepath.Join(rig.dir, "docker.pid")))
	s.expectDeath(b, killed, `builder "default"`)
	rig.restart(t)
	s.checkStore(rig.sock)
	s.checkTag(rig.sock, ref, old)
	s.checkState(rig.cfg, before)
	s.recoversWith(killed, rig.cfg, []string{"build", "--load", "-t", tag, smallContext(t)}, rig.host())
}

// containerdKilled kills the engine's containerd while the remote builder
// loads into it: during the "export", when BuildKit writes the blobs
// through the session, or during the "unpack", when xbuild has named the
// blobs under its lease and containerd extracts the layers. BuildKit may
// ride out the first, as dockerd restarts its containerd: then the load
// must be whole (I5).
func containerdKilled(t *testing.T, rig *engineRig, phase string) {
	s := newScenario(t)
	tag := "rel/ctdkill:" + phase // no "containerd" in it: the error must name that
	ref := "docker.io/" + tag
	ctxDir := bigContext(t, 100)
	md := filepath.Join(t.TempDir(), "metadata.json")
	build := func(seed string) []string {
		return []string{"build", "--builder", "r", "--load", "-t", tag, "--metadata-file", md, "--build-arg", "SEED=" + seed, ctxDir}
	}
	mustXB(t, rig.cfg, build("old-"+uniqueNumber()), rig.host())
	old := tagNow(t, rig.sock, ref)
	_ = os.Remove(md)
	before, unpacking := snapshot(t, rig.cfg), extracting(containerdAt(t, rig.sock))
	b := startXB(t, rig.cfg, build("new-"+uniqueNumber()), rig.host())
	if phase == "export" {
		b.waitFor(t, "exporting layers")
	} else {
		rig.waitExtracting(t, b, unpacking)
	}
	killed := killPID(t, pidFromFile(t, filepath.Join(rig.dir, "exec", "containerd", "containerd.pid")))
	code, ended := b.wait(deadDaemonBound - time.Since(killed))
	if !ended {
		t.Errorf("xbuild still ran %s after the engine's containerd was killed (now killed):\n%s", deadDaemonBound, b.out)
	}
	line := errorLine(b.out.String())
	t.Logf("killed during the %s: exit %d %s", phase, code, line)
	if code != 0 && !strings.Contains(line, "containerd") {
		t.Errorf("error line %q, want it to name the containerd that died (exit %d)", line, code)
	}
	rig.waitContainerd(t)
	s.checkStore(rig.sock)
	now := s.checkTag(rig.sock, ref, old)
	if want := metadataDigest(md); code == 0 && (want == "" || now != want) {
		s.violate(invariant.ExitMeansOutput, "exit 0, but %s points at %s, the build made %q", ref, now, want)
	}
	s.checkState(rig.cfg, before)
	s.recoversWith(killed, rig.cfg, []string{"build", "--builder", "r", "--load", "-t", tag, smallContext(t)}, rig.host())
}
