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
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
)

// The action's inputs, named like docker/build-push-action,
// docker/bake-action and docker/setup-buildx-action where they mean the same.
var (
	buildInputs = []string{"context", "file", "platforms", "tags", "labels", "annotations", "build-args",
		"build-contexts", "target", "push", "load", "outputs", "cache-from", "cache-to", "secrets", "ssh",
		"provenance", "sbom", "attests", "no-cache", "pull", "builder", "add-hosts", "network"}
	bakeInputs  = []string{"files", "targets", "set", "source"}
	setupInputs = []string{"driver", "driver-opts", "endpoint", "name", "cleanup", "buildkitd-flags", "buildkitd-config",
		"buildkitd-config-inline", "append"}
	otherInputs = []string{"version", "xbuild-path", "github-token"}
)

func newActionCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "action",
		Short:  "Run as a GitHub Actions step (reads INPUT_* variables)",
		Hidden: true,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run",
		Short: "Set up the builder, build or bake, write outputs and the job summary",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runAction(cmd.Context(), env) },
	}, &cobra.Command{
		Use:   "cleanup",
		Short: "Remove the builder the step created",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cleanupAction(cmd.Context(), env) },
	})
	return cmd
}

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

func runAction(ctx context.Context, env *Env) error {
	in := actionInputs{env: env}
	if err := in.checkUnknown(os.Environ()); err != nil {
		return err
	}
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	bakeMode := in.get("files") != "" || in.get("targets") != "" || in.get("set") != "" || in.get("source") != ""
	jobs, summaryInputs, err := actionJobs(ctx, env, s, in, bakeMode)
	if err != nil {
		return err
	}
	builderName, err := setupActionBuilder(ctx, env, in, jobs)
	if err != nil {
		return err
	}
	if err := defaultActionProvenance(ctx, env, s, in, builderName, jobs); err != nil {
		return err
	}
	results, err := runJobs(ctx, env, s, builderName, jobs, progressui.PlainMode, true)
	if err != nil {
		var te *builder.TargetError
		if !bakeMode && errors.As(err, &te) {
			return te.Err
		}
		return err
	}
	return writeActionResults(env, jobs, results, bakeMode, summaryInputs)
}

// actionJobs turns the inputs into jobs with the same parsers as the
// command line, so a bad input fails before any builder is touched.
func actionJobs(ctx context.Context, env *Env, s settings, in actionInputs, bakeMode bool) ([]*builder.Job, map[string]string, error) {
	summary := map[string]string{}
	if bakeMode {
		files, err := in.list("files", true)
		if err != nil {
			return nil, nil, err
		}
		targets, err := in.list("targets", true)
		if err != nil {
			return nil, nil, err
		}
		sets, err := in.list("set", false)
		if err != nil {
			return nil, nil, err
		}
		o := bakeOptions{files: files, overrides: sets}
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
		if src := in.get("source"); src != "" && src != "." {
			if err := os.Chdir(src); err != nil {
				return nil, nil, fmt.Errorf("input source: %w", err)
			}
		}
		def, err := bake.Load(ctx, bake.LoadOptions{Files: files, Targets: targets, Overrides: overrides})
		if err != nil {
			return nil, nil, err
		}
		jobs, err := def.Jobs(env.Getenv)
		summary["files"], summary["targets"] = strings.Join(files, ", "), strings.Join(targets, ", ")
		return jobs, summary, err
	}
	var o buildOptions
	var err error
	o.file, o.target, o.provenance, o.sbom = in.get("file"), in.get("target"), in.get("provenance"), in.get("sbom")
	o.network = in.get("network")
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
	summary["context"], summary["file"] = ctxDir, o.file
	summary["platforms"], summary["tags"] = strings.Join(o.platforms, ", "), strings.Join(o.tags, ", ")
	var keys []string
	for _, s := range req.Secrets {
		keys = append(keys, s.ID)
	}
	summary["secrets"] = strings.Join(keys, ", ") // keys only, never values
	return []*builder.Job{{Name: "default", Req: req}}, summary, nil
}

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
		fmt.Fprintln(env.Stdout, "the runner's Docker Engine keeps the classic image store, which cannot hold several platforms: building with a local buildkitd")
	case drv == "" || drv == "docker":
		if len(appended) > 0 {
			return "", errors.New("input append adds nodes to a builder the step creates: give driver (remote or local) and, for remote, endpoint")
		}
		return name, nil
	}
	if name != "" {
		return "", errors.New("inputs builder and driver both given: pick an existing builder or describe a new one")
	}
	name = in.get("name")
	if name == "" {
		name = "xbuild-" + identity.NewID()[:12]
	}
	opts, err := in.list("driver-opts", false)
	if err != nil {
		return "", err
	}
	co := &createOptions{name: name, driver: drv, bootstrap: true, buildkitdFlags: in.get("buildkitd-flags")}
	switch {
	case drv == "local":
		if opts, err = localBuilderOpts(env, in, opts); err != nil {
			return "", err
		}
	case daemonDrivers[drv]:
		if co.buildkitdConfig, err = inlineBuildkitdConfig(env, in); err != nil {
			return "", err
		}
	case in.get("buildkitd-config-inline") != "":
		return "", fmt.Errorf("input buildkitd-config-inline needs a builder the step runs itself (driver: docker-container or local), not %s", drv)
	}
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
	quiet := &Env{Stdin: env.Stdin, Stdout: env.Stderr, Stderr: env.Stderr, Getenv: env.Getenv, Drivers: env.Drivers}
	co.driverOpts, co.platforms = opts, plats
	if err := runCreate(ctx, quiet, in.get("endpoint"), co); err != nil {
		return "", fmt.Errorf("setting up builder %s: %w", name, err)
	}
	for _, n := range appended {
		if err := appendActionNode(ctx, quiet, in, name, drv, n); err != nil {
			_ = removeBuilder(ctx, env, name) // a builder short of a node would build elsewhere than asked
			return "", fmt.Errorf("input append: %w", err)
		}
	}
	remove := true // like setup-buildx-action: cleanup defaults to true
	if in.get("cleanup") != "" {
		if remove, err = in.bool("cleanup"); err != nil {
			return "", err
		}
	}
	if remove {
		if err := appendGitHubFile(env, "GITHUB_STATE", "builder", name); err != nil {
			return "", err
		}
	}
	return name, nil
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

