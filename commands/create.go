package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/pkg/namesgenerator"
	"github.com/google/shlex"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/container"
	"github.com/xbuild/xbuild/driver/kubernetes"
	"github.com/xbuild/xbuild/engine"
)

// defaultCreateDriver is what `create` makes without --driver, as buildx.
const defaultCreateDriver = container.Name

// daemonDrivers start the daemon they talk to, so they take its flags and
// configuration.
var daemonDrivers = map[string]bool{container.Name: true, kubernetes.Name: true}

// engineDrivers run on a Docker Engine, which a node's endpoint names.
var engineDrivers = map[string]bool{container.Name: true, builder.DefaultDriver: true}

// engineEndpoint is the endpoint buildx's create keeps for a node of an
// engineDrivers driver given none: the current Docker context's name, or
// the default context's host. Both tools share the builder, and buildx
// reads an empty endpoint as the local socket, whatever DOCKER_HOST says.
// Empty when the engine's TLS comes from the environment, which no
// endpoint can name (buildx refuses to create such a builder; xbuild keeps
// following the environment).
func engineEndpoint(getenv engine.Env) string {
	ep, err := engine.Current(getenv)
	if err != nil || ep.Context == engine.DefaultContext && ep.TLSDir != "" {
		return ""
	}
	return store.EndpointKey(ep.Context, ep.Host)
}

type createOptions struct {
	name            string
	driver          string
	driverOpts      []string
	platforms       []string
	use             bool
	bootstrap       bool
	sbomGen         string
	node            string
	appendNode      bool
	leave           bool
	buildkitdFlags  string
	buildkitdConfig string
	timeout         time.Duration
	timeoutGiven    bool
}

func newCreateCommand(env *Env) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [CONTEXT|ENDPOINT]",
		Short: "Create a new builder instance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			endpoint := ""
			if len(args) == 1 {
				endpoint = args[0]
			}
			// buildx's default bounds only loading the nodes' status, never
			// a --bootstrap that pulls an image: a limit of our own applies
			// only when asked for.
			o.timeoutGiven = cmd.Flags().Changed("timeout")
			return runCreate(cmd.Context(), env, endpoint, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "Builder instance name (default: a generated one)")
	f.StringVar(&o.driver, "driver", "", `Driver to use (available: "docker-container", "docker", "kubernetes", "remote", "local"; default "docker-container")`)
	f.StringArrayVar(&o.driverOpts, "driver-opt", nil, "Options for the driver")
	f.StringArrayVar(&o.platforms, "platform", nil, "Fixed platforms for current node")
	f.BoolVar(&o.use, "use", false, "Set the current builder instance")
	f.BoolVar(&o.bootstrap, "bootstrap", false, "Boot builder after creation")
	f.StringVar(&o.sbomGen, "sbom-generator", "", "Image that makes SBOMs for this builder when --sbom names no generator")
	f.StringVar(&o.node, "node", "", "Create, append or remove the node of this name")
	f.BoolVar(&o.appendNode, "append", false, "Append a node to the builder --name names")
	f.BoolVar(&o.leave, "leave", false, "Remove the node --node names from the builder")
	f.StringVar(&o.buildkitdFlags, "buildkitd-flags", "", "BuildKit daemon flags")
	f.StringVar(&o.buildkitdConfig, "buildkitd-config", "", "BuildKit daemon config file")
	f.DurationVar(&o.timeout, "timeout", defaultCreateTimeout, "Time the daemons have to answer when given, --bootstrap included (0: no limit)")
	return cmd
}

// defaultCreateTimeout is buildx's --timeout default.
const defaultCreateTimeout = 20 * time.Second

// errCreateTimeout is the cause of a create's context when --timeout ran
// out, told apart from a Ctrl-C or a daemon's own deadline.
var errCreateTimeout = errors.New("--timeout ran out")

// runCreate bounds the command's work with daemons by a --timeout given: what
// expires is undone as on any failure (a builder that did not boot is not
// saved), and the error names the builder and the limit.
func runCreate(ctx context.Context, env *Env, endpoint string, o *createOptions) error {
	if o.timeout < 0 {
		return fmt.Errorf("invalid --timeout %s: give a duration such as 1m, or 0 for no limit", o.timeout)
	}
	if o.timeout > 0 && o.timeoutGiven {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, errCreateTimeout)
		defer cancel()
	}
	err := create(ctx, env, endpoint, o)
	if err != nil && errors.Is(context.Cause(ctx), errCreateTimeout) {
		return fmt.Errorf("builder %q: the daemons did not finish within --timeout %s (give more time with --timeout, or 0 for no limit): %w", o.name, o.timeout, err)
	}
	return err
}

