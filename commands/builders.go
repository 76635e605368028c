package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
)

type createOptions struct {
	name       string
	driver     string
	driverOpts []string
	platforms  []string
	use        bool
	bootstrap  bool
	sbomGen    string
	node       string
	appendNode bool
	leave      bool
}

func newCreateCommand(env *Env) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [ENDPOINT]",
		Short: "Create a new builder instance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			endpoint := ""
			if len(args) == 1 {
				endpoint = args[0]
			}
			return runCreate(cmd.Context(), env, endpoint, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "Builder instance name")
	f.StringVar(&o.driver, "driver", "", `Driver to use (available: "docker", "remote", "local")`)
	f.StringArrayVar(&o.driverOpts, "driver-opt", nil, "Options for the driver")
	f.StringArrayVar(&o.platforms, "platform", nil, "Fixed platforms for current node")
	f.BoolVar(&o.use, "use", false, "Set the current builder instance")
	f.BoolVar(&o.bootstrap, "bootstrap", false, "Boot builder after creation")
	f.StringVar(&o.sbomGen, "sbom-generator", "", "Image that makes SBOMs for this builder when --sbom names no generator")
	f.StringVar(&o.node, "node", "", "Create, append or remove the node of this name")
	f.BoolVar(&o.appendNode, "append", false, "Append a node to the builder --name names")
	f.BoolVar(&o.leave, "leave", false, "Remove the node --node names from the builder")
	return cmd
}

func runCreate(ctx context.Context, env *Env, endpoint string, o *createOptions) error {
	if o.name == "" {
		return errors.New("--name is required: give the builder a name")
	}
	if err := store.ValidateName(o.name); err != nil {
		return err
	}
	if o.node != "" {
		if err := store.ValidateName(o.node); err != nil {
			return fmt.Errorf("--node: %w", err)
		}
	}
	switch {
	case o.leave && o.appendNode:
		return errors.New("--append and --leave cannot be used together")
	case o.leave:
		return runLeave(ctx, env, o)
	case o.appendNode:
		return runAppend(ctx, env, endpoint, o)
	}
	drv := o.driver
	if drv == "" {
		if endpoint == "" {
			return errors.New("--driver is required (docker, remote or local)")
		}
		drv = "remote"
		if !strings.Contains(endpoint, "://") {
			drv = "docker"
		}
	}
	if drv == "remote" && endpoint == "" {
		endpoint = env.Getenv("BUILDKIT_HOST")
	}
	opts, err := parseDriverOpts(o.driverOpts)
	if err != nil {
		return err
	}
	if o.sbomGen != "" {
		if err := builder.ValidateSBOMGenerator(o.sbomGen); err != nil {
			return fmt.Errorf("--sbom-generator: %w", err)
		}
	}
	plats, err := builder.ParsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	f, err := env.Drivers.Factory(drv)
	if err != nil {
		return err
	}
	// Checking the configuration now keeps a broken builder out of the store.
	nodeName := o.node
	if nodeName == "" {
		nodeName = o.name + "0"
	}
	d, err := f.New(ctx, driver.Config{Builder: o.name, Node: nodeName, Endpoint: endpoint, Options: opts, Getenv: env.Getenv})
	if err != nil {
		return err
	}
	b := &store.Builder{
		Name: o.name, Driver: drv, Created: time.Now().UTC(),
		Nodes:         []store.Node{{Name: nodeName, Endpoint: endpoint, DriverOpts: opts, Platforms: formatPlatforms(plats)}},
		SBOMGenerator: o.sbomGen,
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
		if err := d.Bootstrap(ctx); err != nil {
			_ = d.Remove(context.WithoutCancel(ctx), driver.RemoveOptions{})
			_ = r.Store.Update(func(tx *store.Txn) error { return tx.Remove(o.name) })
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

func newUseCommand(env *Env) *cobra.Command {
	var isDefault bool
	cmd := &cobra.Command{
		Use:   "use [OPTIONS] NAME",
		Short: "Set the current builder instance",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := env.resolver()
			if err != nil {
				return err
			}
			inst, err := r.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			name := inst.Name
			if inst.FromContext {
				// A context builder follows the Docker context; the store
				// only remembers real builders.
				name = ""
			}
			return r.Store.Update(func(tx *store.Txn) error { return tx.SetCurrent(name) })
		},
	}
	cmd.Flags().BoolVar(&isDefault, "default", false, "Set builder as default for current context (accepted for buildx compatibility)")
	return cmd
}

func newLsCommand(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List builder instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := env.resolver()
			if err != nil {
				return err
			}
			all, err := r.All(cmd.Context())
			if err != nil {
				return err
			}
			current, _ := r.Selected()
			return printBuilders(cmd.Context(), env.Stdout, all, current)
		},
	}
}

func printBuilders(ctx context.Context, w io.Writer, all []*builder.Instance, current string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tDRIVER/ENDPOINT\tSTATUS\tBUILDKIT\tIMAGE STORE\tPLATFORMS")
	for _, inst := range all {
		mark := ""
		if inst.Name == current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t\t\t\t\n", inst.Name, mark, inst.Driver)
		for _, n := range inst.Nodes {
			info := nodeInfo(ctx, n)
			fmt.Fprintf(tw, " \\_ %s\t \\_ %s\t%s\t%s\t%s\t%s\n", n.Name, n.Endpoint, info.Status,
				info.BuildKitVersion, info.Capabilities.ImageStore, nodePlatforms(n, info))
		}
	}
	return tw.Flush()
}

