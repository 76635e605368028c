package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// The reliability suite (TestReliability*): each scenario breaks something
// while xbuild works — a daemon killed, Ctrl-C, damaged state, secrets in
// play — then checks the invariants of tests/internal/invariant. `make
// test` runs each scenario once; hack/reliability.sh repeats them with
// -count and reads the line each run appends to the file named by
// $XBUILD_RELIABILITY_OUT (no file, no record; the checks run the same).

// Bounds the commands must keep, which are correctness limits rather than
// speed goals: a command whose daemon died must say so and end, and Ctrl-C
// must end a build and its steps.
const (
	deadDaemonBound = 30 * time.Second
	interruptBound  = 10 * time.Second
)

// scenario is one run of a scenario: it reports each violation as a test
// error and, when the run ends, records it.
type scenario struct {
	t          *testing.T
	violations []invariant.Violation
	// recovery is the time from the fault to the end of the first command
	// that worked after it; negative until one did.
	recovery time.Duration
}

// newScenario starts a run named after the (sub)test.
func newScenario(t *testing.T) *scenario {
	s := &scenario{t: t, recovery: -1}
	// Registered first, so it runs last: it sees every failure of the
	// run, the other clean-ups' included.
	t.Cleanup(s.record)
	return s
}

// check reports violations of the invariants.
func (s *scenario) check(vs ...invariant.Violation) {
	s.t.Helper()
	for _, v := range vs {
		s.violations = append(s.violations, v)
		s.t.Errorf("%s", v)
	}
}

// violate reports one violation of inv.
func (s *scenario) violate(inv, format string, args ...any) {
	s.t.Helper()
	s.check(invariant.Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
}

// recovered notes that a command worked again after the fault at fault;
// the first one counts.
func (s *scenario) recovered(fault time.Time) {
	if s.recovery < 0 {
		s.recovery = time.Since(fault)
	}
}

// resultsMu keeps the lines of parallel runs whole.
var resultsMu sync.Mutex

// resultLine is one record of the results file; hack/reliability.sh
// reads these names.
type resultLine struct {
	Scenario        string   `json:"scenario"`
	Failed          bool     `json:"failed"`
	Violations      []string `json:"violations"`
	RecoverySeconds *float64 `json:"recovery_seconds"`
}

func (s *scenario) record() {
	out := os.Getenv("XBUILD_RELIABILITY_OUT")
	if out == "" {
		return
	}
	// Rounds of one scenario are subtests of one name, which go test
	// numbers (concurrent-loads#01): one scenario in the table.
	name, _, _ := strings.Cut(path.Base(s.t.Name()), "#")
	line := resultLine{Scenario: name, Failed: s.t.Failed(), Violations: []string{}}
	for _, v := range s.violations {
		line.Violations = append(line.Violations, v.String())
	}
	if s.recovery >= 0 {
		secs := s.recovery.Seconds()
		line.RecoverySeconds = &secs
	}
	data, err := json.Marshal(line)
	if err != nil {
		s.t.Error(err)
		return
	}
	resultsMu.Lock()
	defer resultsMu.Unlock()
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Errorf("recording the run: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		s.t.Errorf("recording the run: %v", err)
	}
}

// bg is an xbuild command running in the background, its output read as
// it comes.
type bg struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	// code is the exit code, known once done is closed.
	code int
}

// startXB starts xbuild as xb runs it (the test's config folder, plain
// progress, no builder from the environment); the test's end kills it if
// it still runs.
func startXB(t *testing.T, cfg string, args []string, opts ...runOpt) *bg {
	t.Helper()
	cmd := exec.Command(xbuildBin, args...)
	cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg, "DOCKER_CONFIG="+filepath.Join(cfg, "docker"),
		"BUILDKIT_PROGRESS=plain", "XBUILD_BUILDER=", "BUILDX_BUILDER=")
	for _, o := range opts {
		o(cmd)
	}
	b := &bg{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		b.code = cmd.ProcessState.ExitCode()
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-b.done
	})
	return b
}

