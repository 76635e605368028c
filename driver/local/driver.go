package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/remote"
)

// Name is the --driver value of this driver.
const Name = "local"

// options are the --driver-opt keys this driver takes.
var options = []string{"buildkitd", "root", "config"}

// Factory makes local drivers.
type Factory struct{}

var _ driver.Factory = Factory{}

// Name implements driver.Factory.
func (Factory) Name() string { return Name }

// New implements driver.Factory. The daemon's files live under the option
// root, by default $XBUILD_CONFIG/local/<builder>; the binary is the option
// buildkitd, else buildkitd from PATH when the daemon is started.
func (Factory) New(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	for k := range cfg.Options {
		if !slices.Contains(options, k) {
			return nil, fmt.Errorf("local driver: unknown option %q (known: %s)", k, strings.Join(options, ", "))
		}
	}
	if cfg.Endpoint != "" {
		return nil, fmt.Errorf("local driver takes no endpoint (it runs its own buildkitd): drop %q", cfg.Endpoint)
	}
	bin := cfg.Options["buildkitd"]
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("local driver: buildkitd %s: %w", bin, err)
		}
	}
	root := cfg.Options["root"]
	if root == "" {
		root = filepath.Join(configDir(cfg.Getenv), "local", cfg.Builder)
	}
	addr := "unix://" + filepath.Join(root, "buildkitd.sock")
	rcfg := cfg
	rcfg.Endpoint, rcfg.Options = addr, nil
	rd, err := remote.Factory{}.New(ctx, rcfg)
	if err != nil {
		return nil, err
	}
	return &Driver{Driver: rd, bin: bin, root: root, addr: addr, config: cfg.Options["config"]}, nil
}

// configDir is the builder state folder, by the rule of commands'
// Env.ConfigDir (buildx's folder; a driver cannot import the commands or
// the store above it): $XBUILD_CONFIG, else $BUILDX_CONFIG, else buildx/
// in $DOCKER_CONFIG or ~/.docker.
func configDir(getenv func(string) string) string {
	for _, k := range []string{"XBUILD_CONFIG", "BUILDX_CONFIG"} {
		if d := getenv(k); d != "" {
			return d
		}
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx")
	}
	return filepath.Join(getenv("HOME"), ".docker", "buildx")
}

// Driver runs a buildkitd and talks to it like a remote one.
type Driver struct {
	driver.Driver // the remote driver at the daemon's socket
	bin, root     string
	addr, config  string
}

var _ driver.Driver = (*Driver)(nil)

func (d *Driver) pidFile() string { return filepath.Join(d.root, "buildkitd.pid") }

