package commands

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	bxbake "github.com/docker/buildx/bake"
	"github.com/docker/buildx/bake/hclparser"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
	"github.com/xbuild/xbuild/exporter"
)

type bakeOptions struct {
	files        []string
	overrides    []string
	vars         []string
	load         bool
	push         bool
	print        bool
	list         string
	metadataFile string
	provenance   string
	sbom         string
	progress     string
	noCache      bool
	pull         bool
	allow        []string
	debug        bool
	call         string
	policy       []string
	jobs         string
}

func newBakeCommand(env *Env, builderName *string) *cobra.Command {
	var o bakeOptions
	cmd := &cobra.Command{
		Use:   "bake [OPTIONS] [TARGET...]",
		Short: "Build from a file",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDebug(env, o.debug, func() error {
				return runBake(cmd.Context(), env, *builderName, args, &o, cmd.Flags().Changed)
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "Build definition file")
	f.StringArrayVar(&o.overrides, "set", nil, `Override target value (e.g., "targetpattern.key=value")`)
	f.StringArrayVar(&o.vars, "var", nil, `Set a variable value (e.g., "name=value")`)
	f.BoolVar(&o.load, "load", false, `Shorthand for "--set=*.output=type=docker"`)
	f.BoolVar(&o.push, "push", false, `Shorthand for "--set=*.output=type=registry"`)
	f.BoolVar(&o.print, "print", false, "Print the resolved definition as JSON without building")
	f.StringVar(&o.list, "list", "", `List targets or variables ("targets", "variables", with ",format=json")`)
	f.StringVar(&o.metadataFile, "metadata-file", "", "Write build result metadata to a file")
	f.StringVar(&o.provenance, "provenance", "", `Shorthand for "--set=*.attest=type=provenance"`)
	f.StringVar(&o.sbom, "sbom", "", `Shorthand for "--set=*.attest=type=sbom"`)
	f.StringVar(&o.progress, "progress", "auto", `Set type of progress output ("auto", "none", "plain", "quiet", "rawjson", "tty")`)
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull all referenced images")
	f.StringArrayVar(&o.allow, "allow", nil, "Allow build to access specified resources")
	f.BoolVarP(&o.debug, "debug", "D", false, "Enable debug logging")
	addCallFlags(f, &o.call)
	f.StringArrayVar(&o.policy, "policy", nil, bakePolicyFlagHelp)
	f.StringVarP(&o.jobs, "jobs", "j", "fail-fast", `Set target execution behavior (format: "N" or "mode[,parallel=N]")`)
	return cmd
}

// overrideList turns the shorthand flags into --set values, the way buildx
// does, so the bake package applies them with its own precedence.
func (o *bakeOptions) overrideList(changed func(string) bool) ([]string, error) {
	out := slices.Clone(o.overrides)
	if o.push {
		out = append(out, "*.push=true")
	}
	if o.load {
		out = append(out, "*.load=true")
	}
	if cf, err := parseCall("--call", o.call); err != nil {
		return nil, err
	} else if cf != nil {
		out = append(out, "*.call="+cf.Name)
	}
	policies, err := bakePolicyOverrides(o.policy)
	if err != nil {
		return nil, err
	}
	out = append(out, policies...)
	if changed("no-cache") {
		out = append(out, fmt.Sprintf("*.no-cache=%t", o.noCache))
	}
	if changed("pull") {
		out = append(out, fmt.Sprintf("*.pull=%t", o.pull))
	}
	for typ, v := range map[string]string{"provenance": o.provenance, "sbom": o.sbom} {
		if !changed(typ) {
			continue
		}
		a, err := parseAttestParams(typ, v)
		if err != nil {
			return nil, fmt.Errorf("invalid --%s %q: %w", typ, v, err)
		}
		s := "*.attest=type=" + typ
		if a.Off {
			s += ",disabled=true"
		} else if a.Params != "" {
			s += "," + a.Params
		}
		out = append(out, s)
	}
	return out, nil
}

func runBake(ctx context.Context, env *Env, builderName string, targets []string, o *bakeOptions, changed func(string) bool) error {
	overrides, err := o.overrideList(changed)
	if err != nil {
		return err
	}
	vars, err := parseKeyValues("--var", o.vars, nil)
	if err != nil {
		return err
	}
	execution, err := bake.ParseJobs(o.jobs)
	if err != nil {
		return err
	}
	lo := bake.LoadOptions{Files: o.files, Stdin: env.Stdin, Targets: targets, Overrides: overrides, Vars: vars, Allow: o.allow}
	if err := withBakeSources(ctx, env, builderName, &lo, o.progress); err != nil {
		return err
	}
	if o.list != "" {
		return runBakeList(env.Stdout, o.list, lo)
	}
	def, err := bake.Load(ctx, lo)
	if err != nil {
		return err
	}
	if o.print {
		return printBakeDefinition(env.Stdout, def)
	}
	// --print and --list build nothing, so the switches wait until here.
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	mode, err := bakeDisplay(s, o.progress)
	if err != nil {
		return err
	}
	jobs, err := bakeJobsWithPolicies(env, def)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		s.addSourceDateEpoch(j.Req)
	}
	s.group, s.execution = bakeGroup(lo.Targets), execution
	results, err := runBakeJobs(ctx, env, s, builderName, jobs, mode, o.metadataFile)
	if err != nil {
		return err
	}
	printBuildDetails(env.Stderr, mode, results)
	return finishBake(env, o, def, jobs, results)
}

func printBakeDefinition(w io.Writer, def *bake.Definition) error {
	dt, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(dt))
	return err
}

