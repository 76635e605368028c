package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/moby/api/types/container"
	dockerclient "github.com/moby/moby/client"
)

// The source is a classic engine of the test's own: the migration moves
// (and prunes) everything its engine holds.
func TestMigrateBetweenEngines(t *testing.T) {
	t.Parallel()
	classic, ctd := newPrivateEngine(t, "classic").Host, env.DockerContainerd
	src, dst := engine(t, classic), engine(t, ctd)
	suffix := fmt.Sprint(time.Now().UnixNano())
	// Two images sharing the base layers, one with two tags, with config
	// that must survive: CMD, ENV, USER, HEALTHCHECK.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + `
ARG V
ENV GREETING=hello-$V
RUN echo 'app:x:1234:1234::/tmp:/bin/sh' >> /etc/passwd && echo $V > /v
USER app
HEALTHCHECK --interval=30s CMD true
CMD ["sh", "-c", "echo $GREETING; cat /v"]
`})
	names := map[string]string{}
	for _, v := range []string{"one", "two"} {
		tag := uniqueTag(t, "mig-"+v)
		names[v] = tag
		mustXB(t, t.TempDir(), []string{"build", "--platform", "linux/amd64", "--load", "-t", tag, "-t", tag + "-alias",
			"--build-arg", "V=" + v, dir}, withDockerHost(classic))
		t.Cleanup(func() {
			for _, c := range []*dockerclient.Client{src, dst} {
				_, _ = c.ImageRemove(t.Context(), tag+"-alias", dockerclient.ImageRemoveOptions{Force: true})
			}
		})
	}
	// Two containers with changes on disk, one running, one stopped.
	var containers []string
	for i, cmdline := range []string{"echo changed-running > /tmp/state && sleep 600", "echo changed-stopped > /tmp/state"} {
		name := fmt.Sprintf("mig-%d-%s", i, suffix)
		p := platforms.MustParse("linux/amd64")
		c, err := src.ContainerCreate(t.Context(), dockerclient.ContainerCreateOptions{Name: name, Platform: &p,
			Config: &container.Config{Image: names["one"], Cmd: []string{"sh", "-c", cmdline}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.ContainerStart(t.Context(), c.ID, dockerclient.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
		containers = append(containers, name)
		t.Cleanup(func() {
			_, _ = src.ContainerRemove(t.Context(), name, dockerclient.ContainerRemoveOptions{Force: true})
			_, _ = dst.ImageRemove(t.Context(), "xbuild-migrated/"+name+":latest", dockerclient.ImageRemoveOptions{Force: true})
		})
	}
	time.Sleep(2 * time.Second) // let both write their file; the second exits

	bundle := filepath.Join(t.TempDir(), "bundle")
	cfg := t.TempDir()
	dry := mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--containers", "--bundle", bundle, "--dry-run"})
	if !strings.Contains(dry.Stdout, names["one"]) || !strings.Contains(dry.Stdout, "about ") {
		t.Errorf("dry run plan:\n%s", dry.Stdout)
	}
	if _, err := os.Stat(bundle); err == nil {
		t.Errorf("--dry-run wrote the bundle")
	}
	r := mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--containers", "--bundle", bundle, "--prune-source", "--yes"})
	if !strings.Contains(r.Stderr, "volumes and networks are not touched") || !strings.Contains(r.Stderr, "is running") {
		t.Errorf("migrate did not say what it leaves alone, or warn about the running container:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, "0 failed") {
		t.Errorf("report:\n%s", r.Stdout)
	}
	for v, tag := range names {
		for _, n := range []string{tag, tag + "-alias"} {
			img, err := dst.ImageInspect(t.Context(), n)
			if err != nil {
				t.Errorf("%s missing on the containerd engine: %v", n, err)
				continue
			}
			if img.Config.User != "app" || img.Config.Healthcheck == nil || !strings.Contains(strings.Join(img.Config.Env, " "), "GREETING=hello-"+v) {
				t.Errorf("%s config after the move: %+v", n, img.Config)
			}
		}
		if got := runImage(t, dst, tag, "linux/amd64"); !strings.Contains(got, "hello-"+v) {
			t.Errorf("running %s after the move printed %q", tag, got)
		}
		if _, err := src.ImageInspect(t.Context(), tag); err == nil {
			t.Errorf("%s is still on the classic engine after --prune-source", tag)
		}
	}
	for i, want := range []string{"changed-running", "changed-stopped"} {
		img := "xbuild-migrated/" + containers[i] + ":latest"
		p := platforms.MustParse("linux/amd64")
		c, err := dst.ContainerCreate(t.Context(), dockerclient.ContainerCreateOptions{Platform: &p,
			Config: &container.Config{Image: img, Cmd: []string{"cat", "/tmp/state"}, Tty: true}})
		if err != nil {
			t.Errorf("container %s's image on the target: %v", containers[i], err)
			continue
		}
		_, _ = dst.ContainerStart(t.Context(), c.ID, dockerclient.ContainerStartOptions{})
		res := dst.ContainerWait(t.Context(), c.ID, dockerclient.ContainerWaitOptions{})
		<-res.Result
		logs, _ := dst.ContainerLogs(t.Context(), c.ID, dockerclient.ContainerLogsOptions{ShowStdout: true})
		buf := make([]byte, 256)
		n, _ := logs.Read(buf)
		logs.Close()
		_, _ = dst.ContainerRemove(t.Context(), c.ID, dockerclient.ContainerRemoveOptions{Force: true})
		if !strings.Contains(string(buf[:n]), want) {
			t.Errorf("container %s's committed image lacks its change: %q", containers[i], buf[:n])
		}
	}
	// Running it again finds everything in place and moves nothing twice.
	r = mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", "import"})
	if !strings.Contains(r.Stdout, "0 moved") || !strings.Contains(r.Stdout, "0 failed") {
		t.Errorf("second import:\n%s", r.Stdout)
	}
}

// A bundle with a damaged layer blob is refused by the import's checks,
// with a clear error, and nothing is pruned. The source is an engine of the
// test's own: the export takes every image it holds.
func TestMigrateCorruptBundle(t *testing.T) {
	t.Parallel()
	classic, ctd := newPrivateEngine(t, "classic").Host, env.DockerContainerd
	tag := uniqueTag(t, "corrupt")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN head -c 3000000 /dev/urandom > /blob\n"})
	mustXB(t, t.TempDir(), []string{"build", "--platform", "linux/amd64", "--load", "-t", tag, dir}, withDockerHost(classic))
	cfg := t.TempDir()
	bundle := filepath.Join(t.TempDir(), "bundle")
	mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", "export"})
	corruptLargestEntry(t, filepath.Join(bundle, "images.tar"))
	r := xb(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", "import", "--prune-source", "--yes"})
	if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was pruned") {
		t.Errorf("import of a corrupt bundle: %s", r)
	}
	if _, err := engine(t, classic).ImageInspect(t.Context(), tag); err != nil {
		t.Errorf("the source lost %s after a refused import: %v", tag, err)
	}
}

// corruptLargestEntry flips bytes in the middle of the archive's largest
// file, keeping the archive itself readable.
func corruptLargestEntry(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var best, bestOff int64
	off := int64(0)
	hdr := make([]byte, 512)
	for {
		if _, err := f.ReadAt(hdr, off); err != nil || hdr[0] == 0 {
			break
		}
		var size int64
		fmt.Sscanf(strings.TrimRight(string(hdr[124:136]), "\x00 "), "%o", &size)
		if size > best {
			best, bestOff = size, off+512
		}
		off += 512 + (size+511)/512*512
	}
	if best == 0 {
		t.Fatal("no file in the bundle archive")
	}
	if _, err := f.WriteAt([]byte("xbuild-corrupted-this-blob"), bestOff+best/2); err != nil {
		t.Fatal(err)
	}
}

// In place: a classic engine of the test's own is switched to the
// containerd store and back (daemon.json and a restart through hack/env),
// its images moving each way.
func TestMigrateInPlace(t *testing.T) {
	t.Parallel()
	e := newPrivateEngine(t, "classic")
	classic, daemonJSON, restart := e.Host, e.DaemonJSON, e.Restart
	tag := uniqueTag(t, "inplace")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nENV WHERE=moved\nCMD [\"sh\", \"-c\", \"echo $WHERE\"]\n"})
	mustXB(t, t.TempDir(), []string{"build", "--platform", "linux/amd64", "--load", "-t", tag, dir}, withDockerHost(classic))
	cfg := t.TempDir()
	for _, to := range []string{"containerd", "classic"} {
		bundle := filepath.Join(t.TempDir(), "bundle-"+to)
		r := mustXB(t, cfg, []string{"store", "migrate", "--to", to, "--bundle", bundle,
			"--daemon-json", daemonJSON, "--restart-cmd", restart, "--prune-source", "--yes"}, withDockerHost(classic))
		if !strings.Contains(r.Stdout, "0 failed") {
			t.Fatalf("migrate --to %s:\n%s", to, r)
		}
		api := engine(t, classic)
		st := mustXB(t, cfg, []string{"store", "status", "--engine", classic})
		if !strings.Contains(squeeze(st.Stdout), to+" active") {
			t.Errorf("after migrate --to %s, status:\n%s", to, st.Stdout)
		}
		// --prune-source freed the store left behind.
		var old string
		if to == "containerd" {
			old = "classic inactive 0 0"
		} else {
			old = "containerd inactive 0 0"
		}
		if !strings.Contains(squeeze(st.Stdout), old) {
			t.Errorf("after migrate --to %s --prune-source, the old store still holds something:\n%s", to, st.Stdout)
		}
		if got := runImage(t, api, tag, "linux/amd64"); !strings.Contains(got, "moved") {
			t.Errorf("after migrate --to %s, %s printed %q", to, tag, got)
		}
	}
}

// Killed in the middle of export, then of import, a rerun finishes with
// every item there once. The source is an engine of the test's own: the
// export takes every image it holds.
func TestMigrateSurvivesKill(t *testing.T) {
	t.Parallel()
	classic, ctd := newPrivateEngine(t, "classic").Host, env.DockerContainerd
	tag := uniqueTag(t, "killed")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN head -c 200000000 /dev/urandom > /big\nCMD [\"true\"]\n"})
	mustXB(t, t.TempDir(), []string{"build", "--platform", "linux/amd64", "--load", "-t", tag, dir}, withDockerHost(classic))
	cfg := t.TempDir()
	bundle := filepath.Join(t.TempDir(), "bundle")
	killDuring := func(step string, wait func() bool) {
		t.Helper()
		cmd := exec.Command(xbuildBin, "store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", step)
		cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for !wait() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	// Export: killed while the archive is being written.
	killDuring("export", func() bool {
		st, err := os.Stat(filepath.Join(bundle, "images.tar.partial"))
		return err == nil && st.Size() > 10<<20
	})
	if _, err := os.Stat(filepath.Join(bundle, "manifest.json")); err == nil {
		t.Errorf("a killed export left a manifest: the bundle would look complete")
	}
	mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", "export"})
	// Import: killed while the engine reads the archive.
	start := time.Now()
	killDuring("import", func() bool { return time.Since(start) > 700*time.Millisecond })
	r := mustXB(t, cfg, []string{"store", "migrate", "--from", classic, "--to", ctd, "--bundle", bundle, "--step", "import"})
	if !strings.Contains(r.Stdout, "0 failed") || strings.Count(r.Stdout, tag+" ") != 1 {
		t.Errorf("import after a killed import:\n%s", r.Stdout)
	}
	api := engine(t, ctd)
	imgs, err := api.ImageList(t.Context(), dockerclient.ImageListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, img := range imgs.Items {
		for _, rt := range img.RepoTags {
			if rt == tag || rt == "docker.io/"+tag {
				count++
			}
		}
	}
	if count != 1 {
		t.Errorf("%s is named %d times on the target, want once", tag, count)
	}
	if got := runImage(t, api, tag, "linux/amd64"); strings.Contains(got, "Error") {
		t.Errorf("running the moved image: %q", got)
	}
}

// The export refuses to start when the bundle's disk is too small.
func TestMigrateRefusesWithoutSpace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	ctd := env.DockerContainerd
	tag := uniqueTag(t, "nospace")
	mustXB(t, t.TempDir(), []string{"build", "--load", "-t", tag, "--build-arg", baseArg(), helloContext(t)}, withDockerHost(ctd))
	bundle := filepath.Join(dir, "bundle")
	for _, extra := range [][]string{{"--dry-run"}, nil} {
		r := xb(t, t.TempDir(), append([]string{"store", "migrate", "--from", ctd, "--to", env.DockerClassic,
			"--bundle", bundle, "--step", "export"}, extra...))
		if r.Code != 1 || !strings.Contains(r.Stderr, "not enough free disk space for the bundle") {
			t.Errorf("export %v onto a 64k disk: %s", extra, r)
		}
	}
	if _, err := os.Stat(bundle); err == nil {
		t.Errorf("a refused export wrote %s", bundle)
	}
}
