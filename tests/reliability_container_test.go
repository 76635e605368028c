package tests

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"
)

// The docker-container driver: its BuildKit container killed during a RUN,
// and Ctrl-C during a RUN that runs in that container. The RUN's processes
// are on this host's kernel, so the same checks find them.
func TestReliabilityContainerDriver(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	cfg := t.TempDir()
	name := containerBuilder(t, cfg, host, "--bootstrap")
	t.Run("container-killed-run", func(t *testing.T) { containerKilled(t, cfg, host, name) })
	t.Run("sigint-run-container", func(t *testing.T) { containerInterrupted(t, cfg, host, name) })
}

func containerKilled(t *testing.T, cfg, host, name string) {
	s := newScenario(t)
	token := uniqueNumber()
	before := snapshot(t, cfg)
	b := startXB(t, cfg, []string{"build", "--builder", name, "--no-cache", sleepContext(t, token)}, onEngine(host))
	b.waitFor(t, "started-"+token)
	if _, err := engine(t, host).ContainerKill(t.Context(), "buildx_buildkit_"+name+"0", dockerclient.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s.expectDeath(b, killed, `builder "`+name+`"`)
	s.checkState(cfg, before)
	s.recoversWith(killed, cfg, []string{"build", "--builder", name, smallContext(t)}, onEngine(host))
}

func containerInterrupted(t *testing.T, cfg, host, name string) {
	s := newScenario(t)
	token := uniqueNumber()
	outDir := t.TempDir()
	before := snapshot(t, cfg)
	b := startXB(t, cfg, []string{"build", "--builder", name, "--no-cache", "-o", "type=local,dest=" + filepath.Join(outDir, "out"), sleepContext(t, token)}, onEngine(host))
	b.waitFor(t, "started-"+token)
	b.signal(t, syscall.SIGINT)
	sent := time.Now()
	s.expectInterrupted(b, sent)
	expectStepGone(t, token, sent)
	expectNoOutput(t, outDir)
	s.checkState(cfg, before)
	s.recoversWith(sent, cfg, []string{"build", "--builder", name, "-o", "type=local,dest=" + t.TempDir(), smallContext(t)}, onEngine(host))
}
