package local_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/drivertest"
	"github.com/xbuild/xbuild/driver/local"
)

// The suite runs with the buildkitd and runc that hack/env builds, found
// through PATH as the driver finds them for a user.
func TestConformance(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "hack", "tools", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "buildkitd")); err != nil {
		t.Fatalf("no buildkitd in %s (%v): run `hack/env up`, which builds it", bin, err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	conf := filepath.Join(t.TempDir(), "buildkitd.toml")
	// The host may run a containerd of its own; the daemon must not pick it
	// up as a second worker.
	if err := os.WriteFile(conf, []byte("[worker.containerd]\n  enabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	drivertest.Run(t, "local", drivertest.Opener{
		Node: func(t *testing.T) drivertest.Node {
			root := nodeRoot(t, conf)
			return drivertest.Node{
				New:     func(t *testing.T) driver.Driver { return newDriver(t, root, conf) },
				Daemons: func(*testing.T) []int { return daemonsOf(root) },
			}
		},
		Unreachable: func(t *testing.T) (driver.Driver, string) {
			root := nodeRoot(t, conf)
			return newDriver(t, root, conf), "unix://" + filepath.Join(root, "buildkitd.sock")
		},
	})
}

// nodeRoot makes a fresh root for one node, short enough for the daemon's
// socket path (unix sockets allow about 100 bytes), and registers its
// clean-up: the driver's Remove, then whatever a failed check left running.
func nodeRoot(t *testing.T, conf string) string {
	t.Helper()
	root, err := os.MkdirTemp("", "xbuild-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := newDriver(t, root, conf).Remove(ctx, driver.RemoveOptions{}); err != nil {
			t.Errorf("removing node at %s: %v", root, err)
		}
		for _, pid := range daemonsOf(root) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// The daemon may still be letting go of its files.
		for i := 0; i < 50 && len(daemonsOf(root)) > 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("removing %s: %v", root, err)
		}
	})
	return root
}

func newDriver(t *testing.T, root, conf string) driver.Driver {
	t.Helper()
	cfg := driver.Config{
		Builder: "drivertest", Node: "drivertest",
		Options: map[string]string{"root": root, "config": conf},
		Getenv:  os.Getenv,
	}
	d, err := local.Factory{}.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("local.Factory.New(root %s) = %v", root, err)
	}
	return d
}

// daemonsOf finds, in /proc, the live buildkitd processes whose state lives
// under root. It reads the process table rather than the driver's pid file,
// which is what the checks hold the driver to.
func daemonsOf(root string) []int {
	entries, _ := os.ReadDir("/proc")
	state := filepath.Join(root, "state")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(args[0]) != "buildkitd" {
			continue
		}
		if i := slices.Index(args, "--root"); i >= 0 && i+1 < len(args) && args[i+1] == state {
			pids = append(pids, pid)
		}
	}
	return pids
}
