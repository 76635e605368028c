package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/filters"
	"github.com/docker/go-units"
	bkclient "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/xbuild/xbuild/builder"
)

// pruneOptions are the flags of `xbuild prune`.
type pruneOptions struct {
	all     bool
	filters filterFlag
	// reserved is --reserved-space, and --keep-storage, its old name.
	reserved, maxUsed, minFree byteSize
	verbose, force             bool
	timeout                    time.Duration
}

func newPruneCommand(env *Env, builderName *string) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), env, *builderName, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Remove internal and frontend images (#syntax= frontends) too")
	f.Var(&o.filters, "filter", "Select cache records: key=value, key!=value or key~=regexp (repeat it to require all)")
	f.Var(&o.reserved, "reserved-space", "Disk space the cache may always keep (bytes, or with a unit: 512mb, 2gb)")
	f.Var(&o.maxUsed, "max-used-space", "Most disk space the cache may keep; the least recently used records go first")
	f.Var(&o.minFree, "min-free-space", "Free disk space to reach by pruning")
	f.Var(&o.reserved, "keep-storage", "Disk space the cache may always keep")
	_ = f.MarkDeprecated("keep-storage", "use --reserved-space, its new name")
	f.BoolVar(&o.verbose, "verbose", false, "Show every removed record in detail")
	f.BoolVarP(&o.force, "force", "f", false, "Remove without asking first")
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "How long to wait for the status of a node that does not answer")
	return cmd
}

// runPrune checks every flag and asks before it reaches a daemon; an answer
// other than yes removes nothing and is no error.
func runPrune(ctx context.Context, env *Env, builderName string, o pruneOptions) error {
	q, err := parseCacheFilters(o.filters)
	if err != nil {
		return err
	}
	_, inst, err := resolveArg(ctx, env.resolver, builderName, nil)
	if err != nil {
		return err
	}
	if !o.force {
		ok, err := askYes(ctx, env.Stdin, env.Stdout, pruneWarning(inst.Name, o.all, len(o.filters) > 0))
		if err != nil || !ok {
			return err
		}
	}
	p := &prunePrinter{w: env.Stdout, verbose: o.verbose, now: time.Now()}
	if err := pruneNodes(ctx, inst, o, q, p); err != nil {
		return err
	}
	printTotal(env.Stdout, "Total", p.total)
	return nil
}

func pruneWarning(name string, all, filtered bool) string {
	cache, matching, included := "all dangling build cache", "", ""
	if all {
		cache, included = "all build cache", ", internal and frontend images included"
	}
	if filtered {
		cache, matching = "the"+strings.TrimPrefix(cache, "all"), " that matches the filters"
	}
	return fmt.Sprintf("WARNING! This removes %s of builder %q%s%s. Do you want to go on?", cache, name, matching, included)
}

// askYes prints question and reads one line from in: only y or yes, in
// any case, goes on. Cancelling ctx (Ctrl-C) stops the wait.
func askYes(ctx context.Context, in io.Reader, out io.Writer, question string) (bool, error) {
	fmt.Fprint(out, question+" [y/N] ")
	if in == nil {
		return false, nil
	}
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		return false, context.Cause(ctx)
	case a := <-answer:
		a = strings.ToLower(strings.TrimSpace(a))
		return a == "y" || a == "yes", nil
	}
}

// pruneNodes prunes every node at once, printing each removed record as
// its node reports it.
func pruneNodes(ctx context.Context, inst *builder.Instance, o pruneOptions, q cacheQuery, p *prunePrinter) error {
	ch := make(chan bkclient.UsageInfo)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for u := range ch {
			p.add(u)
		}
	}()
	eg, gctx := errgroup.WithContext(ctx)
	for _, n := range inst.Nodes {
		eg.Go(func() error {
			if err := pruneNode(gctx, n, ch, o, q); err != nil {
				return nodeCacheError(gctx, inst.Name, n, o.timeout, "pruning the build cache of", err)
			}
			return nil
		})
	}
	err := eg.Wait()
	close(ch)
	<-printed
	return err
}

