package docker

import (
	"context"
	"fmt"
	"net"

	bkclient "github.com/moby/buildkit/client"
	dockerclient "github.com/moby/moby/client"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

// Name is the --driver value of this driver.
const Name = "docker"

// Factory makes docker drivers.
type Factory struct{}

var _ driver.Factory = Factory{}

// Name implements driver.Factory.
func (Factory) Name() string { return Name }

// New implements driver.Factory. The endpoint is a Docker context name or an
// engine address; empty means the current context.
func (Factory) New(_ context.Context, cfg driver.Config) (driver.Driver, error) {
	ep, err := ResolveEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	return &Driver{endpoint: ep}, nil
}

// ResolveEndpoint finds the engine a node's endpoint names: a Docker
// context, an engine address, or the current context when empty.
func ResolveEndpoint(cfg driver.Config) (engine.Endpoint, error) {
	switch {
	case cfg.Endpoint == "":
		return engine.Current(cfg.Getenv)
	case isAddress(cfg.Endpoint):
		return engine.Endpoint{Host: cfg.Endpoint}, nil
	default:
		return engine.Named(cfg.Getenv, cfg.Endpoint)
	}
}

func isAddress(s string) bool {
	for _, p := range []string{"unix://", "tcp://", "npipe://", "ssh://", "fd://"} {
		if len(s) > len(p) && s[:len(p)] == p {
			return true
		}
	}
	return false
}

// Driver talks to one engine's embedded BuildKit.
type Driver struct {
	endpoint engine.Endpoint
}

var _ driver.Driver = (*Driver)(nil)

// Endpoint is the engine this driver builds on.
func (d *Driver) Endpoint() engine.Endpoint { return d.endpoint }

// Bootstrap implements driver.Driver: the engine must answer.
func (d *Driver) Bootstrap(ctx context.Context) error {
	api, err := d.endpoint.Client()
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := api.Ping(ctx, dockerclient.PingOptions{}); err != nil {
		return fmt.Errorf("reaching docker engine at %s: %w", d.endpoint.Host, err)
	}
	return nil
}

// Info implements driver.Driver.
func (d *Driver) Info(ctx context.Context) driver.Info {
	info := driver.Info{Status: driver.StatusRunning}
	fail := func(err error) driver.Info {
		return driver.Info{Status: driver.StatusUnreachable, Err: err}
	}
	api, err := d.endpoint.Client()
	if err != nil {
		return fail(err)
	}
	defer api.Close()
	store, err := imagestore.Detect(ctx, api)
	if err != nil {
		return fail(fmt.Errorf("reaching docker engine at %s: %w", d.endpoint.Host, err))
	}
	c, err := d.client(ctx, api)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if err := driver.ReadDaemon(ctx, c, &info); err != nil {
		return fail(err)
	}
	// The engine names its snapshotter in a worker label only when images
	// live in containerd; /info said the same, this is a cross-check that
	// costs nothing.
	if _, ok := info.WorkerLabels[snapshotterLabel]; ok {
		store = imagestore.Containerd
	}
	info.Capabilities = capabilities(store, d.endpoint)
	return info
}

// snapshotterLabel is set on the engine's BuildKit worker when the engine
// uses the containerd image store.
const snapshotterLabel = "org.mobyproject.buildkit.worker.snapshotter"

func capabilities(store imagestore.Kind, ep engine.Endpoint) driver.Capabilities {
	c := driver.Capabilities{
		MultiPlatform: store.HoldsIndexes(),
		ImageStore:    store,
		Load:          driver.LoadNative,
		LoadEngine:    ep,
		Exporters:     []string{"local", "tar"},
		// The classic store's BuildKit has no cache exporters, and its
		// image exporter ignores push=true.
		CacheExport:       store.HoldsIndexes(),
		PushThroughEngine: !store.HoldsIndexes(),
	}
	if store.HoldsIndexes() {
		c.Exporters = append(c.Exporters, "oci", "docker")
	}
	return c
}

// Client implements driver.Driver.
func (d *Driver) Client(ctx context.Context) (*bkclient.Client, error) {
	api, err := d.endpoint.Client()
	if err != nil {
		return nil, err
	}
	// The BuildKit client owns the engine client from here on: its dialers
	// use it for every connection, so it must live as long as c.
	return d.client(ctx, api)
}

func (d *Driver) client(ctx context.Context, api *dockerclient.Client) (*bkclient.Client, error) {
	c, err := bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		}))
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkit in docker engine at %s: %w", d.endpoint.Host, err)
	}
	return c, nil
}

// Remove implements driver.Driver: the engine is not ours to remove.
func (d *Driver) Remove(context.Context, driver.RemoveOptions) error { return nil }
