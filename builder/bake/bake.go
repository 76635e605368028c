package bake

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	bxbake "github.com/docker/buildx/bake"
	"github.com/docker/buildx/bake/hclparser"
	"github.com/docker/buildx/util/buildflags"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// LoadOptions say which files to read and how to resolve them.
type LoadOptions struct {
	// Files are the definition files; empty means buildx's default list.
	// "-" reads standard input.
	Files []string
	Stdin io.Reader
	// Targets are the targets or groups asked for; empty means "default".
	Targets []string
	// Overrides are --set values (pattern.key=value, +=).
	Overrides []string
	// Vars are --var values; they win over the environment.
	Vars map[string]string
}

// Definition is a resolved bake definition.
type Definition struct {
	Group  map[string]*bxbake.Group  `json:"group,omitempty"`
	Target map[string]*bxbake.Target `json:"target"`
}

// ErrNoDefinition is returned when no bake file was found.
var ErrNoDefinition = cerrdefs.ErrNotFound.WithMessage("no bake definition found (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml, docker-bake.json, docker-bake.override.json, docker-bake.hcl, docker-bake.override.hcl): give one with -f")

// Load reads the files and resolves the targets asked for.
func Load(ctx context.Context, opts LoadOptions) (*Definition, error) {
	files, err := readFiles(opts)
	if err != nil {
		return nil, err
	}
	cfg, _, err := bxbake.ParseFiles(files, defaults(), opts.Vars)
	if err != nil {
		return nil, err
	}
	if err := checkInherits(cfg); err != nil {
		return nil, err
	}
	targets := opts.Targets
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	// The entitlement record collects the paths a bake reads and writes, for
	// buildx's approval prompt; xbuild has no such prompt, but overrides of
	// outputs write into it and need one.
	tgts, grps, err := bxbake.ReadTargets(ctx, files, targets, opts.Overrides, defaults(), opts.Vars, &bxbake.EntitlementConf{})
	if err != nil {
		return nil, err
	}
	return &Definition{Group: grps, Target: tgts}, nil
}

// checkInherits rejects targets that inherit from each other in a loop,
// which would otherwise resolve silently to an arbitrary order.
func checkInherits(cfg *bxbake.Config) error {
	parents := map[string][]string{}
	for _, t := range cfg.Targets {
		parents[t.Name] = t.Inherits
	}
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("targets inherit from each other in a loop: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		for _, p := range parents[name] {
			if err := visit(p, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	names := make([]string, 0, len(parents))
	for n := range parents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return err
		}
	}
	return nil
}

func readFiles(opts LoadOptions) ([]bxbake.File, error) {
	for _, f := range opts.Files {
		if isRemote(f) {
			return nil, fmt.Errorf("remote bake definitions (%s) are not supported yet: clone the repository and pass its files with -f", f)
		}
	}
	files, err := bxbake.ReadLocalFiles(opts.Files, opts.Stdin, nil)
	if err != nil {
		return nil, fmt.Errorf("reading bake files: %w", err)
	}
	if len(files) == 0 {
		return nil, ErrNoDefinition
	}
	return files, nil
}

func isRemote(s string) bool {
	for _, p := range []string{"https://", "http://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.HasSuffix(s, ".git") || strings.Contains(s, ".git#")
}

func defaults() map[string]string {
	return map[string]string{
		"BAKE_CMD_CONTEXT":    "cwd://",
		"BAKE_LOCAL_PLATFORM": platforms.Format(platforms.DefaultSpec()),
	}
}

// Parse reads the files without resolving targets, for --list.
func Parse(opts LoadOptions) (*bxbake.Config, []*hclparser.Variable, error) {
	files, err := readFiles(opts)
	if err != nil {
		return nil, nil, err
	}
	cfg, pm, err := bxbake.ParseFiles(files, defaults(), opts.Vars)
	if err != nil {
		return nil, nil, err
	}
	return cfg, pm.AllVariables, nil
}

// Jobs turns every target of the definition into a builder job. Targets
// reached only through another target's "target:" context build for that
// context alone. getenv resolves secrets named by variable; the
// process-wide switches belong to the run, not to each job.
func (d *Definition) Jobs(getenv func(string) string) ([]*builder.Job, error) {
	names := make([]string, 0, len(d.Target))
	for n := range d.Target {
		names = append(names, n)
	}
	sort.Strings(names)
	var jobs []*builder.Job
	for _, n := range names {
		req, deps, err := request(d.Target[n], getenv)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", n, err)
		}
		jobs = append(jobs, &builder.Job{Name: n, Req: req, ContextTargets: deps})
	}
	inheritPlatforms(jobs)
	return jobs, nil
}

