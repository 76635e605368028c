package bake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	bxbake "github.com/docker/buildx/bake"
	"github.com/docker/buildx/bake/hclparser"
	"github.com/docker/buildx/util/buildflags"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/builder"
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
	// Allow are the --allow values: what the definition may do beyond
	// reading and writing under the working folder (fs.read=PATH,
	// fs.write=PATH, fs=PATH or *, network.host, security.insecure,
	// device[=NAME], ssh).
	Allow []string
	// Remote is the remote definition, if any: Files without cwd:// are
	// read from it, those with cwd:// from here.
	Remote *Remote
	// CmdContext is BAKE_CMD_CONTEXT; empty means cwd://.
	CmdContext string
}

// Definition is a resolved bake definition.
type Definition struct {
	Group  map[string]*bxbake.Group  `json:"group,omitempty"`
	Target map[string]*bxbake.Target `json:"target"`
	// granted is what --allow, the working folder and the --set values
	// (typed by the user, so granted by typing them) let the targets do.
	granted bxbake.EntitlementConf
	remote  *Remote
}

// ErrNoDefinition is returned when no bake file was found.
var ErrNoDefinition = cerrdefs.ErrNotFound.WithMessage("no bake definition found (looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml, docker-bake.json, docker-bake.override.json, docker-bake.hcl, docker-bake.override.hcl): give one with -f")

// Load reads the files and resolves the targets asked for.
func Load(ctx context.Context, opts LoadOptions) (*Definition, error) {
	files, err := readFiles(opts)
	if err != nil {
		return nil, err
	}
	cfg, _, err := parseFiles(files, opts.Vars, defaults(opts.CmdContext))
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
	granted, err := grantedEntitlements(opts.Allow)
	if err != nil {
		return nil, err
	}
	// ReadTargets adds the paths --set values name to what is granted.
	tgts, grps, err := bxbake.ReadTargets(ctx, files, targets, opts.Overrides, defaults(opts.CmdContext), opts.Vars, &granted)
	if err != nil {
		return nil, err
	}
	if err := opts.Remote.resolveContexts(tgts); err != nil {
		return nil, err
	}
	return &Definition{Group: grps, Target: tgts, granted: granted, remote: opts.Remote}, nil
}

// grantedEntitlements reads --allow with buildx's parser, one value at a
// time to name a bad one; the working folder is granted to read and write.
func grantedEntitlements(allow []string) (bxbake.EntitlementConf, error) {
	for _, a := range allow {
		if _, err := bxbake.ParseEntitlements([]string{a}); err != nil {
			return bxbake.EntitlementConf{}, fmt.Errorf("invalid --allow %q: %v; use fs.read=PATH, fs.write=PATH, fs=PATH, network.host, security.insecure, device[=NAME] or ssh", a, err)
		}
	}
	granted, err := bxbake.ParseEntitlements(allow)
	if err != nil {
		return bxbake.EntitlementConf{}, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return bxbake.EntitlementConf{}, fmt.Errorf("reading the working folder: %w", err)
	}
	granted.FSRead = append(granted.FSRead, wd)
	granted.FSWrite = append(granted.FSWrite, wd)
	return granted, nil
}

// ErrNotGranted is a definition that needs more than --allow grants.
var ErrNotGranted = cerrdefs.ErrPermissionDenied.WithMessage("additional privileges requested")

