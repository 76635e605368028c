package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
)

// setupActionBuilder creates the builder the setup inputs describe, or a
// local one when the engine's classic store could not take what is asked,
// and records it for the cleanup step.
func setupActionBuilder(ctx context.Context, env *Env, in actionInputs, jobs []*builder.Job) (string, error) {
	appended, err := parseAppendInput(in.env.Getenv("INPUT_APPEND"))
	if err != nil {
		return "", err
	}
	name := in.get("builder")
	drv := in.get("driver")
	switch {
	case drv == "" && in.get("endpoint") != "":
		drv = "remote"
	case drv == "" && name == "" && needsOwnBuilder(ctx, env, jobs):
		drv = "local"
		fmt.Fprintln(env.Stdout, "the runner's Docker Engine keeps the classic image store, which cannot hold several platforms, export build cache or push by digest: building with a local buildkitd")
	case drv == "" || drv == "docker":
		if len(appended) > 0 {
			return "", errors.New("input append adds nodes to a builder the step creates: give driver (remote or local) and, for remote, endpoint")
		}
		warnUnusedSetup(env, in)
		return name, nil
	}
	if name != "" {
		return "", errors.New("inputs builder and driver both given: pick an existing builder or describe a new one")
	}
	co, err := actionCreateOptions(env, in, drv)
	if err != nil {
		return "", err
	}
	name = co.name
	// platforms means what it means to build-push-action, the platforms to
	// build; setup-buildx-action's input of that name, the node's
	// platforms, then follows from it. With appended nodes, the first keeps
	// the platforms no appended node claims, so each has one node made for it.
	plats, err := in.list("platforms", true)
	if err != nil {
		return "", err
	}
	for _, n := range appended {
		plats = slices.DeleteFunc(plats, func(p string) bool { return slices.Contains(n.platforms, normalPlatform(p)) })
	}
	quiet := &Env{Stdin: env.Stdin, Stdout: env.Stderr, Stderr: env.Stderr, Getenv: env.Getenv, Environ: env.Environ, Drivers: env.Drivers}
	co.platforms = plats
	if err := runCreate(ctx, quiet, in.get("endpoint"), co); err != nil {
		return "", fmt.Errorf("setting up builder %s: %w", name, err)
	}
	for _, n := range appended {
		if err := appendActionNode(ctx, quiet, in, name, drv, n); err != nil {
			_ = removeBuilder(ctx, env, name, driver.RemoveOptions{}) // a builder short of a node would build elsewhere than asked
			return "", fmt.Errorf("input append: %w", err)
		}
	}
	return name, finishActionBuilder(ctx, env, in, name)
}

// actionCreateOptions describes the builder to create from the setup
// inputs: its name, driver options, buildkitd flags and configuration.
func actionCreateOptions(env *Env, in actionInputs, drv string) (*createOptions, error) {
	name := in.get("name")
	if name == "" {
		name = "xbuild-" + identity.NewID()[:12]
	}
	opts, err := in.list("driver-opts", false)
	if err != nil {
		return nil, err
	}
	co := &createOptions{name: name, driver: drv, bootstrap: true, buildkitdFlags: in.get("buildkitd-flags")}
	switch {
	case drv == "local":
		if opts, err = localBuilderOpts(env, in, opts); err != nil {
			return nil, err
		}
	case daemonDrivers[drv]:
		if co.buildkitdConfig, err = inlineBuildkitdConfig(env, in); err != nil {
			return nil, err
		}
	case in.get("buildkitd-config-inline") != "":
		return nil, fmt.Errorf("input buildkitd-config-inline needs a builder the step runs itself (driver: docker-container or local), not %s", drv)
	}
	co.driverOpts = opts
	return co, nil
}

// finishActionBuilder does what setup-buildx-action does once its builder
// exists: use (by default) makes it the current builder, so later steps
// build there; cleanup (by default) has the post step remove it, keeping
// its build state with keep-state.
func finishActionBuilder(ctx context.Context, env *Env, in actionInputs, name string) error {
	flags := map[string]bool{"use": true, "cleanup": true, "keep-state": false}
	for f := range flags {
		if in.get(f) == "" {
			continue
		}
		b, err := in.bool(f)
		if err != nil {
			return err
		}
		flags[f] = b
	}
	if flags["use"] {
		r, err := env.resolver()
		if err != nil {
			return err
		}
		if err := r.Store.Update(func(tx *store.Txn) error { return tx.SetCurrent(name) }); err != nil {
			return fmt.Errorf("using builder %s: %w", name, err)
		}
	}
	if !flags["cleanup"] {
		return nil
	}
	if flags["keep-state"] {
		if err := appendGitHubFile(env, "GITHUB_STATE", "keepstate", "true"); err != nil {
			return err
		}
	}
	return appendGitHubFile(env, "GITHUB_STATE", "builder", name)
}

// warnUnusedSetup names the inputs that describe a builder to create when
// the step creates none, rather than dropping them unsaid.
func warnUnusedSetup(env *Env, in actionInputs) {
	for _, n := range []string{"name", "driver-opts", "buildkitd-flags", "buildkitd-config", "buildkitd-config-inline", "keep-state"} {
		if in.get(n) != "" {
			fmt.Fprintf(env.Stdout, "::warning::input %s is not used by xbuild: the step creates no builder (give driver: local, docker-container or remote)\n", n)
		}
	}
}

