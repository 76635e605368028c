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
	cmd := exec.Command(bin, args...)
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
// keep it, delete its state.
func (d *Driver) Remove(_ context.Context, opts driver.RemoveOptions) error {
	if err := d.stop(); err != nil {
		return err
	}
	if opts.KeepState {
		return nil
	}
	return os.RemoveAll(d.root)
}
