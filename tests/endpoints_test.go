package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTo builds the hello context on the current builder into a folder
// and checks what it wrote.
func buildTo(t *testing.T, cfg string, opts ...runOpt) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "-o", out, "--build-arg", baseArg(), helloContext(t)}, opts...)
	if got, _ := os.ReadFile(filepath.Join(out, "built-for")); !strings.Contains(string(got), "linux/arm64") {
		t.Errorf("the build wrote built-for = %q", got)
	}
}

// A remote builder at docker-container://CONTAINER reaches BuildKit in a
// container through `docker exec` (BuildKit's helper runs the docker CLI,
// which finds the engine by DOCKER_HOST): here the container of a
// docker-container builder.
func TestRemoteDockerContainer(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is needed for docker-container:// addresses: %v", err)
	}
	cfg := t.TempDir()
	onCtd := onEngine(env.DockerContainerd)
	name := containerBuilder(t, cfg, env.DockerContainerd, "--bootstrap")
	addr := "docker-container://buildx_buildkit_" + name + "0"
	mustXB(t, cfg, []string{"create", "--name", "viaexec", "--driver", "remote", "--bootstrap", "--use", addr}, onCtd)
	if r := mustXB(t, cfg, []string{"inspect"}, onCtd); !strings.Contains(squeeze(r.Stdout), "Status: running") || !strings.Contains(r.Stdout, addr) {
		t.Errorf("inspect of the remote builder at %s:\n%s", addr, r.Stdout)
	}
	buildTo(t, cfg, onCtd)

	r := xb(t, cfg, []string{"create", "--name", "gone", "--driver", "remote", "--bootstrap", "docker-container://no-such-container-here"}, onCtd)
	if r.Code != 1 || !strings.Contains(r.Stderr, "no-such-container-here") {
		t.Errorf("create at a container that does not exist: %s", r)
	}
}

// sshServer is an OpenSSH server on loopback that lets one key in, and an
// ssh client set up for it.
type sshServer struct {
	port int
	// bin holds an ssh that uses the client configuration: ssh reads its
	// files from the account's home, whatever $HOME says.
	bin string
}

// startSSH starts sshd on a free loopback port; its sessions have the env's
// buildctl first in PATH, which BuildKit's ssh helper runs.
func startSSH(t *testing.T) sshServer {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			t.Fatalf("sshd is needed (Debian's openssh-server, which hack/env up installs): %v", err)
		}
	}
	dir := t.TempDir()
	for _, key := range []string{"host_key", "id"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	port := freeLoopbackPort(t)
	pathDir := filepath.Join(dir, "path")
	mustMkdirAll(t, pathDir)
	if err := os.Symlink(filepath.Join(repoRoot, "hack", "tools", "bin", "buildctl"), filepath.Join(pathDir, "buildctl")); err != nil {
		t.Fatal(err)
	}
	hostPub := mustReadFile(t, filepath.Join(dir, "host_key.pub"))
	mustWriteFile(t, filepath.Join(dir, "authorized_keys"), mustReadFile(t, filepath.Join(dir, "id.pub")))
	mustWriteFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub))
	mustWriteFile(t, filepath.Join(dir, "sshd_config"), strings.Join([]string{
		"ListenAddress 127.0.0.1", "HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"), "PubkeyAuthentication yes",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
		"UsePAM no", "StrictModes no", "PidFile none",
		"SetEnv PATH=" + pathDir + ":/usr/local/bin:/usr/bin:/bin", ""}, "\n"))
	mustWriteFile(t, filepath.Join(dir, "ssh_config"), strings.Join([]string{
		"Host 127.0.0.1", "  IdentityFile " + filepath.Join(dir, "id"), "  IdentitiesOnly yes",
		"  UserKnownHostsFile " + filepath.Join(dir, "known_hosts"), "  StrictHostKeyChecking yes",
		"  BatchMode yes", "  LogLevel ERROR", ""}, "\n"))
	bin := filepath.Join(dir, "bin")
	mustMkdirAll(t, bin)
	mustWriteFile(t, filepath.Join(bin, "ssh"), "#!/bin/sh\nexec /usr/bin/ssh -F "+filepath.Join(dir, "ssh_config")+` "$@"`+"\n")
	if err := os.Chmod(filepath.Join(bin, "ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation folder.
	mustMkdirAll(t, "/run/sshd")
	log := &syncBuffer{}
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"), "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd's log:\n%s", log.String())
		}
	})
	waitForListener(t, port, log)
	return sshServer{port: port, bin: bin}
}

