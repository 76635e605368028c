package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/cli/templates"
	"github.com/docker/go-units"
	bkclient "github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/driver"
)

// duOptions are the flags of `xbuild du`.
type duOptions struct {
	filters filterFlag
	format  string
	verbose bool
	timeout time.Duration
}

func newDuCommand(env *Env, builderName *string) *cobra.Command {
	var o duOptions
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show the disk usage of the build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDu(cmd.Context(), env, *builderName, o)
		},
	}
	f := cmd.Flags()
	f.Var(&o.filters, "filter", "Select cache records: key=value, key!=value or key~=regexp (repeat it to require all)")
	f.StringVar(&o.format, "format", "", `Format the output: "table", "pretty", "json" or a Go template`)
	f.BoolVar(&o.verbose, "verbose", false, `Show every record in detail: the same as --format=pretty`)
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "How long to wait for the status of a node that does not answer")
	return cmd
}

// runDu checks every flag before it resolves the builder, so bad input
// never reaches a daemon.
func runDu(ctx context.Context, env *Env, builderName string, o duOptions) error {
	q, err := parseCacheFilters(o.filters)
	if err != nil {
		return err
	}
	format, err := parseDuFormat(o.format, o.verbose)
	if err != nil {
		return err
	}
	_, inst, err := resolveArg(ctx, env.resolver, builderName, nil)
	if err != nil {
		return err
	}
	recs, err := diskUsage(ctx, inst, q, o.timeout)
	if err != nil {
		return err
	}
	if err := format.write(env.Stdout, recs, time.Now()); err != nil {
		return err
	}
	// As with buildx, the totals stand for the whole cache, so a filtered
	// listing goes without them.
	if format.summary && len(o.filters) == 0 {
		printDuSummary(env.Stdout, recs)
	}
	return nil
}