// Bootstrap implements driver.Driver: start the daemon unless it answers.
func (d *Driver) Bootstrap(ctx context.Context) error {
	if d.answers(ctx, 2*time.Second) {
		return nil
	}
	bin := d.bin
	if bin == "" {
		// Looked up only to start it: listing or removing the builder
		// needs no binary.
		var err error
		if bin, err = exec.LookPath("buildkitd"); err != nil {
			return errors.New("local driver: no buildkitd in PATH: install one or give --driver-opt buildkitd=PATH")
		}
	}
	if err := os.MkdirAll(filepath.Join(d.root, "state"), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", d.root, err)
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// Another command may have started the daemon while this one waited.
	if d.answers(ctx, 2*time.Second) {
		return nil
	}
	return d.start(ctx, bin)
}

// start runs the daemon and waits until it answers. The caller holds the
// node's lock: a second daemon on the same root would remove the first
// one's socket and then fail on its state lock.
func (d *Driver) start(ctx context.Context, bin string) error {
	_ = os.Remove(strings.TrimPrefix(d.addr, "unix://"))
	logPath := filepath.Join(d.root, "buildkitd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"--root", filepath.Join(d.root, "state"), "--addr", d.addr}
	if d.config != "" {
		args = append(args, "--config", d.config)
	}
	// Temporary mounts (of snapshots, during exports) go under the root,
	// where Remove finds those a killed daemon leaves.
	tmp := filepath.Join(d.root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: the daemon outlives this command and a ^C on
	// it, like a builder container does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	if err := os.WriteFile(d.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("buildkitd exited at start (%v): see %s", err, logPath)
		case <-ctx.Done():
			_ = d.stop()
			return context.Cause(ctx)
		case <-time.After(300 * time.Millisecond):
		}
		if d.answers(ctx, 2*time.Second) {
			return nil
		}
	}
	_ = d.stop()
	return fmt.Errorf("buildkitd did not answer within 60s: see %s", logPath)
}

// lock takes the node's start lock, an flock on a file in its root, held
// across processes. It polls rather than blocks so that a cancelled ctx
// ends the wait.
func (d *Driver) lock(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(d.root, "bootstrap.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock.
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Driver) answers(ctx context.Context, timeout time.Duration) bool {
	c, err := d.Driver.Client(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = c.Info(ctx)
	return err == nil
}

// stop ends the daemon: TERM, then KILL after 20s.
func (d *Driver) stop() error {
	data, err := os.ReadFile(d.pidFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("reading %s: %w", d.pidFile(), err)
	}
	p, _ := os.FindProcess(pid)
	if p.Signal(syscall.Signal(0)) == nil && isBuildkitd(pid) {
		_ = p.Signal(syscall.SIGTERM)
		for i := 0; i < 100 && p.Signal(syscall.Signal(0)) == nil; i++ {
			time.Sleep(200 * time.Millisecond)
		}
		_ = p.Signal(syscall.SIGKILL)
	}
	return os.Remove(d.pidFile())
}

// isBuildkitd checks a recorded pid still is our daemon, not a reused pid.
func isBuildkitd(pid int) bool {
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	return err == nil && strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "buildkitd")
}

// Remove implements driver.Driver: stop the daemon and, unless asked to
// keep it, delete its state. A daemon killed during a step leaves the
// step's container running and its mounts under the root (the container's
// root file system, temporary mounts of an export): both are ended here,
// since nothing else will and the folder cannot go while they stay.
func (d *Driver) Remove(_ context.Context, opts driver.RemoveOptions) error {
	if err := d.stop(); err != nil {
		return err
	}
	root, err := filepath.Abs(d.root)
	if err != nil {
		return err
	}
	killUnder(root)
	if err := unmountUnder(root); err != nil {
		return err
	}
	if opts.KeepState {
		return nil
	}
	return os.RemoveAll(root)
}

// killUnder kills the processes that run on a file system under root, and
// waits a little for them to end, so that none writes into the folder
// while it is removed. In our mount namespace, those whose working folder
// or root is under root; in another one (a step's container), those whose
// root mount is made of root's files.
func killUnder(root string) {
	self, _ := os.Readlink("/proc/self/ns/mnt")
	entries, _ := os.ReadDir("/proc")
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if runsUnder(pid, root, self) && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(killed, alive) {
			return
		}
	}
}

func runsUnder(pid int, root, selfNS string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	under := func(p string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	ns, err := os.Readlink(filepath.Join(dir, "ns", "mnt"))
	if err != nil {
		return false // gone, or not ours to look at
	}
	if ns == selfNS {
		cwd, _ := os.Readlink(filepath.Join(dir, "cwd"))
		fsRoot, _ := os.Readlink(filepath.Join(dir, "root"))
		return under(cwd) || under(fsRoot)
	}
	// Only the root mount counts: a namespace that receives our mounts by
	// propagation lists the leftovers under root too, yet is not ours.
	data, _ := os.ReadFile(filepath.Join(dir, "mountinfo"))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			return strings.Contains(line, root+"/")
		}
	}
	return false
}

// alive: pid exists and is not a zombie (one whose parent died keeps
// answering signals until init reaps it).
func alive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// unmountUnder detaches every mount at or below root, deepest first, so
// that removing the folder does not fail on a busy mount point.
func unmountUnder(root string) error {
	// Several mounts can stack on one point: each pass takes one layer.
	for pass := 0; pass < 10; pass++ {
		points, err := mountsUnder(root)
		if err != nil || len(points) == 0 {
			return err
		}
		var errs []error
		for _, p := range slices.Backward(points) {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	return fmt.Errorf("unmounting under %s: mounts remain after 10 passes", root)
}

// mountsUnder lists the mount points at or below root, sorted.
func mountsUnder(root string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("listing mounts under %s: %w", root, err)
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == root || strings.HasPrefix(p, root+"/") {
			points = append(points, p)
		}
	}
	slices.Sort(points)
	return points, nil
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
