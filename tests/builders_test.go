package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ls --format, rm of several builders and of the inactive ones, --keep-daemon,
// use --global: buildx's builder command lines, run unchanged.
func TestBuilderCommandOptions(t *testing.T) {
	t.Parallel()
	host := env.DockerContainerd
	h := onEngine(host)
	cfg := t.TempDir()
	bk := env.BuildKit
	mustXB(t, cfg, []string{"create", "--name", "ra", "--driver", "remote", bk}, h)
	mustXB(t, cfg, []string{"create", "--name", "rb", "--driver", "remote", bk}, h)
	mustXB(t, cfg, []string{"use", "--global", "ra"}, h)
	idle := containerBuilder(t, cfg, host) // never booted: inactive

	r := mustXB(t, cfg, []string{"ls", "--format", "json"}, h)
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var b struct {
			Name, Driver string
			Current      bool
			Nodes        []struct{ Name, Endpoint, Status string }
		}
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("ls --format json line %q: %v", line, err)
		}
		seen[b.Name] = true
		if b.Name == "ra" && (!b.Current || len(b.Nodes) != 1 || b.Nodes[0].Status != "running" || b.Nodes[0].Endpoint != bk) {
			t.Errorf("ls --format json: ra = %+v", b)
		}
		if b.Name == idle && (b.Driver != "docker-container" || len(b.Nodes) != 1 || b.Nodes[0].Status != "inactive") {
			t.Errorf("ls --format json: %s = %+v", idle, b)
		}
	}
	if !seen["ra"] || !seen["rb"] || !seen[idle] || !seen["default"] {
		t.Errorf("ls --format json listed %v", seen)
	}
	r = mustXB(t, cfg, []string{"ls", "--format", "{{.Name}}: {{.DriverEndpoint}}"}, h)
	if !strings.Contains(r.Stdout, "ra*: remote\nra0: "+bk+"\n") {
		t.Errorf("ls --format template:\n%s", r.Stdout)
	}

	// --all-inactive asks first; "n" keeps everything.
	mustXB(t, cfg, []string{"rm", "--all-inactive"}, h, withStdin("n\n"))
	if r := mustXB(t, cfg, []string{"ls"}, h); !strings.Contains(r.Stdout, idle) {
		t.Fatalf("rm --all-inactive answered n removed %s:\n%s", idle, r.Stdout)
	}
	r = mustXB(t, cfg, []string{"rm", "--all-inactive", "--force"}, h)
	if !strings.Contains(r.Stderr, idle+" removed") || strings.Contains(r.Stderr, "ra removed") {
		t.Errorf("rm --all-inactive --force:\n%s", r.Stderr)
	}
	r = mustXB(t, cfg, []string{"rm", "ra", "rb"}, h)
	if !strings.Contains(r.Stderr, "ra removed") || !strings.Contains(r.Stderr, "rb removed") {
		t.Errorf("rm ra rb:\n%s", r.Stderr)
	}
	if r := xb(t, cfg, []string{"rm", "ra", "default"}, h); r.Code != 1 || !strings.Contains(r.Stderr, "failed to remove ra") || !strings.Contains(r.Stderr, "failed to remove default") {
		t.Errorf("rm of a gone builder and of the context builder: %s", r)
	}

	// --keep-daemon forgets the builder and leaves its container running.
	kept := containerBuilder(t, cfg, host, "--bootstrap")
	mustXB(t, cfg, []string{"rm", "--keep-daemon", kept}, h)
	if _, ok := inspectContainer(t, host, kept+"0"); !ok {
		t.Errorf("rm --keep-daemon removed the container")
	}
	if r := mustXB(t, cfg, []string{"ls"}, h); strings.Contains(r.Stdout, kept) {
		t.Errorf("rm --keep-daemon kept the builder:\n%s", r.Stdout)
	}
}

// A stop of a builder whose daemon is not its own changes nothing; a
// command group given an unknown command fails instead of printing help.
func TestStopAndUnknownCommands(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	name := fmt.Sprintf("rs%d", time.Now().UnixNano())
	mustXB(t, cfg, []string{"create", "--name", name, "--driver", "remote", env.BuildKit})
	mustXB(t, cfg, []string{"stop", name})
	if r := mustXB(t, cfg, []string{"ls"}); !strings.Contains(r.Stdout, "running") {
		t.Errorf("stop of a remote builder changed its state:\n%s", r.Stdout)
	}
	for _, args := range [][]string{{"imagetools", "foo"}, {"store", "foo"}, {"nosuch"}} {
		if r := xb(t, cfg, args); r.Code != 1 || !strings.Contains(r.Stderr, `unknown command "`+args[len(args)-1]+`"`) {
			t.Errorf("xbuild %v: %s", args, r)
		}
	}
}
