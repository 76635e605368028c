package driver

import (
	"context"
	"fmt"
	"slices"
	"sort"

	cerrdefs "github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

// Driver reaches one BuildKit daemon: one node of a builder.
//
// Implementations are safe for use by one command at a time; a Driver holds
// no context and opens no connection until a method asks for one.
type Driver interface {
	// Bootstrap makes the daemon ready to build. Drivers that do not manage
	// a daemon only check that it answers. Calling it on a running daemon
	// is cheap and changes nothing.
	Bootstrap(ctx context.Context) error
	// Info reports the daemon's state and what it can do. It never fails
	// for an unreachable daemon: Status says so and Err holds the cause.
	Info(ctx context.Context) Info
	// Client opens a BuildKit client; the caller closes it.
	Client(ctx context.Context) (*bkclient.Client, error)
	// Remove releases what the driver created for the node. Drivers that
	// created nothing return nil.
	Remove(ctx context.Context, opts RemoveOptions) error
}

// RemoveOptions says what Remove may delete besides the node itself.
type RemoveOptions struct {
	// KeepState keeps the daemon's build cache where the driver owns it.
	KeepState bool
}

// Status is a node's state as `ls` shows it.
type Status string

const (
	StatusRunning     Status = "running"
	StatusUnreachable Status = "unreachable"
	// StatusStopped: the daemon exists but does not run; the next build
	// starts it.
	StatusStopped Status = "stopped"
	// StatusInactive: the daemon does not exist (yet, or any more); the
	// next build creates it.
	StatusInactive Status = "inactive"
)

// Stopper is a driver whose daemon can be stopped and started again with
// its state.
type Stopper interface {
	// Stop stops the daemon, keeping what Bootstrap needs to start it
	// again. Stopping a stopped or missing daemon is no error.
	Stop(ctx context.Context) error
}

// Info is what a node reports about itself.
type Info struct {
	Status          Status
	Err             error
	BuildKitVersion string
	Platforms       []ocispecs.Platform
	WorkerLabels    map[string]string
	Capabilities    Capabilities
	// Replicas are the daemons of a node that runs several; empty for
	// one.
	Replicas []Replica
}

// LoadMode says how a result reaches the local image store on --load.
type LoadMode string

const (
	// LoadNative: the daemon is the engine's own BuildKit and exports straight
	// into the engine's store.
	LoadNative LoadMode = "native"
	// LoadEngineAPI: the result is streamed as an archive to the engine's
	// image load endpoint.
	LoadEngineAPI LoadMode = "engine-api"
)

// Capabilities are what a node can produce. The build planner decides with
// these, so no generic code asks for a driver by name.
type Capabilities struct {
	// MultiPlatform: the node can produce an image index (several platforms,
	// or attestations).
	MultiPlatform bool
	// ImageStore is the store of the engine that --load writes to; Unknown
	// when that engine cannot be reached.
	ImageStore imagestore.Kind
	// Load is how --load reaches that store.
	Load LoadMode
	// LoadEngine is the engine --load writes to.
	LoadEngine engine.Endpoint
	// LoadLocation is where that engine keeps its images when its store is
	// containerd.
	LoadLocation imagestore.Location
	// Exporters lists the BuildKit exporter types the node accepts for
	// files (oci, docker, local, tar) besides its image exporter.
	Exporters []string
	// DefaultLoad: a build without outputs loads into the engine, as on
	// the engine's own builder (a node created with default-load=true).
	DefaultLoad bool
	// CacheExport: the node exports build cache (--cache-to) to backends
	// other than the image itself (inline).
	CacheExport bool
	// PushThroughEngine: the node's image exporter names the image in the
	// engine but cannot push it (the engine's classic store), so a push goes
	// through the engine's push endpoint once the export is done.
	PushThroughEngine bool
}

// Exports reports whether the node takes the named exporter type.
func (c Capabilities) Exports(typ string) bool { return slices.Contains(c.Exporters, typ) }

// Config is what a factory needs to make a driver for one node.
type Config struct {
	// Builder and Node name the node, for messages.
	Builder, Node string
	// Endpoint is the node's address: a Docker endpoint for the docker
	// driver, a BuildKit address for remote.
	Endpoint string
	// Options are the --driver-opt values.
	Options map[string]string
	// LoadEngine is the engine --load writes to when the node is not an
	// engine itself.
	LoadEngine engine.Endpoint
	// Getenv reads the environment; drivers resolve Docker contexts with it.
	Getenv engine.Env
	// BuildkitdFlags are extra buildkitd command-line flags, and
	// BuildkitdConfig the content of a buildkitd.toml, for drivers that
	// start the daemon.
	BuildkitdFlags  []string
	BuildkitdConfig []byte
	// Platforms are those the node was created for (create --platform).
	Platforms []ocispecs.Platform
}

// Factory makes drivers of one kind.
type Factory interface {
	// Name is the --driver value.
	Name() string
	// New checks the configuration and returns a driver. It does not
	// contact the daemon.
	New(ctx context.Context, cfg Config) (Driver, error)
}

// Registry maps driver names to factories. It is filled in once by the
// main package; there is no global registry.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns a registry holding the given factories.
func NewRegistry(factories ...Factory) *Registry {
	r := &Registry{factories: map[string]Factory{}}
	for _, f := range factories {
		r.factories[f.Name()] = f
	}
	return r
}

// ErrUnknownDriver is returned for a driver name no factory answers to.
var ErrUnknownDriver = cerrdefs.ErrInvalidArgument.WithMessage("unknown driver")

// Factory returns the factory for name.
func (r *Registry) Factory(name string) (Factory, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownDriver, name, r.Names())
	}
	return f, nil
}

// Names lists the registered driver names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Replica is one daemon of a node that runs several behind one name (the
// pods of a kubernetes node), as `ls` and `inspect` list them.
type Replica struct {
	Name      string
	Status    Status
	Platforms []ocispecs.Platform
}

// Balancer is a driver whose node is several daemons: each build asks for
// a client of its own, so builds spread over them.
type Balancer interface {
	// ClientFor opens a client to the daemon a build keyed by key (its
	// context) goes to.
	ClientFor(ctx context.Context, key string) (*bkclient.Client, error)
}