// A remote builder at ssh://USER@HOST:PORT/SOCKET runs `buildctl --addr
// unix://SOCKET dial-stdio` on the host over ssh: here the env's buildkitd,
// through an sshd on loopback.
func TestRemoteSSH(t *testing.T) {
	t.Parallel()
	srv := startSSH(t)
	cfg := t.TempDir()
	socket := strings.TrimPrefix(env.BuildKit, "unix://")
	addr := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", srv.port, socket)
	withSSH := withEnv("PATH=" + srv.bin + ":" + os.Getenv("PATH"))
	mustXB(t, cfg, []string{"create", "--name", "viassh", "--driver", "remote", "--bootstrap", "--use", addr}, withSSH)
	buildTo(t, cfg, withSSH)

	r := xb(t, cfg, []string{"create", "--name", "stranger", "--driver", "remote", "--bootstrap", "--timeout", "30s",
		fmt.Sprintf("ssh://nobody-here@127.0.0.1:%d%s", srv.port, socket)}, withSSH)
	if r.Code != 1 || !strings.Contains(r.Stderr, "ssh://nobody-here@127.0.0.1") {
		t.Errorf("create over ssh as a user the server refuses: %s", r)
	}
}

// kube-pod:// addresses are taken as buildx takes them; without a cluster
// a build fails saying which address and tool.
func TestRemoteKubePod(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	addr := "kube-pod://buildkitd-0?namespace=ci&container=buildkitd"
	mustXB(t, cfg, []string{"create", "--name", "kube", "--driver", "remote", "--use", addr})
	// An empty kubeconfig: kubectl, where installed, finds no cluster
	// rather than a developer's own.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	mustWriteFile(t, kubeconfig, "")
	r := xb(t, cfg, []string{"build", "-o", filepath.Join(t.TempDir(), "out"), "--build-arg", baseArg(), helloContext(t)},
		withEnv("KUBECONFIG="+kubeconfig))
	if r.Code != 1 || !strings.Contains(r.Stderr, "kube-pod://buildkitd-0") || !strings.Contains(r.Stderr, "kubectl") {
		t.Errorf("build on a kube-pod builder without a cluster: %s", r)
	}
	r = xb(t, cfg, []string{"create", "--name", "kube2", "--driver", "remote", "kube-pod://Not_A_Pod"})
	if r.Code != 1 || !strings.Contains(r.Stderr, `unsupported pod name: "Not_A_Pod"; want kube-pod://POD`) {
		t.Errorf("create at a bad pod name: %s", r)
	}
}

// A scheme the driver does not know is refused with the forms it knows.
func TestRemoteUnknownScheme(t *testing.T) {
	t.Parallel()
	r := xb(t, t.TempDir(), []string{"create", "--name", "web", "--driver", "remote", "https://buildkit.example:1234"})
	want := `unknown scheme "https"; want one of tcp://HOST:PORT, unix:///PATH, ssh://[USER@]HOST[:PORT][/SOCKET], docker-container://CONTAINER`
	if r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("create at https://: %s", r)
	}
}

// --timeout bounds create's work with the daemons: a daemon that takes the
// connection and never answers fails the create when it runs out, and the
// builder is not kept.
func TestCreateTimeoutExpires(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Connections are held open, unanswered, until the listener closes.
	held := make(chan net.Conn, 64)
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	cfg := t.TempDir()
	started := time.Now()
	r := xb(t, cfg, []string{"create", "--name", "mute", "--driver", "remote", "--bootstrap", "--timeout", "2s", "tcp://" + ln.Addr().String()})
	took := time.Since(started)
	if r.Code != 1 || !strings.Contains(r.Stderr, `builder "mute": the daemons did not finish within --timeout 2s`) {
		t.Errorf("create at a daemon that never answers: %s", r)
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("create with --timeout 2s took %s", took)
	}
	if _, err := os.Stat(filepath.Join(cfg, "instances", "mute")); err == nil {
		t.Errorf("the builder that timed out was saved")
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitForListener waits until something accepts on the loopback port.
func waitForListener(t *testing.T, port int, log fmt.Stringer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("nothing listens on 127.0.0.1:%d: %v\n%s", port, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustMkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