// diskUsage reads the build cache of every node at once; the records keep
// the order of the nodes.
func diskUsage(ctx context.Context, inst *builder.Instance, q cacheQuery, timeout time.Duration) ([]*bkclient.UsageInfo, error) {
	per := make([][]*bkclient.UsageInfo, len(inst.Nodes))
	eg, ctx := errgroup.WithContext(ctx)
	for i, n := range inst.Nodes {
		eg.Go(func() error {
			c, err := n.Driver.Client(ctx)
			if err == nil {
				defer c.Close()
				per[i], err = c.DiskUsage(ctx, q.diskUsageOptions()...)
			}
			if err != nil {
				return nodeCacheError(ctx, inst.Name, n, timeout, "reading the build cache of", err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(per...), nil
}

// nodeCacheError names the node a cache call failed on and, when its
// daemon does not run, says how to start it: the bare gRPC error does not.
func nodeCacheError(ctx context.Context, builderName string, n builder.Node, timeout time.Duration, doing string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if st := n.Driver.Info(ictx).Status; st == driver.StatusStopped || st == driver.StatusInactive {
		return fmt.Errorf("%s node %q of builder %q: the node is %s: start it with `xbuild inspect --bootstrap %s`",
			doing, n.Name, builderName, st, builderName)
	}
	return fmt.Errorf("%s node %q of builder %q: %w", doing, n.Name, builderName, err)
}

// duDefaultTable is the listing without --format.
const duDefaultTable = "table {{.ID}}\t{{.Reclaimable}}\t{{.Size}}\t{{.LastUsedAt}}"

// duHeaders are the column titles of table templates, by placeholder.
var duHeaders = map[string]string{
	"ID": "ID", "Parents": "PARENTS", "CreatedAt": "CREATED AT", "Mutable": "MUTABLE",
	"Reclaimable": "RECLAIMABLE", "Shared": "SHARED", "Size": "SIZE", "Description": "DESCRIPTION",
	"UsageCount": "USAGE COUNT", "LastUsedAt": "LAST ACCESSED", "Type": "TYPE",
}

// duFormat is --format parsed: one of pretty, json or a template; a
// table template adds a header row and aligns its columns.
type duFormat struct {
	pretty, json, table bool
	tmpl                *template.Template
	// summary: the format is a default one, which ends with the totals.
	summary bool
}

func parseDuFormat(format string, verbose bool) (duFormat, error) {
	switch {
	case verbose && format != "":
		return duFormat{}, errors.New("--format and --verbose cannot be used together: --verbose is --format=pretty")
	case verbose || format == "pretty":
		return duFormat{pretty: true, summary: true}, nil
	case format == "json":
		return duFormat{json: true}, nil
	case format == "" || format == "table":
		format = duDefaultTable
	}
	body, table := strings.CutPrefix(format, "table")
	// Tabs and newlines may come escaped, as a shell passes '\t'.
	body = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(body, " "))
	tmpl, err := templates.Parse(body)
	if err != nil {
		return duFormat{}, fmt.Errorf("invalid --format %q: %w", format, err)
	}
	// A placeholder that does not exist fails only when the template runs:
	// running it once on a sample finds it before any daemon is asked.
	sample := newDuRecord(&bkclient.UsageInfo{Parents: []string{"p"}}, time.Now(), table)
	if err := tmpl.Execute(io.Discard, sample); err != nil {
		return duFormat{}, fmt.Errorf("invalid --format %q: %w", format, err)
	}
	return duFormat{table: table, tmpl: tmpl, summary: format == duDefaultTable}, nil
}

// write prints the records; now is when "LAST ACCESSED" is counted from.
func (f duFormat) write(w io.Writer, recs []*bkclient.UsageInfo, now time.Time) error {
	switch {
	case f.pretty:
		for _, u := range recs {
			writePrettyRecord(w, u, now)
		}
		return nil
	case f.json:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, u := range recs {
			if err := enc.Encode(newDuJSON(u)); err != nil {
				return err
			}
		}
		return nil
	}
	out := w
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		f.writeHeader(tw)
	}
	for _, u := range recs {
		if err := f.tmpl.Execute(out, newDuRecord(u, now, f.table)); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// writeHeader runs the template on the column titles, with functions that
// pass titles through, so "{{json .Parents}}" heads its column PARENTS.
func (f duFormat) writeHeader(w io.Writer) {
	h, err := f.tmpl.Clone()
	if err != nil {
		return
	}
	// A template the titles cannot run (a range over .Parents) gets no header.
	_ = h.Funcs(templates.HeaderFunctions).Execute(w, duHeaders)
	fmt.Fprintln(w)
}

// duRecord is one cache record as templates see it, with buildx's
// placeholders. In tables "*" marks a mutable record's ID and a shared
// record's size.
type duRecord struct {
	ID          string
	Parents     []string
	CreatedAt   string
	Mutable     bool
	Reclaimable bool
	Shared      bool
	Size        string
	Description string
	UsageCount  int
	LastUsedAt  string
	Type        string
}

func newDuRecord(u *bkclient.UsageInfo, now time.Time, marks bool) duRecord {
	r := duRecord{
		ID: u.ID, Parents: u.Parents, CreatedAt: u.CreatedAt.String(), Mutable: u.Mutable,
		Reclaimable: !u.InUse, Shared: u.Shared, Size: units.HumanSize(float64(u.Size)),
		Description: u.Description, UsageCount: u.UsageCount, LastUsedAt: lastUsed(u, now),
		Type: string(u.RecordType),
	}
	if marks && u.Mutable {
		r.ID += "*"
	}
	if marks && u.Shared {
		r.Size += "*"
	}
	return r
}

func lastUsed(u *bkclient.UsageInfo, now time.Time) string {
	if u.LastUsedAt == nil {
		return ""
	}
	return units.HumanDuration(now.Sub(*u.LastUsedAt)) + " ago"
}

// duJSON is one line of --format json: sizes in bytes and times in
// RFC 3339, for programs rather than people.
type duJSON struct {
	CreatedAt   string
	Description string
	ID          string
	LastUsedAt  string
	Mutable     bool
	Parents     []string
	Reclaimable bool
	Shared      bool
	Size        string
	Type        string
	UsageCount  int
}

func newDuJSON(u *bkclient.UsageInfo) duJSON {
	j := duJSON{
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339), Description: u.Description, ID: u.ID,
		Mutable: u.Mutable, Parents: u.Parents, Reclaimable: !u.InUse, Shared: u.Shared,
		Size: strconv.FormatInt(u.Size, 10), Type: string(u.RecordType), UsageCount: u.UsageCount,
	}
	if j.Parents == nil {
		// An empty list rather than null: jq's .Parents[] works on every line.
		j.Parents = []string{}
	}
	if u.LastUsedAt != nil {
		j.LastUsedAt = u.LastUsedAt.UTC().Format(time.RFC3339)
	}
	return j
}

// writePrettyRecord prints one record as a block of labelled lines and a
// blank line: --verbose of du and prune.
func writePrettyRecord(w io.Writer, u *bkclient.UsageInfo, now time.Time) {
	line := func(label string, v any) { fmt.Fprintf(w, "%-14s%v\n", label+":", v) }
	line("ID", u.ID)
	if len(u.Parents) > 0 {
		fmt.Fprintln(w, "Parents:")
		for _, p := range u.Parents {
			fmt.Fprintf(w, " - %s\n", p)
		}
	}
	line("Created at", u.CreatedAt)
	line("Mutable", u.Mutable)
	line("Reclaimable", !u.InUse)
	line("Shared", u.Shared)
	line("Size", units.HumanSize(float64(u.Size)))
	if u.Description != "" {
		line("Description", u.Description)
	}
	line("Usage count", u.UsageCount)
	if u.LastUsedAt != nil {
		line("Last used", lastUsed(u, now))
	}
	if u.RecordType != "" {
		line("Type", u.RecordType)
	}
	fmt.Fprintln(w)
}

// duTotals adds up records as the daemon sized them. A size the daemon
// could not tell (negative) counts nowhere, so Private never goes below
// zero.
type duTotals struct{ shared, total, reclaimable int64 }

func sumUsage(recs []*bkclient.UsageInfo) duTotals {
	var t duTotals
	for _, u := range recs {
		if u.Size <= 0 {
			continue
		}
		t.total += u.Size
		if !u.InUse {
			t.reclaimable += u.Size
		}
		if u.Shared {
			t.shared += u.Size
		}
	}
	return t
}

// printDuSummary ends the default listings. Shared and Private appear only
// when some storage is shared.
func printDuSummary(w io.Writer, recs []*bkclient.UsageInfo) {
	t := sumUsage(recs)
	if t.shared > 0 {
		printTotal(w, "Shared", t.shared)
		printTotal(w, "Private", t.total-t.shared)
	}
	printTotal(w, "Reclaimable", t.reclaimable)
	printTotal(w, "Total", t.total)
}

func printTotal(w io.Writer, label string, n int64) {
	fmt.Fprintf(w, "%-16s%s\n", label+":", units.HumanSize(float64(n)))
}
