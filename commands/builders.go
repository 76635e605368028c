package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
)

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
	// xbuild keeps one current builder, whatever the context: both flags
	// are taken so buildx command lines run unchanged.
	cmd.Flags().BoolVar(&isDefault, "default", false, "Set builder as default for current context")
	cmd.Flags().BoolVar(&isDefault, "global", false, "Builder persists context changes")
	return cmd
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
	first := true
	for _, n := range inst.Nodes {
		info := nodeInfo(ctx, n)
		// A node of several daemons (a kubernetes node's pods) is listed
		// as one node per daemon, as buildx lists them.
		for _, name := range replicaNames(n, info) {
			if !first {
				fmt.Fprintln(tw)
			}
			first = false
			printInspectNode(tw, n, name, info)
		}
	}
	return tw.Flush()
}

func replicaNames(n builder.Node, info driver.Info) []string {
	if len(info.Replicas) == 0 {
		return []string{n.Name}
	}
	names := make([]string, len(info.Replicas))
	for i, r := range info.Replicas {
		names[i] = r.Name
	}
	return names
}

func printInspectNode(tw io.Writer, n builder.Node, name string, info driver.Info) {
	status := info.Status
	for _, r := range info.Replicas {
		if r.Name == name {
			status = r.Status
		}
	}
	fmt.Fprintf(tw, "Name:\t%s\n", name)
	fmt.Fprintf(tw, "Endpoint:\t%s\n", n.Endpoint)
	fmt.Fprintf(tw, "Status:\t%s\n", status)
	if info.Err != nil {
		fmt.Fprintf(tw, "Error:\t%s\n", info.Err)
		return
	}
	fmt.Fprintf(tw, "BuildKit version:\t%s\n", info.BuildKitVersion)
	fmt.Fprintf(tw, "Platforms:\t%s\n", nodePlatforms(n, info))
	c := info.Capabilities
	fmt.Fprintf(tw, "Image store:\t%s\n", c.ImageStore)
	fmt.Fprintf(tw, "Load:\t%s (into %s)\n", c.Load, c.LoadEngine.Host)
	fmt.Fprintf(tw, "Multi-platform:\t%t\n", c.MultiPlatform)
	fmt.Fprintf(tw, "Exporters:\t%s\n", strings.Join(c.Exporters, ", "))
}

func newStopCommand(env *Env, builderName *string) *cobra.Command {
	return &cobra.Command{
		Use:   "stop [NAME]",
		Short: "Stop builder instance",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, inst, err := resolveArg(cmd.Context(), env.resolver, *builderName, args)
			if err != nil {
				return err
			}
			for _, n := range inst.Nodes {
				// A driver whose daemon is not its own (docker, remote) has
				// nothing to stop, as with buildx.
				if s, ok := n.Driver.(driver.Stopper); ok {
					if err := s.Stop(cmd.Context()); err != nil {
						return fmt.Errorf("stopping node %q of builder %q: %w", n.Name, inst.Name, err)
					}
				}
			}
			return nil
		},
	}
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