// needsOwnBuilder: no builder was named, more than one platform is asked,
// and the current engine is the docker driver on a classic store.
func needsOwnBuilder(ctx context.Context, env *Env, jobs []*builder.Job) bool {
	multi := false
	for _, j := range jobs {
		multi = multi || len(j.Req.Platforms) > 1
	}
	if !multi {
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
	return !inst.Nodes[0].Driver.Info(ctx).Capabilities.MultiPlatform
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

// defaultActionProvenance follows build-push-action: mode=max for public
// repositories, mode=min otherwise, none when the image goes into a store
// that cannot hold an index, and none with the no-default-attestations
// switch, as for build and bake.
func defaultActionProvenance(ctx context.Context, env *Env, s settings, in actionInputs, builderName string, jobs []*builder.Job) error {
	if in.get("provenance") != "" || s.switches.NoDefaultAttestations {
		return nil
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return err
	}
	caps := inst.Nodes[0].Driver.Info(ctx).Capabilities
	mode := "mode=min"
	if repositoryIsPublic(env) {
		mode = "mode=max"
	}
	for _, j := range jobs {
		if _, set := j.Req.Attests["provenance"]; set {
			continue
		}
		loads := slices.ContainsFunc(j.Req.Outputs, exporter.Output.Loads)
		if !caps.MultiPlatform || (loads && caps.ImageStore == imagestore.Classic) {
			j.Req.Attests["provenance"] = builder.Attest{Off: true}
			continue
		}
		j.Req.Attests["provenance"] = builder.Attest{Params: mode}
	}
	return nil
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
	if err := removeBuilder(ctx, env, name); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed builder %s\n", name)
	return nil
}

// removeBuilder removes the step's builder; one already gone (removed by
// hand, or never saved) is no error, any other failure is.
func removeBuilder(ctx context.Context, env *Env, name string) error {
	r, err := env.resolver()
	if err != nil {
		return err
	}
	if err := r.Remove(ctx, name, driver.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// appendGitHubFile adds name=value to one of the runner's files
// (GITHUB_OUTPUT, GITHUB_STATE), with a heredoc for multi-line values.
func appendGitHubFile(env *Env, file, name, value string) error {
	path := env.Getenv(file)
	if path == "" {
		return fmt.Errorf("%s is not set: run this as a GitHub Actions step", file)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.Contains(value, "\n") {
		delim := "xbuild_" + identity.NewID()
		_, err = fmt.Fprintf(f, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	} else {
		_, err = fmt.Fprintf(f, "%s=%s\n", name, value)
	}
	return err
}

func writeActionResults(env *Env, jobs []*builder.Job, results map[string]*builder.Result, bakeMode bool, inputs map[string]string) error {
	var metadata any
	if bakeMode {
		md := map[string]any{}
		for n, r := range results {
			md[n] = r.Metadata
		}
		metadata = md
	} else {
		res := results["default"]
		metadata = res.Metadata
		digest, _ := res.Metadata[exporter.KeyDigest].(string)
		if err := appendGitHubFile(env, "GITHUB_OUTPUT", "imageid", res.ImageID); err != nil {
			return err
		}
		if err := appendGitHubFile(env, "GITHUB_OUTPUT", "digest", digest); err != nil {
			return err
		}
	}
	dt, err := json.MarshalIndent(metadata, "", "  ")
	if err != nil {
		return err
	}
	if err := appendGitHubFile(env, "GITHUB_OUTPUT", "metadata", string(dt)); err != nil {
		return err
	}
	for _, j := range jobs {
		res := results[j.Name]
		if res == nil {
			continue
		}
		fmt.Fprintf(env.Stdout, "::group::%s\n", j.Name)
		for k, v := range res.Metadata {
			if s, ok := v.(string); ok {
				fmt.Fprintf(env.Stdout, "%s: %s\n", k, s)
			}
		}
		fmt.Fprintln(env.Stdout, "::endgroup::")
		for _, w := range res.Stats.Warnings {
			fmt.Fprintln(env.Stdout, annotation(j.Req, w))
		}
	}
	if path := env.Getenv("GITHUB_STEP_SUMMARY"); path != "" && env.Getenv("DOCKER_BUILD_SUMMARY") != "false" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(summaryMarkdown(jobs, results, inputs))
		return err
	}
	return nil
}

// annotation places a build check finding on its Dockerfile line.
func annotation(req *builder.Request, w builder.Warning) string {
	file := w.File
	if req.Dockerfile != "" && req.Dockerfile != "-" && filepath.Base(req.Dockerfile) == filepath.Base(file) {
		file = req.Dockerfile
	} else if req.Dockerfile == "" && file != "" && !builder.IsRemoteContext(req.Context) {
		file = filepath.Join(req.Context, file)
	}
	esc := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	prop := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
	return fmt.Sprintf("::warning file=%s,line=%d,title=%s::%s", prop.Replace(filepath.ToSlash(file)), w.Line, prop.Replace(w.Title), esc.Replace(w.Message))
}

func summaryMarkdown(jobs []*builder.Job, results map[string]*builder.Result, inputs map[string]string) string {
	var b strings.Builder
	b.WriteString("## Build summary\n\n")
	b.WriteString("| Target | Platforms | Tags | Digest | Attestations | Cached | Duration |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, j := range jobs {
		res := results[j.Name]
		if res == nil {
			continue
		}
		var plats []string
		for _, p := range j.Req.Platforms {
			plats = append(plats, builder.FormatPlatform(p))
		}
		if len(plats) == 0 {
			plats = []string{"(builder's)"}
		}
		digest, _ := res.Metadata[exporter.KeyDigest].(string)
		var attests []string
		for typ, a := range j.Req.Attests {
			if !a.Off {
				attests = append(attests, strings.TrimSuffix(typ+" "+a.Params, " "))
			}
		}
		sort.Strings(attests)
		if len(attests) == 0 {
			attests = []string{"none"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s | %d/%d | %.1fs |\n", j.Name, strings.Join(plats, ", "),
			strings.Join(j.Req.Tags, ", "), digest, strings.Join(attests, ", "),
			res.Stats.CachedSteps, res.Stats.Steps, res.Stats.Duration.Seconds())
	}
	b.WriteString("\nAn image with attestations or several platforms is an image index, not a single manifest.\n")
	b.WriteString("\n<details><summary>Build inputs</summary>\n\n")
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if inputs[k] != "" {
			fmt.Fprintf(&b, "- %s: `%s`\n", k, inputs[k])
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}