// CheckEntitlements refuses, before any build, a definition that needs
// more than is granted: local paths outside the working folder, host
// network, insecure steps, devices, the default SSH agent, deleting in a
// local output. buildx's bake package says what each target needs, as in
// buildx; where buildx prompts, the error lists the --allow flags to add.
// Without checkFS (BUILDX_BAKE_ENTITLEMENTS_FS=0) paths and SSH pass.
func (d *Definition) CheckEntitlements(checkFS bool) error {
	opts, err := bxbake.TargetsToBuildOpt(copyTargets(d.Target), nil)
	if err != nil {
		return fmt.Errorf("checking what the bake definition needs: %w", err)
	}
	missing, err := d.granted.Validate(opts)
	if err != nil {
		return fmt.Errorf("checking what the bake definition needs: %w", err)
	}
	wd, err := os.Getwd()
	if err == nil {
		wd, err = filepath.EvalSymlinks(wd)
	}
	if err != nil {
		return fmt.Errorf("reading the working folder: %w", err)
	}
	needs, flags := describeMissing(missing, checkFS, wd)
	if len(flags) == 0 {
		return nil
	}
	hint := ""
	if checkFS && slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--allow=fs") || f == "--allow=ssh" }) {
		hint = " (BUILDX_BAKE_ENTITLEMENTS_FS=0 turns the filesystem checks off)"
	}
	return fmt.Errorf("%w: the bake definition needs %s; pass %s to grant it%s",
		ErrNotGranted, strings.Join(needs, ", "), strings.Join(flags, " "), hint)
}

// copyTargets copies what TargetsToBuildOpt rewrites (each target's context
// and its outputs' destinations), so the definition stays as resolved.
func copyTargets(in map[string]*bxbake.Target) map[string]*bxbake.Target {
	out := make(map[string]*bxbake.Target, len(in))
	for name, t := range in {
		c := *t
		c.Outputs = make(buildflags.Exports, len(t.Outputs))
		for i, o := range t.Outputs {
			if o != nil {
				oc := *o
				c.Outputs[i] = &oc
			}
		}
		out[name] = &c
	}
	return out
}

// describeMissing says in words what is missing, with the --allow flag
// granting each. Paths show relative to wd when that is at most one
// folder up, as typed.
func describeMissing(m bxbake.EntitlementConf, checkFS bool, wd string) (needs, flags []string) {
	add := func(need, allow string) {
		needs, flags = append(needs, need), append(flags, "--allow="+allow)
	}
	if m.NetworkHost {
		add("the host's network", "network.host")
	}
	if m.SecurityInsecure {
		add("privileged (insecure) RUN steps", "security.insecure")
	}
	if m.Devices != nil && m.Devices.All {
		add("access to all CDI devices", "device")
	} else if m.Devices != nil {
		for _, dev := range slices.Sorted(maps.Keys(m.Devices.Devices)) {
			add("access to device "+dev, "device="+dev)
		}
	}
	if m.LocalOutputDelete {
		add("deleting files in local outputs", buildflags.EntitlementBuildxLocalDelete)
	}
	if !checkFS {
		return needs, flags
	}
	if m.SSH {
		add("the default SSH agent", "ssh")
	}
	for _, p := range m.FSRead {
		if slices.Contains(m.FSWrite, p) {
			add("read and write access to "+shortPath(p, wd), "fs="+shortPath(p, wd))
		} else {
			add("read access to "+shortPath(p, wd), "fs.read="+shortPath(p, wd))
		}
	}
	for _, p := range m.FSWrite {
		if !slices.Contains(m.FSRead, p) {
			add("write access to "+shortPath(p, wd), "fs.write="+shortPath(p, wd))
		}
	}
	return needs, flags
}

func shortPath(p, wd string) string {
	rel, err := filepath.Rel(wd, p)
	if err != nil || strings.HasPrefix(rel, ".."+string(filepath.Separator)+"..") {
		return p
	}
	return rel
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

// parseFiles is buildx's ParseFiles with a panic of the parsers under it
// turned into an error: compose-go panics on some malformed files (a build
// context left empty, "context:"), which are the user's to fix.
func parseFiles(files []bxbake.File, vars, defaults map[string]string) (cfg *bxbake.Config, pm *hclparser.ParseMeta, err error) {
	defer func() {
		if r := recover(); r != nil {
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.Name
			}
			cfg, pm, err = nil, nil, fmt.Errorf("reading bake files %s: malformed, the parser failed with: %v", strings.Join(names, ", "), r)
		}
	}()
	return bxbake.ParseFiles(files, defaults, vars)
}

