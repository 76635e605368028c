package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/engine"
)

type lsOptions struct {
	format  string
	noTrunc bool
	timeout time.Duration
}

func newLsCommand(env *Env) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List builder instances",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLs(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", `Format the output ("table", "json", or a Go template)`)
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "Override the default timeout for loading builder status")
	return cmd
}

func runLs(ctx context.Context, env *Env, o lsOptions) error {
	render, err := lsRenderer(o.format)
	if err != nil {
		return err
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	all, err := r.All(ctx)
	if err != nil {
		return err
	}
	current, _ := r.Selected()
	rows := make([]lsBuilder, len(all))
	for i, inst := range all {
		nodes := lsNodes(ctx, inst, o.timeout)
		rows[i] = lsBuilder{Name: inst.Name, Driver: inst.Driver, Dynamic: inst.FromContext || allReplicas(nodes), Current: inst.Name == current,
			Nodes: nodes}
		if inst.Err != nil {
			rows[i].Err = inst.Err.Error()
		}
	}
	if err := render(env.Stdout, rows, !o.noTrunc); err != nil {
		return err
	}
	// A builder that cannot be loaded is listed, and why is said after the
	// list, in buildx's words.
	for _, b := range rows {
		if b.Err != "" {
			fmt.Fprintf(env.Stderr, "Cannot load builder %s: %s\n", b.Name, b.Err)
		}
	}
	return nil
}

// lsBuilder is one builder as `ls --format json` prints it: buildx's field
// names, so scripts reading either tool's output read both.
type lsBuilder struct {
	Name    string
	Driver  string
	Dynamic bool
	Nodes   []lsNode
	Current bool
	Err     string `json:",omitempty"`
}

type lsNode struct {
	Name       string
	Endpoint   string
	Flags      []string          `json:",omitempty"`
	DriverOpts map[string]string `json:",omitempty"`
	Status     string            `json:",omitempty"`
	Version    string            `json:",omitempty"`
	Err        string            `json:",omitempty"`
	Platforms  []string          `json:",omitempty"`
	// ImageStore is xbuild's own: the store --load writes to.
	ImageStore string `json:",omitempty"`
	// replica: the row is one daemon of a node that runs several.
	replica   bool
	platforms string
}

// lsNodes asks every node for its state at once, each within timeout, so
// one unreachable node costs the listing one timeout, not one per node.
func lsNodes(ctx context.Context, inst *builder.Instance, timeout time.Duration) []lsNode {
	each := make([][]lsNode, len(inst.Nodes))
	var wg sync.WaitGroup
	for i, n := range inst.Nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			info := n.Driver.Info(ctx)
			ln := lsNode{Name: n.Name, Endpoint: nodeEndpoint(n), Status: string(info.Status), Version: info.BuildKitVersion,
				platforms: nodePlatforms(n, info)}
			if info.Err != nil && info.Status != driver.StatusRunning {
				ln.Err = info.Err.Error()
			}
			for _, p := range info.Platforms {
				ln.Platforms = append(ln.Platforms, builder.FormatPlatform(p))
			}
			if info.Status == driver.StatusRunning {
				ln.ImageStore = string(info.Capabilities.ImageStore)
			}
			each[i] = replicaRows(ln, info)
		})
	}
	wg.Wait()
	var out []lsNode
	for _, rows := range each {
		out = append(out, rows...)
	}
	return out
}

// replicaRows lists a node of several daemons (a kubernetes node's pods)
// as one row per daemon, as buildx does.
func replicaRows(ln lsNode, info driver.Info) []lsNode {
	if len(info.Replicas) == 0 {
		return []lsNode{ln}
	}
	rows := make([]lsNode, len(info.Replicas))
	for i, r := range info.Replicas {
		row := ln
		row.Name, row.Status, row.replica = r.Name, string(r.Status), true
		rows[i] = row
	}
	return rows
}

// allReplicas: every row is a daemon of a node that runs several, as
// buildx marks a builder whose nodes it found at run time (Dynamic).
func allReplicas(rows []lsNode) bool {
	for _, r := range rows {
		if !r.replica {
			return false
		}
	}
	return len(rows) > 0
}

// nodeEndpoint is where a node runs: its endpoint, or for a node on the
// current Docker context the engine that context names, as buildx shows it.
func nodeEndpoint(n builder.Node) string {
	if n.Endpoint != "" {
		return n.Endpoint
	}
	if e, ok := n.Driver.(interface{ Endpoint() engine.Endpoint }); ok {
		return e.Endpoint().Host
	}
	return ""
}

type lsRender func(w io.Writer, rows []lsBuilder, trunc bool) error

// lsRenderer checks --format before any daemon is asked.
func lsRenderer(format string) (lsRender, error) {
	switch format {
	case "", "table":
		return lsTable, nil
	case "json":
		return lsJSON, nil
	}
	tmpl, err := template.New("ls").Parse(strings.TrimPrefix(format, "table "))
	if err != nil {
		return nil, fmt.Errorf("invalid --format template: %w", err)
	}
	return func(w io.Writer, rows []lsBuilder, trunc bool) error { return lsTemplate(w, tmpl, rows, trunc) }, nil
}

func lsTable(w io.Writer, rows []lsBuilder, trunc bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tDRIVER/ENDPOINT\tSTATUS\tBUILDKIT\tIMAGE STORE\tPLATFORMS")
	for _, b := range rows {
		mark := ""
		if b.Current {
			mark = "*"
		}
		status := ""
		if b.Err != "" {
			status = "error"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t\t\t\n", b.Name, mark, b.Driver, status)
		for _, n := range b.Nodes {
			fmt.Fprintf(tw, " \\_ %s\t \\_ %s\t%s\t%s\t%s\t%s\n", n.Name, n.Endpoint, n.Status, n.Version,
				n.ImageStore, truncate(n.platforms, trunc))
		}
	}
	return tw.Flush()
}

// lsJSON prints one JSON object per builder and line, as buildx does.
func lsJSON(w io.Writer, rows []lsBuilder, _ bool) error {
	enc := json.NewEncoder(w)
	for _, b := range rows {
		if err := enc.Encode(b); err != nil {
			return err
		}
	}
	return nil
}

// lsRow is what a --format template sees: one row per builder, then one
// per node, with buildx's placeholders.
type lsRow struct {
	Name, DriverEndpoint, LastActivity, Status, Buildkit, Platforms, Error string
	Builder                                                                lsBuilder
}

func lsTemplate(w io.Writer, tmpl *template.Template, rows []lsBuilder, trunc bool) error {
	for _, b := range rows {
		name := b.Name
		if b.Current {
			name += "*"
		}
		out := []lsRow{{Name: name, DriverEndpoint: b.Driver, Error: b.Err, Builder: b}}
		for _, n := range b.Nodes {
			out = append(out, lsRow{Name: n.Name, DriverEndpoint: n.Endpoint, Status: n.Status, Buildkit: n.Version,
				Platforms: truncate(n.platforms, trunc), Error: n.Err, Builder: b})
		}
		for _, row := range out {
			if err := tmpl.Execute(w, row); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// truncate shortens a long platform list as buildx's table does, unless
// --no-trunc.
func truncate(s string, trunc bool) string {
	const max = 90
	if !trunc || len(s) <= max {
		return s
	}
	return s[:max-3] + "..."
}
