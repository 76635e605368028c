package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	dockerclient "github.com/moby/moby/client"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/docker"
	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

// Name is the --driver value of this driver.
const Name = "docker-container"

// DefaultImage is the BuildKit image a builder runs unless its image option
// or ImageEnv names another: the one buildx runs, so a builder made by
// either tool runs the same BuildKit.
const DefaultImage = "moby/buildkit:buildx-stable-1"

// ImageEnv names the image for every builder that does not set its own.
const ImageEnv = "XBUILD_BUILDKIT_IMAGE"

// defaultNetwork is host so that what the engine reaches on loopback (a
// registry on 127.0.0.1) the builder reaches too; network=bridge gives the
// engine's default network instead.
const defaultNetwork = "host"

// Where BuildKit's image keeps its state and looks for its configuration.
const (
	stateDir   = "/var/lib/buildkit"
	configDir  = "/etc/buildkit"
	configFile = "buildkitd.toml"
)

// Labels mark what the driver creates, so a user (or a cleanup) can find it.
const (
	labelBuilder = "com.docker.buildx.builder"
	labelNode    = "com.docker.buildx.node"
	labelTool    = "io.xbuild.driver"
)

// Factory makes docker-container drivers.
type Factory struct{}

var _ driver.Factory = Factory{}

// Name implements driver.Factory.
func (Factory) Name() string { return Name }

// New implements driver.Factory. The endpoint is a Docker context name or an
// engine address; empty means the current context.
func (Factory) New(_ context.Context, cfg driver.Config) (driver.Driver, error) {
	o, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, err
	}
	ep, err := docker.ResolveEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	imageFrom := "the default"
	switch {
	case o.image != "":
		imageFrom = "--driver-opt image"
	case cfg.Getenv(ImageEnv) != "":
		o.image, imageFrom = cfg.Getenv(ImageEnv), ImageEnv
	default:
		o.image = DefaultImage
	}
	return &Driver{
		builder: cfg.Builder, node: cfg.Node, endpoint: ep, opts: o, imageFrom: imageFrom,
		flags: buildkitdFlags(cfg.BuildkitdFlags, cfg.BuildkitdConfig != nil), config: cfg.BuildkitdConfig,
	}, nil
}

// buildkitdFlags adds to the user's flags what the container needs: the
// copied config file (first, so the user's flags win) and, as buildx does
// for container drivers, the network.host entitlement unless the user
// chose entitlements.
func buildkitdFlags(user []string, hasConfig bool) []string {
	var flags []string
	if hasConfig {
		flags = append(flags, "--config", configDir+"/"+configFile)
	}
	return driver.WithHostNetworkEntitlement(append(flags, user...))
}

// Driver runs BuildKit in one container of one engine.
type Driver struct {
	builder, node string
	endpoint      engine.Endpoint
	opts          options
	imageFrom     string
	flags         []string
	config        []byte
}

var (
	_ driver.Driver  = (*Driver)(nil)
	_ driver.Stopper = (*Driver)(nil)
)

// Endpoint is the engine the container runs on.
func (d *Driver) Endpoint() engine.Endpoint { return d.endpoint }

// ContainerName is the container a node runs in, as buildx names it.
func ContainerName(node string) string { return "buildx_buildkit_" + node }

// VolumeName is the volume that keeps a node's BuildKit state.
func VolumeName(node string) string { return ContainerName(node) + "_state" }

func (d *Driver) name() string { return ContainerName(d.node) }

// Bootstrap implements driver.Driver: create the container when missing,
// start it when stopped, and wait until BuildKit answers in it. Several
// commands may bootstrap the same node at once: the engine lets one create
// the container, and the others wait for the same one. A cancelled
// Bootstrap takes back what it created or started.
func (d *Driver) Bootstrap(ctx context.Context) error {
	api, err := d.endpoint.Client()
	if err != nil {
		return err
	}
	defer api.Close()
	for attempt := 0; ; attempt++ {
		err := d.bootstrap(ctx, api)
		// The container a concurrent command was creating went away with
		// that command: make it here.
		if errors.Is(err, errGone) && attempt < 3 {
			continue
		}
		return err
	}
}