// bakeDisplay is the progress display of a bake: it prints no image ID,
// so none and quiet are one display.
func bakeDisplay(s settings, progress string) (progressui.DisplayMode, error) {
	if progress == "none" {
		progress = string(progressui.QuietMode)
	}
	return s.progressMode(progress, false)
}

// finishBake writes the metadata file, then prints the answers of the
// targets that ran a frontend method.
func finishBake(env *Env, o *bakeOptions, def *bake.Definition, jobs []*builder.Job, results map[string]*builder.Result) error {
	flag, err := parseCall("--call", o.call)
	if err != nil {
		return err
	}
	warnings, err := bakeWarnings(env.Getenv, flag, jobs, results)
	if err != nil {
		return err
	}
	if err := writeBakeMetadata(o.metadataFile, results, warnings); err != nil {
		return err
	}
	return callExit(printBakeCalls(env.Stdout, def, jobs, results, flag))
}

// bakeJobs turns a definition into jobs once it is checked against what
// --allow grants, so a definition that needs more builds nothing.
func bakeJobs(def *bake.Definition, getenv func(string) string) ([]*builder.Job, error) {
	jobs, err := def.Jobs(getenv)
	if err != nil {
		return nil, err
	}
	checkFS, err := envBool(getenv, true, "XBUILD_BAKE_ENTITLEMENTS_FS", "BUILDX_BAKE_ENTITLEMENTS_FS")
	if err != nil {
		return nil, err
	}
	if err := def.CheckEntitlements(checkFS); err != nil {
		return nil, err
	}
	return jobs, nil
}

// writeBakeMetadata writes one entry per target.
func writeBakeMetadata(path string, results map[string]*builder.Result, warnings []bkclient.VertexWarning) error {
	if path == "" {
		return nil
	}
	md := map[string]any{}
	for name, res := range results {
		md[name] = res.Metadata
	}
	if len(warnings) > 0 {
		md[builder.KeyWarnings] = warnings
	}
	if err := exporter.WriteJSON(path, md); err != nil {
		return fmt.Errorf("writing metadata file: %w", err)
	}
	return nil
}

func runBakeList(w io.Writer, spec string, lo bake.LoadOptions) error {
	fields, err := exporter.CSVFields(spec)
	if err != nil {
		return fmt.Errorf("invalid --list %q: %w", spec, err)
	}
	what, format := "", "table"
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok && what == "":
			what = f
		case k == "type":
			what = v
		case k == "format" && (v == "table" || v == "json"):
			format = v
		default:
			return fmt.Errorf("invalid --list %q: want targets or variables, with format=table|json", spec)
		}
	}
	cfg, vars, err := bake.Parse(lo)
	if err != nil {
		return err
	}
	switch what {
	case "targets":
		return printTargets(w, format, cfg)
	case "variables":
		return printVariables(w, format, vars)
	}
	return fmt.Errorf("invalid --list %q: want targets or variables", spec)
}

type listEntry struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Group       bool   `json:"group,omitempty"`
}

func printTargets(w io.Writer, format string, cfg *bxbake.Config) error {
	var list []listEntry
	for _, t := range cfg.Targets {
		list = append(list, listEntry{Name: t.Name, Description: t.Description})
	}
	for _, g := range cfg.Groups {
		d := g.Description
		if len(g.Targets) > 0 {
			names := slices.Sorted(slices.Values(g.Targets))
			if d != "" {
				d += " (" + strings.Join(names, ", ") + ")"
			} else {
				d = strings.Join(names, ", ")
			}
		}
		list = append(list, listEntry{Name: g.Name, Description: d, Group: true})
	}
	list = slices.DeleteFunc(list, func(e listEntry) bool { return strings.HasPrefix(e.Name, "_") })
	slices.SortFunc(list, func(a, b listEntry) int { return cmp.Compare(a.Name, b.Name) })
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "TARGET\tDESCRIPTION")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.Description)
	}
	return tw.Flush()
}

func printVariables(w io.Writer, format string, vars []*hclparser.Variable) error {
	slices.SortFunc(vars, func(a, b *hclparser.Variable) int { return cmp.Compare(a.Name, b.Name) })
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(vars)
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "VARIABLE\tTYPE\tVALUE\tDESCRIPTION")
	for _, v := range vars {
		value := "<null>"
		if v.Value != nil {
			value = *v.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.Type, value, v.Description)
	}
	return tw.Flush()
}
