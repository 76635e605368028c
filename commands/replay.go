package commands

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/buildx/replay"
	"github.com/docker/buildx/util/buildflags"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
)

// replayBuildOptions are the flags of `replay build`, named as buildx
// names them.
type replayBuildOptions struct {
	materials []string
	network   string
	secrets   []string
	ssh       []string
	platforms []string
	progress  string
	mode      string
	outputs   []string
	tags      []string
	load      bool
	push      bool
	dryRun    bool
	format    string
}

func newReplayCommand(env *Env, builderName *string) *cobra.Command {
	var debug bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay a build from its provenance (EXPERIMENTAL)",
		Long: `Replay a build from its provenance (EXPERIMENTAL).

Reads the SLSA provenance of an existing build and builds it again with the
recorded frontend, options and source digests. A subject is an image
(docker-image://REF or a bare REF), an OCI layout (oci-layout://PATH[:TAG]),
or a local attestation file (an in-toto statement, an unsigned DSSE
envelope or a bare SLSA provenance predicate). Only builds whose provenance
was recorded with mode=max, from a Git or HTTP(S) context, can be replayed.`,
	}
	cmd.PersistentFlags().BoolVarP(&debug, "debug", "D", false, "Enable debug logging")
	cmd.AddCommand(newReplayBuildCommand(env, builderName, &debug))
	return cmd
}

func newReplayBuildCommand(env *Env, builderName *string, debug *bool) *cobra.Command {
	var o replayBuildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] SUBJECT",
		Short: "Rebuild an image from provenance and pinned materials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDebug(env, *debug, func() error {
				return runReplayBuild(cmd.Context(), cmd, env, *builderName, args[0], &o)
			})
		},
		DisableFlagsInUseLine: true,
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.materials, "materials", nil, `Materials store (repeatable; format: "provenance" | "oci-layout://<path>[:<tag>]" | "<absolute-path>" | "<key>=<value>")`)
	_ = f.MarkHidden("materials") // only the provenance's own materials are replayed
	f.StringVar(&o.network, "network", "", `Network mode for RUN instructions ("default" | "none"; defaults to the mode of the original build)`)
	f.StringArrayVar(&o.secrets, "secret", nil, `Secret to expose to the replayed build (format: "id=mysecret[,src=/local/secret]")`)
	f.StringArrayVar(&o.ssh, "ssh", nil, `SSH agent socket or keys to expose (format: "default|<id>[=<socket>|<key>[,<key>]]")`)
	f.StringArrayVar(&o.platforms, "platform", nil, "Platform of the subject to replay (defaults to the only platform of the subject or the builder default platform)")
	f.StringVar(&o.progress, "progress", "auto", `Set type of progress output ("auto" | "plain" | "tty" | "quiet" | "rawjson")`)
	f.StringVar(&o.mode, "replay-mode", "materials", `Replay mode ("materials" | "frontend")`)
	f.StringArrayVarP(&o.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	f.StringArrayVarP(&o.tags, "tag", "t", nil, `Image identifier (format: "[registry/]repository[:tag]")`)
	f.BoolVar(&o.load, "load", false, `Shorthand for "--output=type=docker"`)
	f.BoolVar(&o.push, "push", false, `Shorthand for "--output=type=registry,unpack=false"`)
	f.BoolVar(&o.dryRun, "dry-run", false, "Print a plan of the replay without solving or exporting")
	f.StringVar(&o.format, "format", "pretty", `Format dry-run output ("pretty" | "json")`)
	return cmd
}

// runReplayBuild checks every flag, loads the subject and its provenance,
// then prints the plan (--dry-run) or builds it.
func runReplayBuild(ctx context.Context, cmd *cobra.Command, env *Env, builderName, input string, o *replayBuildOptions) error {
	if err := o.check(cmd.Flags().Changed("format")); err != nil {
		return err
	}
	req, err := o.replayRequest()
	if err != nil {
		return err
	}
	if req.Targets, err = replayTargets(ctx, env, builderName, input, o.platforms); err != nil {
		return err
	}
	if o.dryRun {
		plan, err := replay.MakeBuildPlan(req)
		if err != nil {
			return err
		}
		if o.format == "json" {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(plan)
		}
		return printReplayPlan(env.Stdout, plan)
	}
	return o.build(ctx, env, builderName, req)
}

// check refuses bad flag values before anything is read or connected.
func (o *replayBuildOptions) check(formatChanged bool) error {
	switch replay.BuildMode(o.mode) {
	case replay.BuildModeMaterials, replay.BuildModeFrontend:
	default:
		return fmt.Errorf("unknown --replay-mode %q: want materials or frontend", o.mode)
	}
	switch o.format {
	case "pretty", "json":
	default:
		return fmt.Errorf("unknown --format %q: want pretty or json", o.format)
	}
	if formatChanged && !o.dryRun {
		return errors.New("--format requires --dry-run")
	}
	switch o.network {
	case "", "default", "none":
	default:
		return fmt.Errorf("unsupported --network %q (want default or none)", o.network)
	}
	if _, err := parseReplayPlatforms(o.platforms); err != nil {
		return err
	}
	_, err := checkProgress(o.progress)
	if o.progress != "auto" && err != nil {
		return fmt.Errorf("invalid progress mode %q: use auto, tty, plain, quiet or rawjson", o.progress)
	}
	return nil
}