func defaults(cmdContext string) map[string]string {
	if cmdContext == "" {
		cmdContext = CmdContextPrefix
	}
	return map[string]string{
		"BAKE_CMD_CONTEXT":    cmdContext,
		"BAKE_LOCAL_PLATFORM": platforms.Format(platforms.DefaultSpec()),
	}
}

// Parse reads the files without resolving targets, for --list.
func Parse(opts LoadOptions) (*bxbake.Config, []*hclparser.Variable, error) {
	files, err := readFiles(opts)
	if err != nil {
		return nil, nil, err
	}
	cfg, pm, err := parseFiles(files, opts.Vars, defaults(opts.CmdContext))
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
		auth, err := d.remote.gitAuth(req.Context, getenv)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", n, err)
		}
		req.Secrets = append(req.Secrets, auth...)
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
	if err := runOptions(t, req); err != nil {
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
	if err := exportOptions(t, req, getenv); err != nil {
		return nil, nil, err
	}
	req.DropForCall()
	return req, deps, nil
}

// exportOptions converts what goes out of a build and what it reads on
// the way, with the same conversions and checks as build's flags.
func exportOptions(t *bxbake.Target, req *builder.Request, getenv func(string) string) error {
	var err error
	if req.Outputs, err = builder.OutputsFrom(t.Outputs); err != nil {
		return fmt.Errorf("invalid output: %w", err)
	}
	req.Attests = builder.AttestsFrom(t.Attest)
	if req.Secrets, err = builder.SecretsFrom(t.Secrets, getenv); err != nil {
		return err
	}
	req.SSH = builder.SSHFrom(t.SSH)
	if req.CacheFrom, err = builder.CacheEntriesFrom(t.CacheFrom); err != nil {
		return fmt.Errorf("invalid cache-from: %w", err)
	}
	if req.CacheTo, err = builder.CacheEntriesFrom(t.CacheTo); err != nil {
		return fmt.Errorf("invalid cache-to: %w", err)
	}
	for _, a := range t.Annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("invalid annotation %q: want KEY=VALUE", a)
		}
		if typ, key, hasType := strings.Cut(k, ":"); hasType {
			req.Annotations["annotation-"+typ+"."+key] = v
		} else {
			req.Annotations["annotation."+k] = v
		}
	}
	return nil
}

// runOptions reads what RUN steps get, the entitlements and the call with
// the parsers build's flags use. A target with both no-cache and
// no-cache-filter builds without cache, as in buildx.
func runOptions(t *bxbake.Target, req *builder.Request) error {
	var err error
	if req.Call, err = builder.ParseCall(deref(t.Call, "")); err != nil {
		return fmt.Errorf("invalid call %q: %w", *t.Call, err)
	}
	req.Network = deref(t.NetworkMode, "")
	if err := builder.ValidateNetwork(req.Network); err != nil {
		return err
	}
	var hosts []string
	for _, h := range slices.Sorted(maps.Keys(t.ExtraHosts)) {
		if ip := t.ExtraHosts[h]; ip != nil {
			hosts = append(hosts, h+"="+*ip)
		}
	}
	if req.ExtraHosts, err = builder.ParseExtraHosts(hosts); err != nil {
		return err
	}
	if req.ShmSize, err = builder.ParseShmSize(deref(t.ShmSize, "")); err != nil {
		return err
	}
	if req.Ulimits, err = builder.ParseUlimits(t.Ulimits); err != nil {
		return err
	}
	if req.Resources, err = builder.ParseResources(t.Resources.ToEntries()); err != nil {
		return err
	}
	req.NoCacheFilter = builder.ParseNoCacheFilter(t.NoCacheFilter)
	// buildx.local.delete is for the definition check, not for BuildKit.
	req.Allow, _, err = builder.ParseEntitlements(t.Entitlements)
	return err
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
