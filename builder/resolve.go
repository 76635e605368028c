package builder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/engine"
)

// DefaultDriver is the driver of builders that stand for a Docker context.
const DefaultDriver = "docker"

// Resolver finds builders by name: those in the store, and one per Docker
// context using the docker driver.
type Resolver struct {
	Store   *store.Store
	Drivers *driver.Registry
	Getenv  engine.Env
	// SBOMGenerator, when set, replaces every builder's own SBOM
	// generator; SBOMGeneratorFrom says where it was set, for messages.
	SBOMGenerator     string
	SBOMGeneratorFrom string
	// Notices is where the resolver reports what it could not do but did
	// not fail for, such as nodes it could not stop; os.Stderr when nil.
	Notices io.Writer
}

// Instance is a resolved builder with a driver for each node.
type Instance struct {
	Name   string
	Driver string
	Nodes  []Node
	// FromContext: the builder stands for a Docker context and is not in
	// the store.
	FromContext bool
	// SBOMGenerator is the image that makes SBOMs when --sbom names none:
	// the resolver's, else the builder's own; empty leaves the choice to
	// BuildKit.
	SBOMGenerator string
	// SBOMGeneratorFrom says where SBOMGenerator came from, for messages.
	SBOMGeneratorFrom string
	// Err is why a stored builder could not be loaded (an unreadable
	// file, a driver xbuild does not have, such as one only buildx has).
	// Only All returns such instances, without nodes, so that one broken
	// builder does not hide the others.
	Err error
}

func (r *Resolver) setSBOMGenerator(inst *Instance, own string) {
	switch {
	case r.SBOMGenerator != "":
		inst.SBOMGenerator, inst.SBOMGeneratorFrom = r.SBOMGenerator, r.SBOMGeneratorFrom
	case own != "":
		inst.SBOMGenerator, inst.SBOMGeneratorFrom = own, "builder "+inst.Name
	}
}

// Node is one node of an instance.
type Node struct {
	Name     string
	Endpoint string
	Driver   driver.Driver
	// Platforms are those the node was created for; builds of other
	// platforms go to other nodes when the builder has them.
	Platforms []ocispecs.Platform
	// PlainHTTP lists the registries its buildkitd.toml speaks plain HTTP
	// to ([registry."HOST"] http = true).
	PlainHTTP []string
}

// ErrUnknownBuilder is returned for a name that is neither a builder nor a
// Docker context.
var ErrUnknownBuilder = cerrdefs.ErrNotFound.WithMessage("no builder found")

// Selected names the builder a command uses when --builder is empty:
// XBUILD_BUILDER, then BUILDX_BUILDER, then `xbuild use`, then the current
// Docker context.
func (r *Resolver) Selected() (string, error) {
	for _, k := range []string{"XBUILD_BUILDER", "BUILDX_BUILDER"} {
		if v := r.Getenv(k); v != "" {
			return v, nil
		}
	}
	var cur string
	err := r.Store.View(func(tx *store.Txn) error {
		var err error
		cur, err = tx.Current()
		return err
	})
	if err != nil || cur != "" {
		return cur, err
	}
	return r.currentContext()
}

func (r *Resolver) currentContext() (string, error) {
	ep, err := engine.Current(r.Getenv)
	if err != nil {
		return "", err
	}
	return ep.Context, nil
}