func appendActionNode(ctx context.Context, env *Env, in actionInputs, builderName, drv string, n appendedNode) error {
	opts := n.driverOpts
	if drv == "local" {
		var err error
		if opts, err = localBuilderOpts(env, in, opts); err != nil {
			return err
		}
	}
	return runAppend(ctx, env, n.endpoint, &createOptions{name: builderName, driver: drv, node: n.name, driverOpts: opts,
		platforms: n.platforms, appendNode: true, bootstrap: true})
}

// needsOwnBuilder: no builder was named, more than one platform, a cache
// export (such as type=gha) or a push by digest is asked, and the current
// engine is the docker driver on a classic store, which can do none.
func needsOwnBuilder(ctx context.Context, env *Env, jobs []*builder.Job) bool {
	multi, cacheExport, byDigest := false, false, false
	for _, j := range jobs {
		multi = multi || len(j.Req.Platforms) > 1
		cacheExport = cacheExport || slices.ContainsFunc(j.Req.CacheTo, func(c bkclient.CacheOptionsEntry) bool { return c.Type != "inline" })
		byDigest = byDigest || slices.ContainsFunc(j.Req.Outputs, func(o exporter.Output) bool { return o.Attrs["push-by-digest"] == "true" })
	}
	if !multi && !cacheExport && !byDigest {
		return false
	}
	r, err := env.resolver()
	if err != nil {
		return false
	}
	inst, err := r.Resolve(ctx, "")
	if err != nil || !inst.FromContext {
		return false
	}
	caps := inst.Nodes[0].Driver.Info(ctx).Capabilities
	return (multi && !caps.MultiPlatform) || (cacheExport && !caps.CacheExport) || (byDigest && caps.PushThroughEngine)
}

// localBuilderOpts finds a buildkitd for a local builder (PATH, else built
// from the action's pinned module with the runner's Go) and writes the
// inline configuration.
func localBuilderOpts(env *Env, in actionInputs, opts []string) ([]string, error) {
	tmp := env.Getenv("RUNNER_TEMP")
	if tmp == "" {
		tmp = os.TempDir()
	}
	p, err := inlineBuildkitdConfig(env, in)
	if err != nil {
		return nil, err
	}
	if p != "" {
		opts = append(opts, "config="+p)
	}
	if _, err := exec.LookPath("buildkitd"); err == nil || slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "buildkitd=") }) {
		return opts, nil
	}
	dir := env.Getenv("XBUILD_ACTION_DIR")
	if dir == "" {
		return nil, errors.New("no buildkitd in PATH for a local builder: install one, or give the step a builder (driver: remote, endpoint: ...)")
	}
	bin := filepath.Join(tmp, "buildkitd")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/moby/buildkit/cmd/buildkitd")
	cmd.Dir = filepath.Join(dir, "hack", "tools", "buildkit")
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	fmt.Fprintln(env.Stdout, "building buildkitd from the action's pinned module")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building buildkitd for a local builder: %w", err)
	}
	return append(opts, "buildkitd="+bin), nil
}

// inlineBuildkitdConfig writes the buildkitd-config-inline input to a file
// of the runner's; it returns the buildkitd-config input when that is
// given instead.
func inlineBuildkitdConfig(env *Env, in actionInputs) (string, error) {
	cfg := in.get("buildkitd-config-inline")
	if cfg == "" {
		return in.get("buildkitd-config"), nil
	}
	tmp := env.Getenv("RUNNER_TEMP")
	if tmp == "" {
		tmp = os.TempDir()
	}
	p := filepath.Join(tmp, "xbuild-buildkitd-"+identity.NewID()+".toml")
	if err := os.WriteFile(p, []byte(cfg+"\n"), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// actionProvenance is build-push-action's default provenance: mode=max for
// public repositories, mode=min otherwise. The planner applies it where
// buildx applies its own default, so a classic store still gets none.
func actionProvenance(env *Env) string {
	if repositoryIsPublic(env) {
		return "mode=max"
	}
	return "mode=min"
}

func repositoryIsPublic(env *Env) bool {
	data, err := os.ReadFile(env.Getenv("GITHUB_EVENT_PATH"))
	if err != nil {
		return false
	}
	var ev struct {
		Repository struct {
			Private *bool `json:"private"`
		} `json:"repository"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.Repository.Private == nil {
		return false
	}
	return !*ev.Repository.Private
}

func cleanupAction(ctx context.Context, env *Env) error {
	name := env.Getenv("STATE_builder")
	if name == "" {
		return nil
	}
	keep := env.Getenv("STATE_keepstate") == "true"
	if err := removeBuilder(ctx, env, name, driver.RemoveOptions{KeepState: keep}); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(env.Stdout, "removed builder %s, keeping its build state\n", name)
		return nil
	}
	fmt.Fprintf(env.Stdout, "removed builder %s\n", name)
	return nil
}

// removeBuilder removes the step's builder; one already gone (removed by
// hand, or never saved) is no error, any other failure is.
func removeBuilder(ctx context.Context, env *Env, name string, opts driver.RemoveOptions) error {
	r, err := env.resolver()
	if err != nil {
		return err
	}
	if err := r.Remove(ctx, name, opts); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}
