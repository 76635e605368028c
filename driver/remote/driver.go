package remote

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/xbuild/xbuild/driver"
)

// Name is the --driver value of this driver.
const Name = "remote"

// Factory makes remote drivers.
type Factory struct{}

var _ driver.Factory = Factory{}

// Name implements driver.Factory.
func (Factory) Name() string { return Name }

// tlsOptions are the --driver-opt keys this driver takes.
var tlsOptions = []string{"cacert", "cert", "key", "servername"}

// New implements driver.Factory.
func (Factory) New(_ context.Context, cfg driver.Config) (driver.Driver, error) {
	addr, err := parseAddress(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	for k, v := range cfg.Options {
		if !slices.Contains(tlsOptions, k) {
			return nil, fmt.Errorf("remote driver: unknown option %q (known: %s)", k, strings.Join(tlsOptions, ", "))
		}
		if addr.helper != nil {
			return nil, fmt.Errorf("remote driver option %s: TLS options are for tcp:// and unix:// addresses; %s reaches the daemon through %s", k, cfg.Endpoint, addr.scheme.program)
		}
		if k != "servername" {
			if _, err := os.Stat(v); err != nil {
				return nil, fmt.Errorf("remote driver option %s: %w", k, err)
			}
		}
	}
	if (cfg.Options["cert"] == "") != (cfg.Options["key"] == "") {
		return nil, fmt.Errorf("remote driver: cert and key must be given together")
	}
	return &Driver{cfg: cfg, addr: addr}, nil
}

// Driver talks to a buildkitd at a fixed address.
type Driver struct {
	cfg  driver.Config
	addr address
}

var _ driver.Driver = (*Driver)(nil)

// Bootstrap implements driver.Driver: the daemon must answer in time.
func (d *Driver) Bootstrap(ctx context.Context) error {
	c, err := d.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// A caller's deadline (create --timeout) replaces the driver's own.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
	}
	if _, err := c.Info(ctx); err != nil {
		return fmt.Errorf("reaching buildkitd at %s: %w", d.cfg.Endpoint, err)
	}
	return nil
}

// Info implements driver.Driver.
func (d *Driver) Info(ctx context.Context) driver.Info {
	info := driver.Info{Status: driver.StatusRunning}
	c, err := d.Client(ctx)
	if err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Err: err}
	}
	defer c.Close()
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := driver.ReadDaemon(ctx2, c, &info); err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Err: fmt.Errorf("reaching buildkitd at %s: %w", d.cfg.Endpoint, err)}
	}
	info.Capabilities = driver.DaemonCapabilities(d.cfg.LoadEngine, driver.LoadStore(ctx, d.cfg.LoadEngine), false)
	return info
}

// Client implements driver.Driver.
func (d *Driver) Client(ctx context.Context) (*bkclient.Client, error) {
	if d.addr.helper != nil {
		// Checked before gRPC dials in the background, where the error
		// would only show as a connection that failed.
		if err := d.addr.findProgram(); err != nil {
			return nil, err
		}
		c, err := bkclient.New(ctx, "", bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return d.addr.dialHelper(ctx)
		}))
		if err != nil {
			return nil, fmt.Errorf("connecting to buildkitd at %s: %w", d.cfg.Endpoint, err)
		}
		return c, nil
	}
	var opts []bkclient.ClientOpt
	o := d.cfg.Options
	if o["cacert"] != "" || o["servername"] != "" {
		opts = append(opts, bkclient.WithServerConfig(o["servername"], o["cacert"]))
	}
	if o["cert"] != "" {
		opts = append(opts, bkclient.WithCredentials(o["cert"], o["key"]))
	}
	c, err := bkclient.New(ctx, d.cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd at %s: %w", d.cfg.Endpoint, err)
	}
	return c, nil
}

// Dial opens a raw connection to the daemon's API, TLS already spoken when
// the node has TLS options, for a caller that runs its own gRPC client
// (dial-stdio).
func (d *Driver) Dial(ctx context.Context) (net.Conn, error) {
	if d.addr.helper != nil {
		return d.addr.dialHelper(ctx)
	}
	conn, err := d.addr.dialDirect(ctx)
	if err != nil || !d.usesTLS() {
		return conn, err
	}
	cfg, err := d.tlsConfig()
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with buildkitd at %s: %w", d.cfg.Endpoint, err)
	}
	return tc, nil
}

func (d *Driver) usesTLS() bool {
	o := d.cfg.Options
	return o["cacert"] != "" || o["servername"] != "" || o["cert"] != ""
}

// tlsConfig is what BuildKit's client makes of the same options: the
// server name defaults to the address's host, and "h2" is offered, which
// gRPC servers require.
func (d *Driver) tlsConfig() (*tls.Config, error) {
	o := d.cfg.Options
	cfg := &tls.Config{ServerName: cmp.Or(o["servername"], d.addr.url.Hostname()), NextProtos: []string{"h2"}}
	if o["cacert"] != "" {
		pem, err := os.ReadFile(o["cacert"])
		if err != nil {
			return nil, fmt.Errorf("reading remote driver option cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote driver option cacert %s holds no PEM certificate", o["cacert"])
		}
	}
	if o["cert"] != "" {
		cert, err := tls.LoadX509KeyPair(o["cert"], o["key"])
		if err != nil {
			return nil, fmt.Errorf("loading remote driver options cert and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Remove implements driver.Driver: the daemon is not ours to remove.
func (d *Driver) Remove(context.Context, driver.RemoveOptions) error { return nil }

// OptionKeys lists the options this driver takes, for help texts.
func OptionKeys() []string {
	keys := slices.Clone(tlsOptions)
	sort.Strings(keys)
	return keys
}
