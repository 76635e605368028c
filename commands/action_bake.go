package commands

import (
	"context"
	"strings"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
)

// actionBakeJobs reads a bake step's inputs, as bake's flags are read.
func actionBakeJobs(ctx context.Context, env *Env, in actionInputs) ([]*builder.Job, map[string]string, error) {
	o, targets, err := actionBakeOptions(in)
	if err != nil {
		return nil, nil, err
	}
	overrides, err := o.overrideList(actionBakeChanged(in))
	if err != nil {
		return nil, nil, err
	}
	vars, err := parseKeyValues("input vars", o.vars, nil)
	if err != nil {
		return nil, nil, err
	}
	// The action's wrapper runs this step in the source folder (its
	// working directory), as bake-action runs bake there.
	def, err := bake.Load(ctx, bake.LoadOptions{Files: o.files, Targets: targets, Overrides: overrides, Vars: vars, Allow: o.allow})
	if err != nil {
		return nil, nil, err
	}
	jobs, err := bakeJobs(def, env.Getenv)
	summary := map[string]string{"files": strings.Join(o.files, ", "), "targets": strings.Join(targets, ", ")}
	return jobs, summary, err
}

// actionBakeOptions fills bake's options from bake-action's inputs; the
// targets are returned apart, as bake takes them as arguments.
func actionBakeOptions(in actionInputs) (*bakeOptions, []string, error) {
	o := &bakeOptions{}
	var targets []string
	for _, l := range []struct {
		name   string
		commas bool
		dst    *[]string
	}{
		{"files", true, &o.files}, {"targets", true, &targets}, {"set", false, &o.overrides},
		{"allow", true, &o.allow}, {"vars", false, &o.vars},
	} {
		var err error
		if *l.dst, err = in.list(l.name, l.commas); err != nil {
			return nil, nil, err
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"load", &o.load}, {"push", &o.push}, {"no-cache", &o.noCache}, {"pull", &o.pull}} {
		var err error
		if *b.dst, err = in.bool(b.name); err != nil {
			return nil, nil, err
		}
	}
	o.provenance, o.sbom = in.get("provenance"), in.get("sbom")
	return o, targets, nil
}

// actionBakeChanged says which of bake's flags the step sets: no-cache
// and pull only when true, as bake-action passes them, so an input left
// at false overrides nothing the bake file says.
func actionBakeChanged(in actionInputs) func(string) bool {
	return func(f string) bool {
		switch f {
		case "no-cache", "pull":
			b, _ := in.bool(f) // read, and checked, by actionBakeOptions
			return b
		}
		return in.get(f) != ""
	}
}