func create(ctx context.Context, env *Env, endpoint string, o *createOptions) error {
	if err := checkCreateNames(o); err != nil {
		return err
	}
	switch {
	case o.leave && o.appendNode:
		return errors.New("--append and --leave cannot be used together")
	case o.leave:
		return runLeave(ctx, env, o)
	case o.appendNode:
		return runAppend(ctx, env, endpoint, o)
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	if o.name == "" {
		if o.name, err = generateName(r.Store); err != nil {
			return err
		}
	}
	b, d, err := newBuilderState(ctx, env, endpoint, o)
	if err != nil {
		return err
	}
	if err := r.Store.Update(func(tx *store.Txn) error { return tx.Create(b) }); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("builder %q already exists: pick another --name, or remove it with `xbuild rm %s`", o.name, o.name)
		}
		return err
	}
	// Saved first, so a daemon the bootstrap starts always belongs to a
	// builder; a failed bootstrap takes both away again.
	if o.bootstrap {
		if err := d.Bootstrap(bootLogTo(ctx, env, b.Nodes[0].Name)); err != nil {
			if rmErr := r.Remove(context.WithoutCancel(ctx), o.name, driver.RemoveOptions{}); rmErr != nil {
				err = errors.Join(err, rmErr)
			}
			return fmt.Errorf("booting builder %q: %w", o.name, err)
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

func checkCreateNames(o *createOptions) error {
	if o.name == "" && (o.appendNode || o.leave) {
		return errors.New("--append and --leave need --name: the builder to change")
	}
	if o.name != "" {
		if err := store.ValidateName(o.name); err != nil {
			return err
		}
	}
	if o.node != "" {
		if err := store.ValidateName(o.node); err != nil {
			return fmt.Errorf("--node: %w", err)
		}
	}
	// Names are lowercase, as buildx stores them, so that what we print
	// and select is the name both tools list.
	o.name, o.node = strings.ToLower(o.name), strings.ToLower(o.node)
	return nil
}

// generateName picks a free name the way buildx does (adjective_surname),
// so generated builders look alike in both tools.
func generateName(st *store.Store) (string, error) {
	for i := range 6 {
		name := namesgenerator.GetRandomName(i)
		err := st.View(func(tx *store.Txn) error { _, err := tx.Get(name); return err })
		if errors.Is(err, store.ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no free builder name found: give one with --name")
}

// newBuilderState checks every input of a new builder and makes its first
// node's driver, so a broken builder never reaches the store.
func newBuilderState(ctx context.Context, env *Env, endpoint string, o *createOptions) (*store.Builder, driver.Driver, error) {
	drv := o.driver
	if drv == "" {
		drv = defaultCreateDriver
	}
	if drv == "remote" && endpoint == "" {
		endpoint = env.Getenv("BUILDKIT_HOST")
	}
	if endpoint == "" && engineDrivers[drv] {
		endpoint = engineEndpoint(env.Getenv)
	}
	nodeName := o.node
	var err error
	switch {
	case drv == kubernetes.Name:
		if nodeName, endpoint, err = kubernetesNode(env, o.name, o.node, endpoint, nil); err != nil {
			return nil, nil, err
		}
	case nodeName == "":
		nodeName = o.name + "0"
	}
	node, err := newNodeState(o, nodeName, endpoint, drv)
	if err != nil {
		return nil, nil, err
	}
	if o.sbomGen != "" {
		if err := builder.ValidateSBOMGenerator(o.sbomGen); err != nil {
			return nil, nil, fmt.Errorf("--sbom-generator: %w", err)
		}
	}
	f, err := env.Drivers.Factory(drv)
	if err != nil {
		return nil, nil, err
	}
	d, err := f.New(ctx, builder.NodeConfig(o.name, node, env.Getenv))
	if err != nil {
		return nil, nil, err
	}
	b := &store.Builder{Name: o.name, Driver: drv, Created: time.Now().UTC(), Nodes: []store.Node{node}, SBOMGenerator: o.sbomGen}
	return b, d, nil
}

// newNodeState reads the node's own flags: options, platforms, and the
// daemon's flags and configuration for drivers that start it.
func newNodeState(o *createOptions, name, endpoint, drv string) (store.Node, error) {
	n := store.Node{Name: name, Endpoint: endpoint}
	var err error
	if n.DriverOpts, err = parseDriverOpts(o.driverOpts); err != nil {
		return store.Node{}, err
	}
	plats, err := builder.ParsePlatforms(o.platforms)
	if err != nil {
		return store.Node{}, err
	}
	n.Platforms = plats
	if (o.buildkitdFlags != "" || o.buildkitdConfig != "") && !daemonDrivers[drv] {
		return store.Node{}, fmt.Errorf("--buildkitd-flags and --buildkitd-config need a driver that starts BuildKit (%s or %s): the %s driver talks to a daemon it does not run", container.Name, kubernetes.Name, drv)
	}
	if n.Flags, err = shlex.Split(o.buildkitdFlags); err != nil {
		return store.Node{}, fmt.Errorf("invalid --buildkitd-flags %q: %w", o.buildkitdFlags, err)
	}
	if o.buildkitdConfig != "" {
		data, err := os.ReadFile(o.buildkitdConfig)
		if err != nil {
			return store.Node{}, fmt.Errorf("reading --buildkitd-config: %w", err)
		}
		n.Files = map[string][]byte{store.BuildkitdConfigFile: data}
	}
	return n, nil
}
