package remote

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/imagestore"
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
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("remote driver needs the buildkitd address (unix:///path or tcp://host:port)")
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("remote driver address %q: want unix:///path or tcp://host:port", cfg.Endpoint)
	}
	for k, v := range cfg.Options {
		if !slices.Contains(tlsOptions, k) {
			return nil, fmt.Errorf("remote driver: unknown option %q (known: %s)", k, strings.Join(tlsOptions, ", "))
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
	return &Driver{cfg: cfg}, nil
}

// Driver talks to a buildkitd at a fixed address.
type Driver struct {
	cfg driver.Config
}

var _ driver.Driver = (*Driver)(nil)

// Bootstrap implements driver.Driver: the daemon must answer in time.
func (d *Driver) Bootstrap(ctx context.Context) error {
	c, err := d.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
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
	store := loadStore(ctx, d.cfg)
	info.Capabilities = driver.Capabilities{
		MultiPlatform: true,
		Load:          driver.LoadEngineAPI,
		LoadEngine:    d.cfg.LoadEngine,
		ImageStore:    store.Kind,
		LoadLocation:  store.Location,
		Exporters:     []string{"local", "tar", "oci", "docker"},
		CacheExport:   true,
	}
	return info
}

// loadStore describes the store of the engine --load writes to. An engine
// that does not answer is Unknown: a build that does not load must not
// fail because of it.
func loadStore(ctx context.Context, cfg driver.Config) imagestore.Description {
	if cfg.LoadEngine.Host == "" {
		return imagestore.Description{}
	}
	api, err := cfg.LoadEngine.Client()
	if err != nil {
		return imagestore.Description{}
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := imagestore.Describe(ctx, api)
	if err != nil {
		return imagestore.Description{}
	}
	return d
}

// Client implements driver.Driver.
func (d *Driver) Client(ctx context.Context) (*bkclient.Client, error) {
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

// Remove implements driver.Driver: the daemon is not ours to remove.
func (d *Driver) Remove(context.Context, driver.RemoveOptions) error { return nil }

// OptionKeys lists the options this driver takes, for help texts.
func OptionKeys() []string {
	keys := slices.Clone(tlsOptions)
	sort.Strings(keys)
	return keys
}
