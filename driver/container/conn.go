package container

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	dockerclient "github.com/moby/moby/client"
)

// ensureImage pulls the image unless the engine has it; a failed pull names
// the image and the two ways to choose another.
func (d *Driver) ensureImage(ctx context.Context, api *dockerclient.Client) error {
	if _, err := api.ImageInspect(ctx, d.opts.image); err == nil {
		return nil
	}
	res, err := api.ImagePull(ctx, d.opts.image, dockerclient.ImagePullOptions{})
	if err == nil {
		err = res.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("pulling BuildKit image %s (%s) into docker engine at %s: %w; choose another with --driver-opt image=REF or %s",
			d.opts.image, d.imageFrom, d.endpoint.Host, err, ImageEnv)
	}
	return nil
}

// copyConfig puts buildkitd.toml where the flags point buildkitd at it,
// before the container first starts.
func copyConfig(ctx context.Context, api *dockerclient.Client, name string, config []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Name: "buildkit/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()},
		{Name: "buildkit/" + configFile, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(config)), ModTime: time.Now()},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write(config); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := api.CopyToContainer(ctx, name, dockerclient.CopyToContainerOptions{DestinationPath: "/etc", Content: &buf})
	if err != nil {
		return fmt.Errorf("copying the buildkitd config into container %s: %w", name, err)
	}
	return nil
}

// dialStdio runs `buildctl dial-stdio` in the container and returns its
// standard streams as a connection to buildkitd: no port is published.
func dialStdio(ctx context.Context, api *dockerclient.Client, name string) (net.Conn, error) {
	ex, err := api.ExecCreate(ctx, name, dockerclient.ExecCreateOptions{
		Cmd: []string{"buildctl", "dial-stdio"}, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s is gone: %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("starting buildctl dial-stdio in container %s: %w", name, err)
	}
	att, err := api.ExecAttach(ctx, ex.ID, dockerclient.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attaching to buildctl dial-stdio in container %s: %w", name, err)
	}
	return newStdioConn(att.HijackedResponse), nil
}

// stdioConn is an exec's hijacked stream: writes go to its stdin as they
// are, reads come from its stdout, which the engine multiplexes with stderr
// when there is no TTY.
type stdioConn struct {
	net.Conn
	stdout *io.PipeReader
}

func newStdioConn(h dockerclient.HijackedResponse) *stdioConn {
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, io.Discard, h.Reader)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return &stdioConn{Conn: h.Conn, stdout: pr}
}

func (c *stdioConn) Read(p []byte) (int, error) { return c.stdout.Read(p) }

// Close ends the exec: closing the hijacked connection ends buildctl's
// stdin and the stream.
func (c *stdioConn) Close() error {
	_ = c.stdout.Close()
	return c.Conn.Close()
}