// errGone: the container disappeared while this command waited for it.
var errGone = errors.New("container removed while starting")

func (d *Driver) bootstrap(ctx context.Context, api *dockerclient.Client) (err error) {
	res, err := api.ContainerInspect(ctx, d.name(), dockerclient.ContainerInspectOptions{})
	var undo func()
	switch {
	case cerrdefs.IsNotFound(err):
		created, err := d.create(ctx, api)
		if err != nil {
			return err
		}
		if created {
			undo = func() { d.removeContainer(api) }
		}
	case err != nil:
		return fmt.Errorf("reaching docker engine at %s: %w", d.endpoint.Host, err)
	case !res.Container.State.Running:
		if err := d.start(ctx, api); err != nil {
			return err
		}
		undo = func() { _ = d.Stop(context.WithoutCancel(ctx)) }
	}
	if err := d.wait(ctx, api); err != nil {
		if undo != nil && ctx.Err() != nil {
			undo()
		}
		return err
	}
	return nil
}

// create makes the container, copies the configuration in and starts it.
// It reports false when another command created it meanwhile: that one
// copies and starts it, and wait waits for it.
func (d *Driver) create(ctx context.Context, api *dockerclient.Client) (bool, error) {
	if err := d.ensureImage(ctx, api); err != nil {
		return false, err
	}
	_, err := api.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Name:       d.name(),
		Config:     d.containerConfig(),
		HostConfig: d.hostConfig(),
	})
	if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating container %s: %w", d.name(), err)
	}
	if d.config != nil {
		err = copyConfig(ctx, api, d.name(), d.config)
	}
	if err == nil {
		err = d.start(ctx, api)
	}
	if err != nil {
		d.removeContainer(api)
		return false, err
	}
	return true, nil
}

func (d *Driver) containerConfig() *container.Config {
	return &container.Config{
		Image: d.opts.image,
		Cmd:   d.flags,
		Env:   d.opts.env,
		Labels: map[string]string{
			labelBuilder: d.builder, labelNode: d.node, labelTool: Name,
		},
	}
}

func (d *Driver) hostConfig() *container.HostConfig {
	init := true // reaps the processes BuildKit's container API leaves
	hc := &container.HostConfig{
		Privileged:    true,
		Init:          &init,
		RestartPolicy: d.opts.restart,
		NetworkMode:   container.NetworkMode(d.opts.network),
		Resources:     d.opts.resources,
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: VolumeName(d.node), Target: stateDir}},
	}
	hc.Resources.CgroupParent = d.opts.cgroupParent
	return hc
}

// start starts the container; one already running is no error.
func (d *Driver) start(ctx context.Context, api *dockerclient.Client) error {
	if _, err := api.ContainerStart(ctx, d.name(), dockerclient.ContainerStartOptions{}); err != nil && !cerrdefs.IsNotModified(err) {
		return fmt.Errorf("starting container %s: %w", d.name(), err)
	}
	return nil
}