// Resolve returns the instance for name; empty name means Selected.
func (r *Resolver) Resolve(ctx context.Context, name string) (*Instance, error) {
	if name == "" {
		var err error
		if name, err = r.Selected(); err != nil {
			return nil, err
		}
	}
	var b *store.Builder
	err := r.Store.ViewContext(ctx, func(tx *store.Txn) error {
		var err error
		b, err = tx.Get(name)
		return err
	})
	switch {
	case err == nil:
		return r.fromStore(ctx, b)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return r.fromContext(ctx, name)
}

func (r *Resolver) fromStore(ctx context.Context, b *store.Builder) (*Instance, error) {
	inst := &Instance{Name: b.Name, Driver: b.Driver}
	loadEngine, _ := engine.Current(r.Getenv) // a build that does not load needs no engine
	for _, n := range b.Nodes {
		f, err := r.Drivers.Factory(cmp.Or(n.Driver, b.Driver))
		if err != nil {
			return nil, fmt.Errorf("builder %q node %q: %w", b.Name, n.Name, err)
		}
		cfg := NodeConfig(b.Name, n, r.Getenv)
		cfg.LoadEngine = loadEngine
		d, err := f.New(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("builder %q node %q: %w", b.Name, n.Name, err)
		}
		inst.Nodes = append(inst.Nodes, Node{Name: n.Name, Endpoint: n.Endpoint, Driver: d, Platforms: n.Platforms,
			PlainHTTP: plainHTTPRegistries(n.Files[store.BuildkitdConfigFile])})
	}
	r.setSBOMGenerator(inst, b.SBOMGenerator)
	if len(inst.Nodes) == 0 {
		return nil, fmt.Errorf("builder %q has no nodes: remove it with `xbuild rm %s` and create it again", b.Name, b.Name)
	}
	return inst, nil
}

func (r *Resolver) fromContext(ctx context.Context, name string) (*Instance, error) {
	ep, err := engine.Named(r.Getenv, name)
	if errors.Is(err, engine.ErrNoContext) {
		return nil, fmt.Errorf("%w named %q: run `xbuild ls` to list builders, or create one with `xbuild create --name %s`", ErrUnknownBuilder, name, name)
	}
	if err != nil {
		return nil, err
	}
	f, err := r.Drivers.Factory(DefaultDriver)
	if err != nil {
		return nil, err
	}
	endpoint := name
	if name == engine.DefaultContext {
		endpoint = ep.Host
	}
	d, err := f.New(ctx, driver.Config{Builder: name, Node: name, Endpoint: endpoint, LoadEngine: ep, Getenv: r.Getenv})
	if err != nil {
		return nil, err
	}
	inst := &Instance{
		Name: name, Driver: DefaultDriver, FromContext: true,
		Nodes: []Node{{Name: name, Endpoint: ep.Host, Driver: d}},
	}
	r.setSBOMGenerator(inst, "")
	return inst, nil
}

// NodeConfig is what a driver factory gets for a stored node: the one
// place a node's state turns into a driver's configuration.
func NodeConfig(builderName string, n store.Node, getenv engine.Env) driver.Config {
	return driver.Config{
		Builder: builderName, Node: n.Name, Endpoint: n.Endpoint, Options: n.DriverOpts,
		Getenv: getenv, BuildkitdFlags: n.Flags, BuildkitdConfig: n.Files[store.BuildkitdConfigFile], Platforms: n.Platforms,
	}
}

// All lists every builder: those of the store, then the Docker contexts'.
// A stored builder that cannot be loaded is listed with Err set.
func (r *Resolver) All(ctx context.Context) ([]*Instance, error) {
	var bs []*store.Builder
	if err := r.Store.View(func(tx *store.Txn) error {
		var err error
		bs, err = tx.List()
		return err
	}); err != nil {
		return nil, err
	}
	var out []*Instance
	for _, b := range bs {
		if b.Err != nil {
			out = append(out, &Instance{Name: b.Name, Err: b.Err})
			continue
		}
		inst, err := r.fromStore(ctx, b)
		if err != nil {
			inst = &Instance{Name: b.Name, Driver: b.Driver, Err: err}
		}
		out = append(out, inst)
	}
	ctxName, err := r.currentContext()
	if err != nil {
		ctxName = engine.DefaultContext
	}
	names := []string{engine.DefaultContext}
	if ctxName != engine.DefaultContext {
		names = append(names, ctxName)
	}
	for _, n := range names {
		inst, err := r.fromContext(ctx, n)
		if err != nil {
			continue
		}
		out = append(out, inst)
	}
	return out, nil
}
