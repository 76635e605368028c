package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/buildflags"

	"github.com/xbuild/xbuild/builder"
)

// policyFlagHelp is the syntax of build's --policy, as buildx words it.
const policyFlagHelp = `Policy configuration (format: "filename=path[,filename=path][,reset=true|false][,disabled=true|false][,strict=true|false][,log-level=level]")`

// cwdPrefix marks a policy file named relative to the working folder
// instead of the build context.
const cwdPrefix = "cwd://"

// parsePolicyFlags reads --policy values with buildx's parser.
func parsePolicyFlags(values []string) ([]buildflags.PolicyConfig, error) {
	cfgs := make([]buildflags.PolicyConfig, 0, len(values))
	for _, v := range values {
		cfg, err := buildflags.ParsePolicyConfig(v)
		if err != nil {
			return nil, fmt.Errorf("invalid --policy %q: %w", v, err)
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, nil
}

// addPolicy sets req.Policy from cfgs and the Dockerfile's own policy
// (Dockerfile.rego beside it), with every file read and parsed now, so a
// missing or broken file fails before the build starts. req must be
// complete: the policy sees its build arguments, labels and target.
func addPolicy(env *Env, req *builder.Request, cfgs []buildflags.PolicyConfig) error {
	dir := localContextDir(req)
	var defaults []builder.PolicyFile
	if name := defaultPolicyName(req, dir); name != "" {
		dt, err := os.ReadFile(name)
		switch {
		case err == nil:
			defaults = append(defaults, builder.PolicyFile{Name: name, Data: dt})
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("reading policy file %s: %w", name, err)
		}
	}
	sets, err := composePolicies(defaults, cfgs)
	if err != nil {
		return err
	}
	on, err := envBool(env.Getenv, false, "XBUILD_DEFAULT_POLICY", "BUILDX_DEFAULT_POLICY")
	if err != nil {
		return err
	}
	if on && !policyDisabled(cfgs) {
		builtin := builder.PolicyFile{Name: policy.DefaultPolicyFilename, Data: policy.DefaultPolicyData()}
		sets = append([]builder.PolicySet{{Files: []builder.PolicyFile{builtin}, NoCaps: true}}, sets...)
	}
	if len(sets) == 0 {
		return nil
	}
	for i := range sets {
		if err := loadPolicyFiles(sets[i].Files, dir); err != nil {
			return err
		}
	}
	req.Policy = builder.NewPolicy(req, sets, builder.PolicyOptions{Dir: dir, ConfigDir: env.ConfigDir(), Log: env.Stderr})
	return nil
}

// localContextDir is the folder policy files are named in: the build
// context when it is a local folder, else none.
func localContextDir(req *builder.Request) string {
	if req.Context == "-" || builder.IsRemoteContext(req.Context) {
		return ""
	}
	return req.Context
}

// defaultPolicyName is the Dockerfile's path with ".rego" added, for a
// Dockerfile read from a local file.
func defaultPolicyName(req *builder.Request, dir string) string {
	switch {
	case req.Dockerfile == "-":
		return ""
	case req.Dockerfile != "":
		if builder.IsRemoteContext(req.Context) && !filepath.IsAbs(req.Dockerfile) {
			return ""
		}
		return req.Dockerfile + ".rego"
	case dir != "":
		return filepath.Join(dir, "Dockerfile.rego")
	}
	return ""
}

func policyDisabled(cfgs []buildflags.PolicyConfig) bool {
	for _, c := range cfgs {
		if c.Disabled {
			return true
		}
	}
	return false
}

// composePolicies turns the --policy values into the build's policies, as
// buildx composes them: the default policy first; each value with files
// adds a policy, reset=true drops those before it, a value without files
// changes the settings of the last policy (or of the next, when there is
// none yet), and disabled=true, alone, turns every policy off.
func composePolicies(defaults []builder.PolicyFile, cfgs []buildflags.PolicyConfig) ([]builder.PolicySet, error) {
	for _, c := range cfgs {
		if c.Disabled && (len(cfgs) > 1 || c.Reset || c.Strict != nil || c.LogLevel != nil || len(c.Files) > 0) {
			return nil, errors.New("disabled policy cannot be combined with other policy flags")
		}
		if c.Disabled {
			return nil, nil
		}
	}
	var out []builder.PolicySet
	if len(defaults) > 0 {
		out = append(out, builder.PolicySet{Files: defaults})
	}
	var pending buildflags.PolicyConfig
	for _, c := range cfgs {
		if c.Reset {
			out = nil
		}
		if len(c.Files) == 0 {
			if len(out) == 0 {
				pending = c
			} else {
				applyPolicySettings(&out[len(out)-1], c)
			}
			continue
		}
		s := builder.PolicySet{}
		for _, f := range c.Files {
			s.Files = append(s.Files, builder.PolicyFile{Name: f.Filename})
		}
		applyPolicySettings(&s, pending)
		applyPolicySettings(&s, c)
		out = append(out, s)
	}
	return out, nil
}

func applyPolicySettings(s *builder.PolicySet, c buildflags.PolicyConfig) {
	if c.Strict != nil {
		s.Strict = *c.Strict
	}
	if c.LogLevel != nil {
		s.LogLevel = c.LogLevel
	}
}

// loadPolicyFiles reads the files not read yet (relative to the build
// context, or to the working folder with cwd://) and parses them all.
func loadPolicyFiles(files []builder.PolicyFile, dir string) error {
	for i := range files {
		f := &files[i]
		if f.Data == nil {
			dt, err := readPolicyFile(f.Name, dir)
			if err != nil {
				return err
			}
			f.Data = dt
		}
		if err := builder.ParsePolicyFile(f.Name, f.Data); err != nil {
			return err
		}
	}
	return nil
}

func readPolicyFile(name, dir string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(name, cwdPrefix); ok {
		if rest == "" {
			return nil, fmt.Errorf("invalid policy filename %q: name a file after %s", name, cwdPrefix)
		}
		dt, err := os.ReadFile(rest)
		return dt, policyReadError(name, err)
	}
	if dir == "" {
		return nil, fmt.Errorf("policy file %s: the build context is not a local folder: name the file as %s%s", name, cwdPrefix, name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening build context for policy file %s: %w", name, err)
	}
	defer root.Close()
	rel := name
	if filepath.IsAbs(name) {
		if abs, err := filepath.Abs(dir); err == nil {
			if r, err := filepath.Rel(abs, name); err == nil && !strings.HasPrefix(r, "..") {
				rel = r
			}
		}
	}
	dt, err := root.ReadFile(filepath.Clean(rel))
	return dt, policyReadError(name, err)
}

func policyReadError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("policy file %s not found: policy files are named relative to the build context (or the working folder, with %s)", name, cwdPrefix)
	}
	return fmt.Errorf("reading policy file %s: %w", name, err)
}

// addPolicyFlags is addPolicy for build's --policy values.
func addPolicyFlags(env *Env, req *builder.Request, values []string) error {
	cfgs, err := parsePolicyFlags(values)
	if err != nil {
		return err
	}
	return addPolicy(env, req, cfgs)
}
