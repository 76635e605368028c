package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/buildx/util/gitutil"
	"github.com/docker/cli/templates"
	units "github.com/docker/go-units"
	bkgitutil "github.com/moby/buildkit/util/gitutil"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

const historyLsTable = "table {{.Ref}}\t{{.Name}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Duration}}\t{{.Link}}"

// historyLsHeader names the columns of a table, by the field each shows.
var historyLsHeader = map[string]string{
	"Ref": "BUILD ID", "FullRef": "BUILD ID", "Name": "NAME", "Status": "STATUS",
	"CreatedAt": "CREATED AT", "Duration": "DURATION", "Link": "",
}

type historyLsOptions struct {
	format  string
	noTrunc bool
	filters []string
	local   bool
}

func newHistoryLsCommand(env *Env, builderName *string) *cobra.Command {
	var o historyLsOptions
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List build records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistoryLs(cmd.Context(), env, *builderName, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "Format the output: table, json, or a Go template")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.StringArrayVar(&o.filters, "filter", nil, `Provide filter values (e.g., "status=error")`)
	f.BoolVar(&o.local, "local", false, "List records for current repository only")
	return cmd
}

func runHistoryLs(ctx context.Context, env *Env, builderName string, o *historyLsOptions) error {
	filters := o.filters
	if o.local {
		remote, err := historyLocalRepository(ctx)
		if err != nil {
			return err
		}
		filters = append([]string{"repository=" + remote}, filters...)
	}
	fs, err := history.ParseFilters(filters)
	if err != nil {
		return err
	}
	lf, err := parseHistoryLsFormat(o.format)
	if err != nil {
		return err
	}
	lf.trunc, lf.term, lf.now = !o.noTrunc, historyIsTerminal(env.Stdout), time.Now()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	recs, err := src.List(ctx, history.Query{Filters: fs})
	if err != nil {
		return err
	}
	return lf.print(env.Stdout, recs)
}

// historyLocalRepository is the remote of the Git repository around the working
// folder: the repository a record's build came from is matched against it.
func historyLocalRepository(ctx context.Context) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	g, err := gitutil.New(bkgitutil.WithDir(wd))
	if err != nil {
		return "", fmt.Errorf("--local needs git to read the repository of %s: %w", wd, err)
	}
	if !g.IsInsideWorkTree(ctx) {
		return "", fmt.Errorf("--local lists the builds of the current Git repository, and %s is not in one", wd)
	}
	remote, err := g.RemoteURL(ctx)
	if err != nil || remote == "" {
		return "", fmt.Errorf("--local matches builds by their repository's remote, and the repository of %s has none", wd)
	}
	return remote, nil
}

// historyLsFormat is a parsed --format of history ls.
type historyLsFormat struct {
	tmpl  *template.Template
	table bool
	json  bool
	trunc bool
	// term: the output is a terminal, where the Link column is a link.
	term bool
	now  time.Time
}

// parseHistoryLsFormat reads table, json, "table TEMPLATE" or TEMPLATE, as the
// Docker CLI's formatter does (\t and \n written out stand for a tab and
// a newline).
func parseHistoryLsFormat(s string) (*historyLsFormat, error) {
	lf := &historyLsFormat{}
	switch {
	case s == "json":
		lf.json = true
		s = "{{json .}}"
	case s == "table" || s == "":
		lf.table, s = true, strings.TrimPrefix(historyLsTable, "table")
	default:
		var ok bool
		if s, ok = strings.CutPrefix(s, "table"); ok {
			lf.table = true
		}
	}
	s = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(s, " "))
	tmpl, err := templates.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid --format %q: %w", s, err)
	}
	lf.tmpl = tmpl
	return lf, nil
}

// sortHistoryLs puts running builds first, then the newest.
func sortHistoryLs(recs []*history.Record) {
	slices.SortStableFunc(recs, func(a, b *history.Record) int {
		if (a.CompletedAt == nil) != (b.CompletedAt == nil) {
			if a.CompletedAt == nil {
				return -1
			}
			return 1
		}
		return b.CreatedAt.AsTime().Compare(a.CreatedAt.AsTime())
	})
}

// print renders every row, then, for a table, the header above them: the
// header functions replace the template's own (json of a column name is
// the name), so they come last, as in the Docker CLI.
func (lf *historyLsFormat) print(w io.Writer, recs []*history.Record) error {
	sortHistoryLs(recs)
	var rows bytes.Buffer
	for _, r := range recs {
		if err := lf.tmpl.Execute(&rows, &historyRow{rec: r, f: lf}); err != nil {
			return fmt.Errorf("invalid --format: %w", err)
		}
		rows.WriteString("\n")
	}
	if !lf.table {
		_, err := rows.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if err := lf.tmpl.Funcs(templates.HeaderFunctions).Execute(tw, historyLsHeader); err != nil {
		return fmt.Errorf("invalid --format: %w", err)
	}
	fmt.Fprintln(tw)
	if _, err := rows.WriteTo(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// historyRow is one record as templates of history ls see it.
type historyRow struct {
	rec *history.Record
	f   *historyLsFormat
}

func (r *historyRow) Ref() string     { return r.rec.Ref }
func (r *historyRow) FullRef() string { return r.rec.FullRef() }

// Name is cut to its last 36 characters in a truncated table.
func (r *historyRow) Name() string {
	name := r.rec.Name()
	if r.f.trunc && r.f.table && len(name) > 36 {
		return ".." + name[len(name)-34:]
	}
	return name
}

// Status is Running, Completed or Error (a canceled build included).
func (r *historyRow) Status() string {
	switch {
	case r.rec.CompletedAt == nil:
		return "Running"
	case r.rec.Error != nil:
		return "Error"
	default:
		return "Completed"
	}
}

func (r *historyRow) CreatedAt() string {
	return units.HumanDuration(r.f.now.Sub(r.rec.CreatedAt.AsTime())) + " ago"
}

// Duration ends in + for a build still running.
func (r *historyRow) Duration() string {
	d, ok := r.rec.Duration()
	if !ok {
		return ""
	}
	v := historyDuration(d)
	if r.rec.CompletedAt == nil {
		v += "+"
	}
	return v
}

// Link is the record's Docker Desktop address; in a table, only on a
// terminal, as a hyperlink.
func (r *historyRow) Link() string {
	url := history.Link(r.rec.FullRef())
	if !r.f.table {
		return url
	}
	if r.f.term {
		return "\033]8;;" + url + "\033\\Open\033]8;;\033\\"
	}
	return ""
}

// MarshalJSON is a record in --format json, with buildx's keys.
func (r *historyRow) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"ref":             r.FullRef(),
		"name":            r.Name(),
		"status":          r.Status(),
		"created_at":      r.rec.CreatedAt.AsTime().Format(time.RFC3339Nano),
		"total_steps":     r.rec.NumTotalSteps,
		"completed_steps": r.rec.NumCompletedSteps,
		"cached_steps":    r.rec.NumCachedSteps,
	}
	if r.rec.CompletedAt != nil {
		m["completed_at"] = r.rec.CompletedAt.AsTime().Format(time.RFC3339Nano)
	}
	return json.Marshal(m)
}

// historyDuration is 1.4s under a minute, else 2m  5s, as buildx
// prints durations.
func historyDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm %2ds", int(d.Minutes()), int(d.Seconds())%60)
}