func pruneNode(ctx context.Context, n builder.Node, ch chan bkclient.UsageInfo, o pruneOptions, q cacheQuery) error {
	c, err := n.Driver.Client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.maxUsed != 0 || o.minFree != 0 {
		// An older daemon would ignore these limits and prune by the others
		// alone, removing more than asked.
		if err := checkFreeSpaceCap(ctx, c); err != nil {
			return err
		}
	}
	opts := []bkclient.PruneOption{
		bkclient.WithKeepOpt(q.Until, int64(o.reserved), int64(o.maxUsed), int64(o.minFree)),
		bkclient.WithFilter(q.Filter),
	}
	if o.all {
		opts = append(opts, bkclient.PruneAll)
	}
	return c.Prune(ctx, ch, opts...)
}

// checkFreeSpaceCap asks the daemon's LLB capabilities through an empty
// gateway build, the only place BuildKit lists them.
func checkFreeSpaceCap(ctx context.Context, c *bkclient.Client) error {
	var caps apicaps.CapSet
	_, err := c.Build(ctx, bkclient.SolveOpt{Internal: true}, "xbuild", func(_ context.Context, gc gateway.Client) (*gateway.Result, error) {
		caps = gc.BuildOpts().LLBCaps
		return nil, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("reading the capabilities of BuildKit: %w", err)
	}
	if caps.Supports(pb.CapGCFreeSpaceFilter) != nil {
		return errors.New("--max-used-space and --min-free-space need BuildKit v0.17.0 or later: upgrade the builder or use --reserved-space")
	}
	return nil
}

// prunePrinter writes removed records as they come and adds up their
// sizes. Columns have fixed widths, so rows line up without waiting for
// the last.
type prunePrinter struct {
	w       io.Writer
	verbose bool
	now     time.Time
	rows    int
	total   int64
}

const pruneRow = "%-30s%-15s%-14s%s\n"

func (p *prunePrinter) add(u bkclient.UsageInfo) {
	p.total += u.Size
	if p.verbose {
		writePrettyRecord(p.w, &u, p.now)
		return
	}
	if p.rows == 0 {
		fmt.Fprintf(p.w, pruneRow, "ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED")
	}
	p.rows++
	r := newDuRecord(&u, p.now, true)
	fmt.Fprintf(p.w, pruneRow, r.ID, strconv.FormatBool(r.Reclaimable), r.Size, r.LastUsedAt)
}

// byteSize is a size flag: bytes, or a number with a unit (k, m, g, t, p,
// in any case, with or without "b", all of 1024), as Docker reads them.
type byteSize int64

func (b *byteSize) Set(s string) error {
	n, err := units.RAMInBytes(s)
	if err != nil {
		return errors.New("want a number of bytes, or one with a unit such as 512mb or 2gb")
	}
	*b = byteSize(n)
	return nil
}

func (b *byteSize) String() string {
	if *b == 0 {
		return "0"
	}
	return units.BytesSize(float64(*b))
}

func (b *byteSize) Type() string { return "bytes" }

// filterFlag collects --filter values; parseCacheFilters reads them.
type filterFlag []string

func (f *filterFlag) Set(s string) error { *f = append(*f, s); return nil }
func (f *filterFlag) String() string     { return strings.Join(*f, " ") }
func (f *filterFlag) Type() string       { return "filter" }

// cacheQuery is --filter as BuildKit takes it: one filter expression whose
// selectors must all match, and the "until" age, which is no selector.
type cacheQuery struct {
	Filter []string
	Until  time.Duration
}

func (q cacheQuery) diskUsageOptions() []bkclient.DiskUsageOption {
	opts := []bkclient.DiskUsageOption{bkclient.WithFilter(q.Filter)}
	if q.Until > 0 {
		// du lists what prune with the same filters would consider.
		opts = append(opts, bkclient.WithAgeLimit(q.Until))
	}
	return opts
}

var (
	cacheFilterKeys = []string{"until", "id", "parents", "description", "type", "inuse", "mutable", "immutable", "shared", "private"}
	// cachePropertyKeys take no value: they select the records that have
	// the property.
	cachePropertyKeys = []string{"inuse", "mutable", "immutable", "shared", "private"}
	cacheRecordTypes  = []bkclient.UsageRecordType{
		bkclient.UsageRecordTypeInternal, bkclient.UsageRecordTypeFrontend, bkclient.UsageRecordTypeLocalSource,
		bkclient.UsageRecordTypeGitCheckout, bkclient.UsageRecordTypeCacheMount, bkclient.UsageRecordTypeRegular,
	}
)

// parseCacheFilters reads --filter values: key=value, key!=value or
// key~=regexp; a property key alone; until=DURATION (unused-for, its old
// name). Every value is checked here, since BuildKit would quietly match
// nothing with a bad regexp or an unknown key.
func parseCacheFilters(in []string) (cacheQuery, error) {
	var q cacheQuery
	var sels []string
	untilSet := false
	for _, v := range in {
		key, op, val, err := splitCacheFilter(v)
		if err != nil {
			return cacheQuery{}, err
		}
		if key != "until" {
			sel, err := cacheSelector(v, key, op, val)
			if err != nil {
				return cacheQuery{}, err
			}
			sels = append(sels, sel)
			continue
		}
		if untilSet {
			return cacheQuery{}, fmt.Errorf("invalid --filter %q: until is given twice: give one age", v)
		}
		if q.Until, err = parseUntil(v, op, val); err != nil {
			return cacheQuery{}, err
		}
		untilSet = true
	}
	if len(sels) == 0 {
		return q, nil
	}
	expr := strings.Join(sels, ",")
	if _, err := filters.Parse(expr); err != nil {
		return cacheQuery{}, fmt.Errorf("invalid --filter %s: %w", strings.Join(in, " "), err)
	}
	q.Filter = []string{expr}
	return q, nil
}

// splitCacheFilter splits one value into a known key, an operator (=, !=
// or ~=) and a value, trimmed and with the key lower-cased as Docker does.
func splitCacheFilter(v string) (key, op, val string, err error) {
	key, val, hasValue := strings.Cut(v, "=")
	key, val, op = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val), "="
	if k, ok := strings.CutSuffix(key, "!"); ok {
		key, op = k, "!="
	} else if k, ok := strings.CutSuffix(key, "~"); ok {
		key, op = k, "~="
	}
	if key == "unused-for" {
		key = "until"
	}
	if !slices.Contains(cacheFilterKeys, key) {
		return "", "", "", fmt.Errorf("invalid --filter %q: unknown key %q (known: %s)", v, key, strings.Join(cacheFilterKeys, ", "))
	}
	if !hasValue && !slices.Contains(cachePropertyKeys, key) {
		return "", "", "", fmt.Errorf("invalid --filter %q: want %s=VALUE", v, key)
	}
	return key, op, val, nil
}

