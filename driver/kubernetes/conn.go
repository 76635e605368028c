package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/docker/buildx/driver/kubernetes/execconn"
	bkclient "github.com/moby/buildkit/client"
	corev1 "k8s.io/api/core/v1"
)

// podWatchInterval is how often a connection checks that its pod still
// serves it: a pod deleted under a build would otherwise keep the build
// waiting through the pod's grace period.
const podWatchInterval = 2 * time.Second

// clientTo opens a BuildKit client whose connection runs `buildctl
// dial-stdio` in pod through the API server. The exec stream lives as long
// as ctx, so ctx is the client's, not the dialer's.
func (d *Driver) clientTo(ctx context.Context, pod *corev1.Pod) (*bkclient.Client, error) {
	c, err := bkclient.New(ctx, "", bkclient.WithContextDialer(func(context.Context, string) (net.Conn, error) {
		return d.dial(ctx, pod)
	}))
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd in pod %s: %w", pod.Name, err)
	}
	return c, nil
}

func (d *Driver) dial(ctx context.Context, pod *corev1.Pod) (net.Conn, error) {
	cl := d.clients
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("pod %s has no container to run buildctl in", pod.Name)
	}
	cmd := []string{"buildctl", "dial-stdio"}
	var conn net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		conn, err = execconn.ExecConn(ctx, cl.Pods.RESTClient(), d.rest, pod.Namespace, pod.Name, pod.Spec.Containers[0].Name, cmd)
		// A node marked ready before its serving certificate is in place
		// refuses the first execs for a moment.
		if err == nil || attempt == 3 || !transient(err) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(time.Duration(500<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		if gone := d.podGone(ctx, pod.Name); gone != nil {
			return nil, gone
		}
		return nil, fmt.Errorf("running buildctl dial-stdio in pod %s: %w", pod.Name, err)
	}
	pc := &podConn{Conn: conn, d: d, pod: pod.Name, stop: make(chan struct{})}
	go pc.watch(ctx)
	return pc, nil
}

func transient(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded)
}

// podConn is an exec stream to one pod that ends, naming the pod and the
// builder, as soon as the pod goes away.
type podConn struct {
	net.Conn
	d    *Driver
	pod  string
	stop chan struct{}
	once sync.Once

	mu   sync.Mutex
	gone error
}

func (c *podConn) watch(ctx context.Context) {
	t := time.NewTicker(podWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			qctx, cancel := context.WithTimeout(ctx, podWatchInterval)
			gone := c.d.podGone(qctx, c.pod)
			cancel()
			if gone != nil {
				c.setGone(gone)
				_ = c.Conn.Close()
				return
			}
		}
	}
}

func (c *podConn) setGone(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone == nil {
		c.gone = err
	}
}

// cause replaces a failed read or write by the pod's fate when it went:
// the stream may end before the watch sees it.
func (c *podConn) cause(err error) error {
	c.mu.Lock()
	gone := c.gone
	c.mu.Unlock()
	if gone == nil {
		select {
		case <-c.stop:
			return err // closed by the client itself
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), podWatchInterval)
		gone = c.d.podGone(ctx, c.pod)
		cancel()
	}
	if gone != nil {
		c.setGone(gone)
		return gone
	}
	return err
}

func (c *podConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		err = c.cause(err)
	}
	return n, err
}

func (c *podConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		err = c.cause(err)
	}
	return n, err
}

func (c *podConn) Close() error {
	c.once.Do(func() { close(c.stop) })
	return c.Conn.Close()
}