// removeContainer undoes a create that could not finish, so a failed
// bootstrap leaves no container behind.
func (d *Driver) removeContainer(api *dockerclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = api.ContainerRemove(ctx, d.name(), dockerclient.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	_, _ = api.VolumeRemove(ctx, VolumeName(d.node), dockerclient.VolumeRemoveOptions{Force: true})
}

// wait polls BuildKit in the container until it answers, the container
// stops, or the bootstrap time runs out.
func (d *Driver) wait(ctx context.Context, api *dockerclient.Client) error {
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	var last error
	since := time.Now()
	for {
		if last = d.ping(ctx, api); last == nil {
			return nil
		}
		res, err := api.ContainerInspect(ctx, d.name(), dockerclient.ContainerInspectOptions{})
		switch st := res.Container.State; {
		case cerrdefs.IsNotFound(err) && time.Since(since) > orphanAfter:
			// The engine reserves the name before the container shows, so
			// only a lasting absence means it is gone.
			return errGone
		case err != nil:
		case st.Status == container.StateCreated && time.Since(since) > orphanAfter:
			// Its creator went away before starting it.
			if err := d.start(ctx, api); err != nil {
				return err
			}
		case st.Status != container.StateCreated && !st.Running && !st.Restarting:
			return fmt.Errorf("buildkitd in container %s exited (%s): see `docker logs %s`", d.name(), st.Status, d.name())
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) && ctx.Err() != nil {
				return fmt.Errorf("buildkitd in container %s did not answer within %s: %w", d.name(), bootstrapTimeout, last)
			}
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

const bootstrapTimeout = 60 * time.Second

// orphanAfter is how long a container another command created may stay
// unstarted before this one starts it.
const orphanAfter = 10 * time.Second

// ping asks BuildKit in the container for its workers.
func (d *Driver) ping(ctx context.Context, api *dockerclient.Client) error {
	c, err := d.client(ctx, api)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = c.ListWorkers(ctx)
	return err
}

// Info implements driver.Driver.
func (d *Driver) Info(ctx context.Context) driver.Info {
	api, err := d.endpoint.Client()
	if err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Err: err}
	}
	defer api.Close()
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := api.ContainerInspect(ictx, d.name(), dockerclient.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return driver.Info{Status: driver.StatusInactive, Err: fmt.Errorf("container %s does not exist: the next build creates it", d.name())}
	case err != nil:
		return driver.Info{Status: driver.StatusUnreachable, Err: fmt.Errorf("reaching docker engine at %s: %w", d.endpoint.Host, err)}
	case !res.Container.State.Running:
		return driver.Info{Status: driver.StatusStopped, Err: fmt.Errorf("container %s is %s: the next build starts it", d.name(), res.Container.State.Status)}
	}
	info := driver.Info{Status: driver.StatusRunning}
	c, err := d.client(ctx, api)
	if err == nil {
		defer c.Close()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = driver.ReadDaemon(rctx, c, &info)
	}
	if err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Err: fmt.Errorf("reaching buildkitd in container %s: %w", d.name(), err)}
	}
	info.Capabilities = d.capabilities(ctx, api)
	return info
}

// capabilities: everything BuildKit does, with --load going to the engine
// the container runs on (straight into its containerd when this host can
// reach it).
func (d *Driver) capabilities(ctx context.Context, api *dockerclient.Client) driver.Capabilities {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := imagestore.Describe(ctx, api)
	if err != nil {
		store = imagestore.Description{}
	}
	return driver.DaemonCapabilities(d.endpoint, store, d.opts.defaultLoad)
}

// Client implements driver.Driver.
func (d *Driver) Client(ctx context.Context) (*bkclient.Client, error) {
	api, err := d.endpoint.Client()
	if err != nil {
		return nil, err
	}
	// The BuildKit client dials through api for as long as it lives.
	return d.client(ctx, api)
}

func (d *Driver) client(ctx context.Context, api *dockerclient.Client) (*bkclient.Client, error) {
	c, err := bkclient.New(ctx, "", bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return dialStdio(ctx, api, d.name())
	}))
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd in container %s: %w", d.name(), err)
	}
	return c, nil
}

// Stop implements driver.Stopper.
func (d *Driver) Stop(ctx context.Context) error {
	api, err := d.endpoint.Client()
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := api.ContainerStop(ctx, d.name(), dockerclient.ContainerStopOptions{}); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsNotModified(err) {
		return fmt.Errorf("stopping container %s: %w", d.name(), err)
	}
	return nil
}

// Remove implements driver.Driver: the container, and its state volume
// unless KeepState. What is already gone is no error.
func (d *Driver) Remove(ctx context.Context, opts driver.RemoveOptions) error {
	api, err := d.endpoint.Client()
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := api.ContainerRemove(ctx, d.name(), dockerclient.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w", d.name(), err)
	}
	if opts.KeepState {
		return nil
	}
	if _, err := api.VolumeRemove(ctx, VolumeName(d.node), dockerclient.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing volume %s: %w", VolumeName(d.node), err)
	}
	return nil
}
