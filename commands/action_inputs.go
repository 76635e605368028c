package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// The action's inputs: every input of docker/build-push-action,
// docker/bake-action and docker/setup-buildx-action, so a workflow of
// theirs runs with only its uses: lines changed, and xbuild's own.
var (
	buildInputs = []string{"add-hosts", "allow", "annotations", "attests", "build-args", "build-contexts", "builder",
		"cache-from", "cache-to", "call", "cgroup-parent", "context", "file", "labels", "load", "network", "no-cache",
		"no-cache-filters", "outputs", "platforms", "provenance", "pull", "push", "sbom", "secrets", "secret-envs",
		"secret-files", "shm-size", "ssh", "tags", "target", "ulimit", "github-token"}
	bakeInputs  = []string{"files", "targets", "set", "source", "vars", "workdir"}
	setupInputs = []string{"version", "name", "driver", "driver-opts", "buildkitd-flags", "buildkitd-config",
		"buildkitd-config-inline", "install", "use", "endpoint", "append", "keep-state", "cache-binary", "cleanup"}
	otherInputs = []string{"xbuild-path"}
	// sharedInputs say nothing of whether the step builds: a
	// setup-buildx-action step has platforms, a token is always passed.
	sharedInputs = []string{"platforms", "builder", "github-token"}
)

// actionMode is what a step does, found from the inputs it is given.
type actionMode int

const (
	// modeSetup only sets up a builder, as a setup-buildx-action step.
	modeSetup actionMode = iota
	modeBuild
	modeBake
	// modeMerge joins images pushed by digest into one index.
	modeMerge
)

// actionInputs reads INPUT_* variables.
type actionInputs struct {
	env *Env
}

