package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/kubernetes"
)

// runAppend adds a node to an existing builder (create --append). Builds
// then send each platform to the node created for it.
func runAppend(ctx context.Context, env *Env, endpoint string, o *createOptions) error {
	if o.sbomGen != "" {
		return errors.New("--sbom-generator belongs to the builder, not a node: give it when the builder is created")
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	b, err := builderToAppendTo(r.Store, o.name)
	if err != nil {
		return err
	}
	node, err := nodeToAppend(env, b, endpoint, o)
	if err != nil {
		return err
	}
	f, err := env.Drivers.Factory(cmp.Or(node.Driver, b.Driver))
	if err != nil {
		return err
	}
	d, err := f.New(ctx, builder.NodeConfig(o.name, node, env.Getenv))
	if err != nil {
		return err
	}
	if err := addNode(r.Store, o.name, node); err != nil {
		return err
	}
	if o.bootstrap {
		if err := d.Bootstrap(bootLogTo(ctx, env, node.Name)); err != nil {
			_ = d.Remove(context.WithoutCancel(ctx), driver.RemoveOptions{})
			_ = removeNode(r.Store, o.name, node.Name)
			return fmt.Errorf("booting node %q of builder %q: %w", node.Name, o.name, err)
		}
	}
	if o.use {
		if err := r.Store.Update(func(tx *store.Txn) error { return tx.SetCurrent(o.name) }); err != nil {
			return err
		}
	}
	fmt.Fprintln(env.Stdout, o.name)
	return nil
}

func builderToAppendTo(st *store.Store, name string) (*store.Builder, error) {
	var b *store.Builder
	err := st.View(func(tx *store.Txn) error {
		var err error
		b, err = tx.Get(name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no builder %q to append to: create it first with `xbuild create --name %s`", name, name)
	}
	return b, err
}

// nodeToAppend checks and makes the state of the node --append adds.
func nodeToAppend(env *Env, b *store.Builder, endpoint string, o *createOptions) (store.Node, error) {
	drv := b.Driver
	if o.driver != "" {
		// A node may run on another driver than the builder's first one
		// (a docker-container node beside remote ones).
		drv = o.driver
	}
	if drv == builder.DefaultDriver || b.Driver == builder.DefaultDriver {
		return store.Node{}, fmt.Errorf("builder %q: the docker driver's only node is the engine's own builder: create a builder with another driver to have several nodes", o.name)
	}
	if drv == "remote" && endpoint == "" {
		return store.Node{}, errors.New("--append needs the new node's ENDPOINT (tcp://, unix://, ssh://, docker-container:// or kube-pod://)")
	}
	if endpoint == "" && engineDrivers[drv] {
		endpoint = engineEndpoint(env.Getenv)
	}
	name := o.node
	switch {
	case drv == kubernetes.Name:
		var err error
		if name, endpoint, err = kubernetesNode(env, o.name, o.node, endpoint, b); err != nil {
			return store.Node{}, err
		}
	case name == "":
		name = freeNodeName(b)
	}
	node, err := newNodeState(o, name, endpoint, drv)
	if err != nil {
		return store.Node{}, err
	}
	if drv != b.Driver {
		node.Driver = drv
	}
	return node, nil
}

// addNode adds node to the builder, read again under the write lock:
// another xbuild may have changed it since.
func addNode(st *store.Store, builderName string, node store.Node) error {
	return st.Update(func(tx *store.Txn) error {
		b, err := tx.Get(builderName)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(b.Nodes, func(n store.Node) bool { return n.Name == node.Name }) {
			return fmt.Errorf("builder %q already has a node %q: pick another --node, or remove it with `xbuild create --leave --name %s --node %s`", builderName, node.Name, builderName, node.Name)
		}
		b.Nodes = append(b.Nodes, node)
		return tx.Put(b)
	})
}

// runLeave removes a node from a builder (create --leave) and stops what
// the driver ran for it. The last node goes only with the builder.
func runLeave(ctx context.Context, env *Env, o *createOptions) error {
	if o.node == "" {
		return errors.New("--leave needs --node: the name of the node to remove (see `xbuild inspect " + o.name + "`)")
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	var b *store.Builder
	if err := r.Store.View(func(tx *store.Txn) error {
		var err error
		b, err = tx.Get(o.name)
		return err
	}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no builder %q: run `xbuild ls` to list builders", o.name)
		}
		return err
	}
	i := slices.IndexFunc(b.Nodes, func(n store.Node) bool { return n.Name == o.node })
	if i < 0 {
		return fmt.Errorf("builder %q has no node %q: `xbuild inspect %s` lists its nodes", o.name, o.node, o.name)
	}
	if len(b.Nodes) == 1 {
		return fmt.Errorf("node %q is the last of builder %q: remove the builder with `xbuild rm %s`", o.node, o.name, o.name)
	}
	n := b.Nodes[i]
	f, err := env.Drivers.Factory(cmp.Or(n.Driver, b.Driver))
	if err != nil {
		return err
	}
	d, err := f.New(ctx, builder.NodeConfig(o.name, n, env.Getenv))
	if err != nil {
		return err
	}
	if err := d.Remove(ctx, driver.RemoveOptions{}); err != nil {
		return fmt.Errorf("removing node %q: %w", n.Name, err)
	}
	return removeNode(r.Store, o.name, o.node)
}

func removeNode(s *store.Store, builderName, nodeName string) error {
	return s.Update(func(tx *store.Txn) error {
		b, err := tx.Get(builderName)
		if err != nil {
			return err
		}
		b.Nodes = slices.DeleteFunc(b.Nodes, func(n store.Node) bool { return n.Name == nodeName })
		return tx.Put(b)
	})
}

// freeNodeName names an appended node like buildx does, NAME followed by
// the first unused number.
func freeNodeName(b *store.Builder) string {
	for i := len(b.Nodes); ; i++ {
		name := fmt.Sprintf("%s%d", b.Name, i)
		if !slices.ContainsFunc(b.Nodes, func(n store.Node) bool { return n.Name == name }) {
			return name
		}
	}
}