// resolveArg resolves the builder named by the argument, else --builder,
// else the selected one.
func resolveArg(ctx context.Context, newResolver func() (*builder.Resolver, error), flag string, args []string) (*builder.Resolver, *builder.Instance, error) {
	name := flag
	if len(args) == 1 {
		name = args[0]
	}
	r, err := newResolver()
	if err != nil {
		return nil, nil, err
	}
	inst, err := r.Resolve(ctx, name)
	return r, inst, err
}

func nodeInfo(ctx context.Context, n builder.Node) driver.Info {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return n.Driver.Info(ctx)
}

func newInspectCommand(env *Env, builderName *string) *cobra.Command {
	var bootstrap bool
	cmd := &cobra.Command{
		Use:   "inspect [NAME]",
		Short: "Inspect current builder instance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The SBOM generator shown is the one a build would use, so
			// inspect reads the settings a build reads.
			s, err := readSettings(env.Getenv)
			if err != nil {
				return err
			}
			_, inst, err := resolveArg(cmd.Context(), func() (*builder.Resolver, error) { return s.resolver(env) }, *builderName, args)
			if err != nil {
				return err
			}
			if bootstrap {
				for _, n := range inst.Nodes {
					if err := n.Driver.Bootstrap(cmd.Context()); err != nil {
						return fmt.Errorf("booting builder %q: %w", inst.Name, err)
					}
				}
			}
			return printInspect(cmd.Context(), env.Stdout, inst)
		},
	}
	cmd.Flags().BoolVar(&bootstrap, "bootstrap", false, "Ensure builder has booted before inspecting")
	return cmd
}

func printInspect(ctx context.Context, w io.Writer, inst *builder.Instance) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", inst.Name)
	fmt.Fprintf(tw, "Driver:\t%s\n", inst.Driver)
	if inst.SBOMGenerator != "" {
		fmt.Fprintf(tw, "SBOM generator:\t%s (from %s)\n", inst.SBOMGenerator, inst.SBOMGeneratorFrom)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "Nodes:\n")
	for i, n := range inst.Nodes {
		info := nodeInfo(ctx, n)
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "Name:\t%s\n", n.Name)
		fmt.Fprintf(tw, "Endpoint:\t%s\n", n.Endpoint)
		fmt.Fprintf(tw, "Status:\t%s\n", info.Status)
		if info.Err != nil {
			fmt.Fprintf(tw, "Error:\t%s\n", info.Err)
			continue
		}
		fmt.Fprintf(tw, "BuildKit version:\t%s\n", info.BuildKitVersion)
		fmt.Fprintf(tw, "Platforms:\t%s\n", nodePlatforms(n, info))
		c := info.Capabilities
		fmt.Fprintf(tw, "Image store:\t%s\n", c.ImageStore)
		fmt.Fprintf(tw, "Load:\t%s (into %s)\n", c.Load, c.LoadEngine.Host)
		fmt.Fprintf(tw, "Multi-platform:\t%t\n", c.MultiPlatform)
		fmt.Fprintf(tw, "Exporters:\t%s\n", strings.Join(c.Exporters, ", "))
	}
	return tw.Flush()
}

func newRmCommand(env *Env, builderName *string) *cobra.Command {
	var keepState bool
	cmd := &cobra.Command{
		Use:   "rm [NAME]",
		Short: "Remove a builder instance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, inst, err := resolveArg(cmd.Context(), env.resolver, *builderName, args)
			if err != nil {
				return err
			}
			if inst.FromContext {
				return fmt.Errorf("builder %q stands for a Docker context and cannot be removed", inst.Name)
			}
			for _, n := range inst.Nodes {
				if err := n.Driver.Remove(cmd.Context(), driver.RemoveOptions{KeepState: keepState}); err != nil {
					return fmt.Errorf("removing node %q: %w", n.Name, err)
				}
			}
			return r.Store.Update(func(tx *store.Txn) error { return tx.Remove(inst.Name) })
		},
	}
	cmd.Flags().BoolVar(&keepState, "keep-state", false, "Keep BuildKit state")
	return cmd
}

// nodePlatforms lists the platforms a node was created for first, marked
// with "*" as buildx marks them, then the others its workers run.
func nodePlatforms(n builder.Node, info driver.Info) string {
	var out []string
	seen := map[string]bool{}
	for _, p := range n.Platforms {
		seen[builder.FormatPlatform(p)] = true
		out = append(out, builder.FormatPlatform(p)+"*")
	}
	for _, p := range info.Platforms {
		if k := builder.FormatPlatform(p); !seen[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

func formatPlatforms(ps []ocispecs.Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = builder.FormatPlatform(p)
	}
	return out
}

// parseDriverOpts reads --driver-opt values, each a comma-separated list of
// key=value, as buildx takes them.
func parseDriverOpts(in []string) (map[string]string, error) {
	var kvs []string
	for _, v := range in {
		fields, err := exporter.CSVFields(v)
		if err != nil {
			return nil, fmt.Errorf("invalid --driver-opt %q: %w", v, err)
		}
		kvs = append(kvs, fields...)
	}
	return parseKeyValues("--driver-opt", kvs, nil)
}