// inheritPlatforms gives a context target without platforms of its own the
// platforms of the targets that use it, so each platform of a dependent
// builds on the same platform of its context.
func inheritPlatforms(jobs []*builder.Job) {
	byName := map[string]*builder.Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	own := map[string]bool{}
	for _, j := range jobs {
		own[j.Name] = len(j.Req.Platforms) > 0
	}
	for changed := true; changed; {
		changed = false
		for _, j := range jobs {
			for _, depName := range j.ContextTargets {
				dep := byName[depName]
				if dep == nil || own[depName] {
					continue
				}
				for _, p := range j.Req.Platforms {
					if !slices.ContainsFunc(dep.Req.Platforms, func(q ocispecs.Platform) bool { return builder.FormatPlatform(q) == builder.FormatPlatform(p) }) {
						dep.Req.Platforms = append(dep.Req.Platforms, p)
						changed = true
					}
				}
			}
		}
	}
}

// request converts one resolved target.
func request(t *bxbake.Target, getenv func(string) string) (*builder.Request, map[string]string, error) {
	req := &builder.Request{
		Context:       deref(t.Context, "."),
		BuildArgs:     values(t.Args),
		Labels:        values(t.Labels),
		Tags:          t.Tags,
		Target:        deref(t.Target, ""),
		Network:       deref(t.NetworkMode, ""),
		Pull:          t.Pull != nil && *t.Pull,
		NoCache:       t.NoCache != nil && *t.NoCache,
		BuildContexts: map[string]string{},
		Annotations:   map[string]string{},
		Attests:       map[string]builder.Attest{},
	}
	switch {
	case t.DockerfileInline != nil:
		req.Dockerfile = "-"
		req.Stdin = strings.NewReader(*t.DockerfileInline)
	case t.Dockerfile != nil:
		df := *t.Dockerfile
		if !builder.IsRemoteContext(req.Context) && !filepath.IsAbs(df) {
			df = filepath.Join(req.Context, df)
		}
		req.Dockerfile = df
	}
	var err error
	if req.Platforms, err = builder.ParsePlatforms(t.Platforms); err != nil {
		return nil, nil, err
	}
	deps := map[string]string{}
	for name, v := range t.Contexts {
		if dep, ok := strings.CutPrefix(v, "target:"); ok {
			deps[name] = dep
			continue
		}
		req.BuildContexts[name] = v
	}
	for _, o := range t.Outputs {
		if o == nil {
			continue
		}
		out := exporter.Output{Type: o.Type, Dest: o.Destination, Attrs: map[string]string{}}
		for k, v := range o.Attrs {
			out.Attrs[k] = v
		}
		if out.Type == exporter.TypeRegistry {
			out.Type, out.Attrs["push"] = exporter.TypeImage, "true"
		}
		req.Outputs = append(req.Outputs, out)
	}
	for _, a := range t.Attest {
		if a == nil {
			continue
		}
		var params []string
		for k, v := range a.Attrs {
			params = append(params, k+"="+v)
		}
		sort.Strings(params)
		req.Attests[a.Type] = builder.Attest{Off: a.Disabled, Params: strings.Join(params, ",")}
	}
	for _, s := range t.Secrets {
		if s == nil {
			continue
		}
		src, err := builder.NewSecret(s.ID, s.FilePath, s.Env, getenv)
		if err != nil {
			return nil, nil, err
		}
		req.Secrets = append(req.Secrets, src)
	}
	for _, s := range t.SSH {
		if s != nil {
			req.SSH = append(req.SSH, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
	}
	req.CacheFrom = cacheEntries(t.CacheFrom)
	req.CacheTo = cacheEntries(t.CacheTo)
	for h, ip := range t.ExtraHosts {
		if ip != nil {
			req.ExtraHosts = append(req.ExtraHosts, h+"="+*ip)
		}
	}
	sort.Strings(req.ExtraHosts)
	for _, a := range t.Annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, fmt.Errorf("invalid annotation %q: want KEY=VALUE", a)
		}
		if typ, key, hasType := strings.Cut(k, ":"); hasType {
			req.Annotations["annotation-"+typ+"."+key] = v
		} else {
			req.Annotations["annotation."+k] = v
		}
	}
	return req, deps, nil
}

func cacheEntries(in buildflags.CacheOptions) []bkclient.CacheOptionsEntry {
	var out []bkclient.CacheOptionsEntry
	for _, e := range in {
		if e != nil {
			out = append(out, bkclient.CacheOptionsEntry{Type: e.Type, Attrs: e.Attrs})
		}
	}
	return out
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func values(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}
