package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/docker/cli/templates"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

type historyInspectOptions struct {
	format string
}

func newHistoryInspectCommand(env *Env, builderName *string) *cobra.Command {
	var o historyInspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [REF]",
		Short: "Inspect a build record",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistoryInspect(cmd, env, *builderName, historyRefArg(args), &o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "pretty", "Format the output: pretty, json, or a Go template")
	cmd.AddCommand(newHistoryAttachmentCommand(env, builderName))
	return cmd
}

func runHistoryInspect(cmd *cobra.Command, env *Env, builderName, ref string, o *historyInspectOptions) error {
	ctx := cmd.Context()
	if err := checkHistoryRefs([]string{ref}); err != nil {
		return err
	}
	var tmpl *template.Template
	if o.format != "pretty" && o.format != "json" {
		var err error
		if tmpl, err = templates.Parse(o.format); err != nil {
			return fmt.Errorf("invalid --format %q: %w", o.format, err)
		}
	}
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	rec, err := findHistoryRecord(ctx, cmd, src, ref, false)
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	d, err := history.Inspect(ctx, rec, wd)
	if err != nil {
		return err
	}
	switch {
	case o.format == "json":
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case tmpl != nil:
		if err := tmpl.Execute(env.Stdout, d); err != nil {
			return fmt.Errorf("invalid --format: %w", err)
		}
		_, err := fmt.Fprintln(env.Stdout)
		return err
	}
	printHistoryDetails(env.Stdout, d, rec, historyInspectFooter{prog: historyProg(cmd), showRef: ref == ""})
	return nil
}

// historyInspectFooter is what the pretty output ends with.
type historyInspectFooter struct {
	prog    string
	showRef bool
}

// printHistoryDetails prints d as buildx's inspect does: blocks of
// aligned "Key: value" lines, then tables.
func printHistoryDetails(w io.Writer, d *history.Details, rec *history.Record, f historyInspectFooter) {
	block := func(lines [][2]string) {
		tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
		for _, l := range lines {
			if l[1] != "" {
				fmt.Fprintf(tw, "%s:\t%s\n", l[0], l[1])
			}
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	block(historySourceLines(d, f.showRef))
	printHistoryTable(w, "NAMED CONTEXT", d.NamedContexts)
	block(historyTimingLines(d))
	block(historyConfigLines(d.Config))
	printHistoryTable(w, "BUILD ARG", d.BuildArgs)
	printHistoryTable(w, "LABEL", d.Labels)
	if len(d.Materials) > 0 {
		fmt.Fprintln(w, "Materials:")
		rows := make([]history.KeyValue, len(d.Materials))
		for i, m := range d.Materials {
			rows[i] = history.KeyValue{Name: m.URI, Value: strings.Join(m.Digests, ", ")}
		}
		printHistoryColumns(w, []string{"URI", "DIGEST"}, rows)
	}
	if len(d.Attachments) > 0 {
		fmt.Fprintln(w, "Attachments:")
		tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
		fmt.Fprintln(tw, "DIGEST\tPLATFORM\tTYPE")
		for _, a := range d.Attachments {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Digest, a.Platform, a.Type)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	printHistoryError(w, d.Error)
	fmt.Fprintf(w, "Print build logs: %s history logs %s\n", f.prog, rec.Ref)
	fmt.Fprintf(w, "View build in Docker Desktop: %s\n", history.Link(rec.FullRef()))
}

func historySourceLines(d *history.Details, showRef bool) [][2]string {
	ref := ""
	if showRef {
		ref = d.Ref
	}
	keep := ""
	if d.KeepGitDir {
		keep = "true"
	}
	return [][2]string{
		{"Name", d.Name}, {"Ref", ref}, {"Context", d.Context}, {"Dockerfile", d.Dockerfile},
		{"VCS Repository", d.VCSRepository}, {"VCS Revision", d.VCSRevision}, {"Target", d.Target},
		{"Platforms", strings.Join(d.Platform, ", ")}, {"Keep Git Dir", keep},
	}
}

func historyTimingLines(d *history.Details) [][2]string {
	var started, status, errLine string
	if d.StartedAt != nil {
		started = d.StartedAt.Format("2006-01-02 15:04:05")
	}
	duration := historyDuration(d.Duration)
	switch d.Status {
	case history.StatusRunning:
		duration += " (running)"
	case history.StatusCanceled:
		status = "Canceled"
	case history.StatusFailed:
		errLine = d.Error.CodeName() + " " + d.Error.Message
	}
	var cached float64
	if d.NumTotalSteps > 0 {
		cached = float64(d.NumCachedSteps) / float64(d.NumTotalSteps) * 100
	}
	steps := fmt.Sprintf("%d/%d (%.0f%% cached)", d.NumCompletedSteps, d.NumTotalSteps, cached)
	return [][2]string{{"Started", started}, {"Duration", duration}, {"Error", errLine}, {"Status", status}, {"Build Steps", steps}}
}

func historyConfigLines(c history.Config) [][2]string {
	flag := func(b bool) string {
		if b {
			return strconv.FormatBool(b)
		}
		return ""
	}
	lines := [][2]string{
		{"Network", c.Network}, {"Hostname", c.Hostname}, {"Extra Hosts", strings.Join(c.ExtraHosts, ", ")},
		{"Cgroup Parent", c.CgroupParent}, {"Image Resolve Mode", c.ImageResolveMode},
		{"Multi-Platform", flag(c.MultiPlatform)}, {"No Cache", flag(c.NoCache)},
		{"No Cache Filter", strings.Join(c.NoCacheFilter, ", ")}, {"Shm Size", c.ShmSize},
		{"Resource Limits", c.Ulimit}, {"Memory", historyBytes(c.Memory)}, {"Memory Swap", historyBytes(c.MemorySwap)},
		{"CPU Shares", c.CPUShares}, {"CPU Period", c.CPUPeriod}, {"CPU Quota", c.CPUQuota},
		{"CPUSet CPUs", c.CPUSetCPUs}, {"CPUSet Mems", c.CPUSetMems}, {"Cache Mount Namespace", c.CacheMountNS},
		{"Dockerfile Check Config", c.DockerfileCheckConfig}, {"Source Date Epoch", c.SourceDateEpoch},
		{"Sandbox Hostname", c.SandboxHostname},
	}
	for _, kv := range c.RestRaw {
		lines = append(lines, [2]string{kv.Name, kv.Value})
	}
	return lines
}

// historyBytes shows a byte count as a size; other values ("-1" for
// unlimited swap) as they are.
func historyBytes(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return v
	}
	return units.BytesSize(float64(n))
}

func printHistoryTable(w io.Writer, title string, kvs []history.KeyValue) {
	if len(kvs) > 0 {
		printHistoryColumns(w, []string{title, "VALUE"}, kvs)
	}
}

func printHistoryColumns(w io.Writer, header []string, rows []history.KeyValue) {
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, kv := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", kv.Name, kv.Value)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// printHistoryError shows the failing lines of the build definition and
// the failing step's last log lines.
func printHistoryError(w io.Writer, e *history.ErrorDetails) {
	if e == nil {
		return
	}
	if len(e.Sources) > 0 {
		fmt.Fprint(w, string(e.Sources))
	}
	if len(e.Logs) > 0 {
		fmt.Fprintln(w, "Logs:")
		fmt.Fprintf(w, "> => %s:\n", e.Name)
		for _, l := range e.Logs {
			fmt.Fprintln(w, "> "+l)
		}
		fmt.Fprintln(w)
	}
}