// replayRequest is the replay package's request for the flags, its
// targets still to be added: what it checks against each provenance.
func (o *replayBuildOptions) replayRequest() (*replay.BuildRequest, error) {
	materials, err := replay.NewMaterialsResolver(o.materials)
	if err != nil {
		return nil, err
	}
	secrets, err := buildflags.ParseSecretSpecs(o.secrets)
	if err != nil {
		return nil, fmt.Errorf("parsing --secret: %w", err)
	}
	ssh, err := buildflags.ParseSSHSpecs(o.ssh)
	if err != nil {
		return nil, fmt.Errorf("parsing --ssh: %w", err)
	}
	exports, err := buildflags.ParseExports(o.outputs)
	if err != nil {
		return nil, fmt.Errorf("parsing --output: %w", err)
	}
	if o.push && !exportsPush(exports) {
		exports = append(exports, &buildflags.ExportEntry{Type: "image", Attrs: map[string]string{"push": "true", "unpack": "false"}})
	}
	if o.load && !exportsLoad(exports) {
		exports = append(exports, &buildflags.ExportEntry{Type: "docker", Attrs: map[string]string{}})
	}
	return &replay.BuildRequest{
		Mode: replay.BuildMode(o.mode), Materials: materials, NetworkMode: o.network,
		Secrets: secrets, SSH: ssh, Exports: exports, Tags: o.tags,
	}, nil
}

func exportsPush(exports []*buildflags.ExportEntry) bool {
	for _, e := range exports {
		if e.Type == "registry" || e.Type == "image" && e.Attrs["push"] == "true" {
			return true
		}
	}
	return false
}

func exportsLoad(exports []*buildflags.ExportEntry) bool {
	for _, e := range exports {
		if _, hasDest := e.Attrs["dest"]; e.Type == "docker" && !hasDest && e.Destination == "" {
			return true
		}
	}
	return false
}

// build turns the one target into xbuild's request, through the options
// the replay package derives from the provenance, and runs it.
func (o *replayBuildOptions) build(ctx context.Context, env *Env, builderName string, req *replay.BuildRequest) error {
	plan, err := replay.MakeBuildPlan(req) // the same checks as a dry run
	if err != nil {
		return err
	}
	if len(plan.Subjects) != 1 {
		return errors.New("no subject to replay")
	}
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	breq, err := o.request(env, req)
	if err != nil {
		return err
	}
	mode, err := s.progressMode(o.progress, false)
	if err != nil {
		return err
	}
	_, err = runJobs(ctx, env, s, builderName, []*builder.Job{{Name: "replay", Req: breq}}, mode, false)
	var te *builder.TargetError
	if errors.As(err, &te) {
		err = te.Err
	}
	if err != nil {
		return fmt.Errorf("replay build: %w", err)
	}
	return nil
}

// request is xbuild's build request for the replay's one target.
func (o *replayBuildOptions) request(env *Env, req *replay.BuildRequest) (*builder.Request, error) {
	t := req.Targets[0]
	opt, err := replay.BuildOptionsFromPredicate(t.Subject, t.Predicate, req)
	if err != nil {
		return nil, err
	}
	br := &builder.Request{
		Context: opt.Inputs.ContextPath, Dockerfile: opt.Inputs.DockerfilePath, Target: opt.Target,
		BuildArgs: opt.BuildArgs, Labels: opt.Labels, Platforms: opt.Platforms, Network: opt.NetworkMode,
		NoCache: opt.NoCache, NoCacheFilter: opt.NoCacheFilter, ExtraHosts: opt.ExtraHosts,
		// A replay's own provenance would describe the replay, not the
		// original build.
		Attests:       map[string]builder.Attest{"provenance": {Off: true}, "sbom": {Off: true}},
		BuildContexts: map[string]string{},
	}
	if opt.Frontend == "gateway.v0" {
		// The Dockerfile frontend hands the build to the recorded one.
		br.BuildArgs = withBuildArg(br.BuildArgs, "BUILDKIT_SYNTAX", cmp.Or(strings.TrimSpace(opt.FrontendAttrs["cmdline"]), opt.FrontendAttrs["source"]))
	}
	for name, nc := range opt.Inputs.NamedContexts {
		br.BuildContexts[name] = nc.Path
	}
	for _, p := range opt.Policy {
		br.SourcePolicy = p.Callback
	}
	if br.Tags, err = parseTags(o.tags); err != nil {
		return nil, err
	}
	if br.Secrets, err = parseSecrets(o.secrets, env.Getenv); err != nil {
		return nil, err
	}
	if br.SSH, err = parseSSH(o.ssh); err != nil {
		return nil, err
	}
	bo := buildOptions{outputs: o.outputs, push: o.push, load: fmt.Sprint(o.load)}
	if br.Outputs, err = bo.parseOutputs(); err != nil {
		return nil, err
	}
	return br, nil
}

func withBuildArg(args map[string]string, k, v string) map[string]string {
	if args == nil {
		args = map[string]string{}
	}
	args[k] = v
	return args
}
