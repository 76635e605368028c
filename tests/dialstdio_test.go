package tests

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
)

// stdioClient is a BuildKit client whose every connection is a
// `xbuild dial-stdio` of its own, as another tool would use it.
func stdioClient(t *testing.T, cfg string, args []string, opts ...runOpt) *bkclient.Client {
	t.Helper()
	var (
		stderr syncBuffer
		mu     sync.Mutex
		procs  []*os.Process
	)
	dial := func(context.Context, string) (net.Conn, error) {
		ours, theirs := net.Pipe()
		cmd := exec.Command(xbuildBin, append([]string{"dial-stdio"}, args...)...)
		cmd.Env = append(os.Environ(), "XBUILD_CONFIG="+cfg, "DOCKER_CONFIG="+filepath.Join(cfg, "docker"), "XBUILD_BUILDER=", "BUILDX_BUILDER=")
		for _, o := range opts {
			o(cmd)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, &stderr
		if err := cmd.Start(); err != nil {
			ours.Close()
			theirs.Close()
			return nil, err
		}
		mu.Lock()
		procs = append(procs, cmd.Process)
		mu.Unlock()
		go func() {
			_ = cmd.Wait()
			theirs.Close()
		}()
		return ours, nil
	}
	c, err := bkclient.New(t.Context(), "", bkclient.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			_ = p.Kill()
		}
		if t.Failed() {
			t.Logf("dial-stdio's standard error:\n%s", stderr.String())
		}
	})
	return c
}

// askWorkers calls the daemon through the proxy and reports what it said.
func askWorkers(t *testing.T, c *bkclient.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	workers, err := c.ListWorkers(ctx)
	if err != nil || len(workers) == 0 {
		t.Fatalf("ListWorkers through dial-stdio = %v, %v", workers, err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.BuildkitVersion.Version == "" {
		t.Errorf("Info through dial-stdio = %+v, %v", info, err)
	}
}

// dial-stdio proxies a builder's BuildKit API for a tool's own client:
// remote builders on a unix socket and over TCP with mutual TLS (spoken by
// xbuild, plain on the pipe), and a docker-container builder.
func TestDialStdio(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "bk", "--driver", "remote", env.BuildKit})
	askWorkers(t, stdioClient(t, cfg, []string{"--builder", "bk"}))

	dir := env.BuildKitTLSDir
	opt := "cacert=" + filepath.Join(dir, "ca.pem") + ",cert=" + filepath.Join(dir, "client-cert.pem") + ",key=" + filepath.Join(dir, "client-key.pem")
	mustXB(t, cfg, []string{"create", "--name", "tls", "--driver", "remote", "--driver-opt", opt, env.BuildKitTLS})
	askWorkers(t, stdioClient(t, cfg, []string{"--builder", "tls", "--progress", "plain"}))

	name := containerBuilder(t, cfg, env.DockerContainerd)
	askWorkers(t, stdioClient(t, cfg, []string{"--builder", name}, onEngine(env.DockerContainerd)))
}

// --platform picks the node a build of that platform would use; a builder
// whose driver has no raw connection says so.
func TestDialStdioChoices(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	dead := "tcp://127.0.0.1:1"
	mustXB(t, cfg, []string{"create", "--name", "duo", "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", dead})
	mustXB(t, cfg, []string{"create", "--append", "--name", "duo", "--node", "arm", "--platform", "linux/arm64", env.BuildKit})
	askWorkers(t, stdioClient(t, cfg, []string{"--builder", "duo", "--platform", "linux/arm64"}))

	r := xb(t, cfg, []string{"dial-stdio", "--builder", "duo", "--platform", "linux/amd64"}, withStdin(""))
	if r.Code != 1 || !strings.Contains(r.Stderr, "node amd") || !strings.Contains(r.Stderr, dead) {
		t.Errorf("dial-stdio to the amd64 node that does not answer: %s", r)
	}
	r = xb(t, cfg, []string{"dial-stdio", "--builder", "duo", "--platform", "linux/nope"}, withStdin(""))
	if r.Code != 1 || !strings.Contains(r.Stderr, `invalid --platform "linux/nope"`) {
		t.Errorf("dial-stdio with a bad platform: %s", r)
	}
	r = xb(t, cfg, []string{"dial-stdio", "--builder", "default"}, withStdin(""), withDockerHost(env.DockerContainerd))
	if r.Code != 1 || !strings.Contains(r.Stderr, `builder "default": its docker driver gives no raw connection to BuildKit`) {
		t.Errorf("dial-stdio to the docker driver: %s", r)
	}
	if r.Stdout != "" {
		t.Errorf("dial-stdio wrote %q on standard output, which belongs to the API stream", r.Stdout)
	}
}
