package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
	"github.com/xbuild/xbuild/exporter"
)

// The action's inputs, named like docker/build-push-action,
// docker/bake-action and docker/setup-buildx-action where they mean the same.
var (
	buildInputs = []string{"context", "file", "platforms", "tags", "labels", "annotations", "build-args",
		"build-contexts", "target", "push", "load", "outputs", "cache-from", "cache-to", "secrets", "ssh",
		"provenance", "sbom", "attests", "no-cache", "pull", "builder", "add-hosts", "network",
		"shm-size", "ulimit", "cgroup-parent", "no-cache-filters", "allow"}
	bakeInputs  = []string{"files", "targets", "set", "source"}
	setupInputs = []string{"driver", "driver-opts", "endpoint", "name", "cleanup", "buildkitd-flags", "buildkitd-config",
		"buildkitd-config-inline", "append"}
	otherInputs = []string{"version", "xbuild-path", "github-token"}
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

// checkUnknown refuses INPUT_* variables no input of the step has.
func (in actionInputs) checkUnknown(environ []string) error {
	known := map[string]bool{}
	for _, l := range [][]string{buildInputs, bakeInputs, setupInputs, otherInputs} {
		for _, n := range l {
			known["INPUT_"+strings.ToUpper(n)] = true
		}
	}
	var unknown []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "INPUT_") && !known[k] {
			unknown = append(unknown, strings.ToLower(strings.TrimPrefix(k, "INPUT_")))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown input(s) %s: see action.yml for the inputs this step takes", strings.Join(unknown, ", "))
	}
	return nil
}

// actionJobs turns the inputs into jobs with the same parsers as the
// command line, so a bad input fails before any builder is touched.
func actionJobs(ctx context.Context, env *Env, s settings, in actionInputs, bakeMode bool) ([]*builder.Job, map[string]string, error) {
	if bakeMode {
		return actionBakeJobs(ctx, env, in)
	}
	var o buildOptions
	var err error
	o.file, o.target, o.provenance, o.sbom = in.get("file"), in.get("target"), in.get("provenance"), in.get("sbom")
	o.network, o.shmSize, o.cgroupParent = in.get("network"), in.get("shm-size"), in.get("cgroup-parent")
	o.progress = "plain"
	o.load = "false"
	if b, err := in.bool("load"); err != nil {
		return nil, nil, err
	} else if b {
		o.load = "true"
	}
	if o.push, err = in.bool("push"); err != nil {
		return nil, nil, err
	}
	if o.noCache, err = in.bool("no-cache"); err != nil {
		return nil, nil, err
	}
	if o.pull, err = in.bool("pull"); err != nil {
		return nil, nil, err
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
	if o.push && len(o.tags) == 0 {
		return nil, nil, errors.New("input push is true but tags is empty: name the image with tags")
	}
	ctxDir := in.get("context")
	if ctxDir == "" {
		ctxDir = "."
	}
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

// actionBakeJobs reads a bake step's inputs, as bake's flags are read.
func actionBakeJobs(ctx context.Context, env *Env, in actionInputs) ([]*builder.Job, map[string]string, error) {
	var lists [4][]string
	for i, name := range []string{"files", "targets", "set", "allow"} {
		var err error
		if lists[i], err = in.list(name, name != "set"); err != nil {
			return nil, nil, err
		}
	}
	files, targets, sets, allow := lists[0], lists[1], lists[2], lists[3]
	o := bakeOptions{files: files, overrides: sets}
	var err error
	if o.load, err = in.bool("load"); err != nil {
		return nil, nil, err
	}
	if o.push, err = in.bool("push"); err != nil {
		return nil, nil, err
	}
	o.provenance, o.sbom = in.get("provenance"), in.get("sbom")
	changed := func(f string) bool { return in.get(f) != "" }
	overrides, err := o.overrideList(changed)
	if err != nil {
		return nil, nil, err
	}
	// The action's wrapper runs this step in the source folder (its
	// working directory), as bake-action runs bake there.
	def, err := bake.Load(ctx, bake.LoadOptions{Files: files, Targets: targets, Overrides: overrides, Allow: allow})
	if err != nil {
		return nil, nil, err
	}
	jobs, err := bakeJobs(def, env.Getenv)
	summary := map[string]string{"files": strings.Join(files, ", "), "targets": strings.Join(targets, ", ")}
	return jobs, summary, err
}
