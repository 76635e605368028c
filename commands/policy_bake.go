package commands

import (
	"errors"
	"fmt"

	"github.com/docker/buildx/util/buildflags"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
)

// bakePolicyFlagHelp is the syntax of bake's --policy, as buildx words it.
const bakePolicyFlagHelp = `Global policy evaluation options (format: "[disabled=true|false][,strict=true|false][,log-level=level]")`

// bakePolicyOverrides turns bake's --policy values into --set values for
// every target; files belong in the definition. disabled=true replaces
// every target's policies with a disabled one.
func bakePolicyOverrides(values []string) ([]string, error) {
	cfgs, err := parsePolicyFlags(values)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, c := range cfgs {
		switch {
		case len(c.Files) > 0:
			return nil, errors.New("--policy does not accept filename; define policy files in the bake definition")
		case c.Reset:
			return nil, errors.New("--policy does not accept reset; define policy composition in the bake definition")
		case c.Disabled && len(cfgs) > 1:
			return nil, errors.New("disabled policy cannot be combined with other policy flags")
		case c.Disabled:
			return []string{"*.policy=disabled=true"}, nil
		}
		out = append(out, "*.policy+="+values[i])
	}
	return out, nil
}

// bakeJobsWithPolicies is bakeJobs with each job's policy added.
func bakeJobsWithPolicies(env *Env, def *bake.Definition) ([]*builder.Job, error) {
	jobs, err := bakeJobs(def, env.Getenv)
	if err != nil {
		return nil, err
	}
	return jobs, addBakePolicies(env, def, jobs)
}

// addBakePolicies gives each job the policy of its target, and the
// Dockerfile.rego beside its Dockerfile.
func addBakePolicies(env *Env, def *bake.Definition, jobs []*builder.Job) error {
	for _, j := range jobs {
		var cfgs []buildflags.PolicyConfig
		if t := def.Target[j.Name]; t != nil {
			cfgs = []buildflags.PolicyConfig(t.Policy)
		}
		if err := addPolicy(env, j.Req, cfgs); err != nil {
			return fmt.Errorf("target %s: %w", j.Name, err)
		}
	}
	return nil
}