// waitFor waits until the output shows text; the test fails when the
// command ends first or never gets there.
func (b *bg) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(b.out.String(), text) {
		select {
		case <-b.done:
			t.Fatalf("xbuild ended (exit %d) before %q:\n%s", b.code, text, b.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("xbuild never got to %q:\n%s", text, b.out)
		}
	}
}

// wait waits at most within for the command to end; false when it did
// not, and then it is killed.
func (b *bg) wait(within time.Duration) (code int, ended bool) {
	select {
	case <-b.done:
		return b.code, true
	case <-time.After(within):
		_ = b.cmd.Process.Kill()
		<-b.done
		return b.code, false
	}
}

func (b *bg) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling xbuild: %v", err)
	}
}

// uniqueNumber is a number no other run uses, for sleep steps found by
// their argument in /proc and for build args that defeat the cache.
func uniqueNumber() string {
	return strconv.FormatInt(600000000+time.Now().UnixNano()%100000000, 10)
}

// killPID kills a daemon this test started and waits until the kernel
// has let it go: a daemon's pid file stops it from starting again while
// the old pid exists, even as a zombie waiting for init to reap it.
func killPID(t *testing.T, pid int) time.Time {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing pid %d: %v", pid, err)
	}
	killed := time.Now()
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(proc); err != nil {
			return killed
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still there a minute after SIGKILL", pid)
		}
	}
}

func pidFromFile(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %s: %v", file, err)
	}
	return pid
}

// killLeftovers ends what a killed daemon left of a RUN step: BuildKit's
// runc containers outlive a SIGKILL of their daemon.
func killLeftovers(token string) {
	for _, pid := range invariant.Running(token) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// containerdAt opens a containerd socket in namespace moby, where an
// engine with the containerd store keeps its images.
func containerdAt(t *testing.T, sock string) *client.Client {
	t.Helper()
	c, err := client.New(strings.TrimPrefix(sock, "unix://"), client.WithDefaultNamespace("moby"), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("opening containerd at %s: %v", sock, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tagNow is what name points at in the containerd at sock, empty when
// nothing: the "old" image of I2.
func tagNow(t *testing.T, sock, name string) digest.Digest {
	t.Helper()
	c := containerdAt(t, sock)
	img, err := c.ImageService().Get(context.Background(), name)
	if err != nil {
		return ""
	}
	return img.Target.Digest
}

// checkTag checks I2 for name in the containerd at sock and returns what
// it points at.
func (s *scenario) checkTag(sock, name string, old digest.Digest) digest.Digest {
	s.t.Helper()
	c := containerdAt(s.t, sock)
	now, vs := invariant.Tag(context.Background(), c.ImageService(), c.ContentStore(), name, old)
	s.check(vs...)
	return now
}

// checkImage checks I1 for one image, by name, of a containerd other
// tests use too.
func (s *scenario) checkImage(sock, name string) {
	s.t.Helper()
	c := containerdAt(s.t, sock)
	img, err := c.ImageService().Get(context.Background(), name)
	if err != nil {
		return // gone: I2's to judge
	}
	s.check(invariant.Complete(context.Background(), c.ContentStore(), name, img.Target)...)
}

// checkStore checks I1 for every image of a containerd only this test
// uses.
func (s *scenario) checkStore(sock string) {
	s.t.Helper()
	c := containerdAt(s.t, sock)
	s.check(invariant.Store(context.Background(), c.ImageService(), c.ContentStore())...)
}

// checkState checks I3 on a config folder against what it held before.
func (s *scenario) checkState(cfg string, before invariant.State, damaged ...string) {
	s.t.Helper()
	s.check(invariant.CheckState(cfg, before, damaged...)...)
}

func snapshot(t *testing.T, dir string) invariant.State {
	t.Helper()
	st, err := invariant.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// metadataDigest reads containerimage.digest from a metadata file; empty
// when there is none.
func metadataDigest(file string) digest.Digest {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var md struct {
		Digest digest.Digest `json:"containerimage.digest"`
	}
	_ = json.Unmarshal(data, &md)
	return md.Digest
}