func (in actionInputs) get(name string) string {
	return strings.TrimSpace(in.env.Getenv("INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))))
}

// list reads a newline-separated input; with commas, also comma-separated
// (CSV, so quoted values keep their commas).
func (in actionInputs) list(name string, commas bool) ([]string, error) {
	var out []string
	for _, line := range strings.Split(in.get(name), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !commas {
			out = append(out, line)
			continue
		}
		fields, err := exporter.CSVFields(line)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		for _, f := range fields {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

func (in actionInputs) bool(name string) (bool, error) {
	switch strings.ToLower(in.get(name)) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("input %s: %q is not true or false", name, in.get(name))
}

// unknownInputs names the INPUT_* variables no input of the step has;
// they are warned about, never refused, as GitHub itself only warns. A
// setup-buildx-action install: true, which xbuild has no counterpart for,
// is named too.
func unknownInputs(environ []string) []string {
	known := map[string]bool{}
	for _, l := range [][]string{buildInputs, bakeInputs, setupInputs, otherInputs, digestInputs, mergeInputs} {
		for _, n := range l {
			known["INPUT_"+strings.ToUpper(n)] = true
		}
	}
	var unknown []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "INPUT_") && (!known[k] || k == "INPUT_INSTALL" && strings.TrimSpace(v) == "true") {
			unknown = append(unknown, strings.ToLower(strings.TrimPrefix(k, "INPUT_")))
		}
	}
	sort.Strings(unknown)
	return unknown
}

// mode: merge when merge or merge-dir is given, bake when a bake-only
// input is, build when any other input of build-push-action's (or
// push-by-digest, digest-dir) is, else only the builder's set-up. An input
// is given when it is not empty: action.yml sets no default that would
// make every step a build.
func (in actionInputs) mode() actionMode {
	for _, n := range mergeInputs {
		if in.get(n) != "" {
			return modeMerge
		}
	}
	for _, n := range bakeInputs {
		if in.get(n) != "" {
			return modeBake
		}
	}
	for _, n := range append(slices.Clone(buildInputs), digestInputs...) {
		if in.get(n) != "" && !slices.Contains(sharedInputs, n) {
			return modeBuild
		}
	}
	return modeSetup
}

// checkCall refuses a call input --call would refuse, before any builder
// is set up.
func (in actionInputs) checkCall() error {
	_, err := parseCall("input call", in.get("call"))
	return err
}

// actionJobs turns the inputs into jobs with the same parsers as the
// command line, so a bad input fails before any builder is touched.
func actionJobs(ctx context.Context, env *Env, s settings, in actionInputs, baking bool) ([]*builder.Job, map[string]string, error) {
	if baking {
		return actionBakeJobs(ctx, env, in)
	}
	var o buildOptions
	var err error
	o.file, o.target, o.provenance, o.sbom = in.get("file"), in.get("target"), in.get("provenance"), in.get("sbom")
	o.network, o.shmSize, o.cgroupParent = in.get("network"), in.get("shm-size"), in.get("cgroup-parent")
	o.progress = "plain"
	o.call = in.get("call")
	o.load = "false"
	if b, err := in.bool("load"); err != nil {
		return nil, nil, err
	} else if b {
		o.load = "true"
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"push", &o.push}, {"no-cache", &o.noCache}, {"pull", &o.pull}} {
		if *b.dst, err = in.bool(b.name); err != nil {
			return nil, nil, err
		}
	}
	for _, l := range []struct {
		name   string
		commas bool
		dst    *[]string
	}{
		{"platforms", true, &o.platforms}, {"tags", true, &o.tags}, {"labels", false, &o.labels},
		{"annotations", false, &o.annotations}, {"build-args", false, &o.buildArgs},
		{"build-contexts", false, &o.buildContexts}, {"outputs", false, &o.outputs},
		{"cache-from", false, &o.cacheFrom}, {"cache-to", false, &o.cacheTo}, {"secrets", false, &o.secrets},
		{"ssh", false, &o.ssh}, {"attests", false, &o.attests}, {"add-hosts", true, &o.addHosts},
		{"ulimit", true, &o.ulimits}, {"no-cache-filters", true, &o.noCacheFilter}, {"allow", true, &o.allow},
	} {
		if *l.dst, err = in.list(l.name, l.commas); err != nil {
			return nil, nil, err
		}
	}
	more, err := in.secretInputs()
	if err != nil {
		return nil, nil, err
	}
	o.secrets = append(o.secrets, more...)
	if err := in.applyDigestInputs(&o); err != nil {
		return nil, nil, err
	}
	if o.push && len(o.tags) == 0 {
		return nil, nil, errors.New("input push is true but tags is empty: name the image with tags")
	}
	ctxDir := cmp.Or(in.get("context"), ".")
	changed := func(f string) bool { return in.get(f) != "" }
	req, err := o.request(env, s, ctxDir, changed)
	if err != nil {
		return nil, nil, err
	}
	return []*builder.Job{{Name: "default", Req: req}}, buildSummary(ctxDir, &o, req), nil
}

// buildSummary is what the job summary shows of a build step's inputs.
func buildSummary(ctxDir string, o *buildOptions, req *builder.Request) map[string]string {
	summary := map[string]string{"context": ctxDir, "file": o.file}
	summary["platforms"], summary["tags"] = strings.Join(o.platforms, ", "), strings.Join(o.tags, ", ")
	var keys []string
	for _, s := range req.Secrets {
		keys = append(keys, s.ID)
	}
	summary["secrets"] = strings.Join(keys, ", ") // keys only, never values
	return summary
}

// secretInputs turns build-push-action's secret-envs (KEY=ENVVAR) and
// secret-files (KEY=PATH) into --secret values.
func (in actionInputs) secretInputs() ([]string, error) {
	var out []string
	for _, l := range []struct{ name, attr, want string }{{"secret-envs", "env", "KEY=ENVVAR"}, {"secret-files", "src", "KEY=PATH"}} {
		// A path may hold a comma; an environment variable's name cannot.
		lines, err := in.list(l.name, l.name == "secret-envs")
		if err != nil {
			return nil, err
		}
		for _, kv := range lines {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("input %s: %q is not %s", l.name, kv, l.want)
			}
			out = append(out, csvJoin("id="+strings.TrimSpace(k), l.attr+"="+strings.TrimSpace(v)))
		}
	}
	return out, nil
}

// csvJoin joins fields as one CSV line, quoting those that need it, so a
// value with a comma or a quote reads back whole.
func csvJoin(fields ...string) string {
	for i, f := range fields {
		if strings.ContainsAny(f, ",\"\n") {
			fields[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
	}
	return strings.Join(fields, ",")
}