func parseUntil(v, op, val string) (time.Duration, error) {
	if op != "=" {
		return 0, fmt.Errorf("invalid --filter %q: until takes =, as in until=24h", v)
	}
	d, err := time.ParseDuration(val)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid --filter %q: want a duration such as 24h or 2h30m", v)
	}
	return d, nil
}

// cacheSelector turns one filter into a selector of BuildKit's filter
// syntax, its value always quoted so that spaces, commas and dots in it
// stay part of it.
func cacheSelector(v, key, op, val string) (string, error) {
	if slices.Contains(cachePropertyKeys, key) {
		if op != "=" || val != "" {
			return "", fmt.Errorf("invalid --filter %q: %s takes no value: give it alone, as --filter %s", v, key, key)
		}
		return key, nil
	}
	if val == "" {
		return "", fmt.Errorf("invalid --filter %q: %s needs a value", v, key)
	}
	if key == "id" && op == "=" {
		// As with buildx, id= matches as a pattern: a prefix of an ID is
		// enough.
		op = "~="
	}
	switch {
	case op == "~=":
		if _, err := regexp.Compile(val); err != nil {
			return "", fmt.Errorf("invalid --filter %q: %w", v, err)
		}
	case key == "type" && !slices.Contains(cacheRecordTypes, bkclient.UsageRecordType(val)):
		return "", fmt.Errorf("invalid --filter %q: unknown record type %q (known: %s)", v, val, recordTypeList())
	}
	if op == "=" {
		op = "=="
	}
	return key + op + strconv.Quote(val), nil
}

func recordTypeList() string {
	s := make([]string, len(cacheRecordTypes))
	for i, t := range cacheRecordTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
