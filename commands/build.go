package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"unicode"

	"github.com/distribution/reference"
	"github.com/docker/buildx/util/buildflags"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/moby/buildkit/util/stack"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// buildOptions mirror the flags of `xbuild build`.
type buildOptions struct {
	file          string
	tags          []string
	buildArgs     []string
	target        string
	platforms     []string
	load          string
	push          bool
	outputs       []string
	progress      string
	metadataFile  string
	iidFile       string
	quiet         bool
	labels        []string
	annotations   []string
	secrets       []string
	ssh           []string
	buildContexts []string
	cacheFrom     []string
	cacheTo       []string
	noCache       bool
	pull          bool
	network       string
	addHosts      []string
	provenance    string
	sbom          string
	attests       []string
	noCacheFilter []string
	shmSize       string
	ulimits       []string
	cgroupParent  string
	resources     []string
	allow         []string
	debug         bool
	call          string
	policy        []string
	// legacyResources are docker build's --memory, --cpu-shares and the
	// like, read as --resource entries before those of --resource.
	legacyResources []string
	compat          compatFlags
}

func newBuildCommand(env *Env, builderName *string) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:     "build [OPTIONS] PATH | URL | -",
		Aliases: []string{"b"},
		Short:   "Start a build",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDebug(env, o.debug, func() error {
				return runBuild(cmd.Context(), env, *builderName, args[0], &o, cmd.Flags().Changed)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	f.StringArrayVarP(&o.tags, "tag", "t", nil, `Image name and optionally a tag (format: "name:tag")`)
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "Set build-time variables")
	f.StringVar(&o.target, "target", "", "Set the target build stage to build")
	f.StringArrayVar(&o.platforms, "platform", nil, "Set target platform for build (comma-separated or repeated)")
	f.StringVar(&o.load, "load", "false", `Shorthand for "--output=type=docker"; --load=containerd://SOCKET?namespace=NS loads into a containerd`)
	f.Lookup("load").NoOptDefVal = "true"
	f.BoolVar(&o.push, "push", false, `Shorthand for "--output=type=registry"`)
	f.StringArrayVarP(&o.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	f.StringVar(&o.progress, "progress", "auto", `Set type of progress output ("auto", "none", "plain", "quiet", "rawjson", "tty")`)
	f.StringVar(&o.metadataFile, "metadata-file", "", "Write build result metadata to a file")
	f.StringVar(&o.iidFile, "iidfile", "", "Write the image ID to a file")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.StringArrayVar(&o.labels, "label", nil, "Set metadata for an image")
	f.StringArrayVar(&o.annotations, "annotation", nil, "Add annotation to the image")
	f.StringArrayVar(&o.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	f.StringArrayVar(&o.ssh, "ssh", nil, `SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")`)
	f.StringArrayVar(&o.buildContexts, "build-context", nil, "Additional build contexts (e.g., name=path)")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, `External cache sources (e.g., "user/app:cache", "type=local,src=path/to/dir")`)
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, `Cache export destinations (e.g., "user/app:cache", "type=local,dest=path/to/dir")`)
	f.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	f.BoolVar(&o.pull, "pull", false, "Always attempt to pull all referenced images")
	f.StringVar(&o.network, "network", "", "Set the networking mode for the RUN instructions during build")
	f.StringSliceVar(&o.addHosts, "add-host", nil, `Add a custom host-to-IP mapping (format: "host:ip")`)
	f.StringVar(&o.provenance, "provenance", "", `Shorthand for "--attest=type=provenance"`)
	f.StringVar(&o.sbom, "sbom", "", `Shorthand for "--attest=type=sbom"`)
	f.StringArrayVar(&o.attests, "attest", nil, `Attestation parameters (format: "type=sbom,generator=image")`)
	f.StringArrayVar(&o.allow, "allow", nil, `Allow extra privileged entitlement (e.g., "network.host", "security.insecure", "device")`)
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	f.StringArrayVar(&o.noCacheFilter, "no-cache-filter", nil, "Do not cache specified stages")
	f.StringArrayVar(&o.resources, "resource", nil, `Resource limits for build containers (format: "memory=2g", "cpu-quota=50000")`)
	f.StringVar(&o.shmSize, "shm-size", "", `Shared memory size for build containers (bytes, e.g. "64m", "2g")`)
	f.StringArrayVar(&o.ulimits, "ulimit", nil, `Ulimit options (format: "nofile=1024:2048")`)
	f.BoolVarP(&o.debug, "debug", "D", false, "Enable debug logging")
	addCallFlags(f, &o.call)
	f.StringArrayVar(&o.policy, "policy", nil, policyFlagHelp)
	addCompatFlags(f, &o)
	return cmd
}

func runBuild(ctx context.Context, env *Env, builderName, contextArg string, o *buildOptions, changed func(string) bool) error {
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	req, err := o.request(env, s, contextArg, changed)
	if err != nil {
		return err
	}
	mode, printID, err := o.display(s)
	if err != nil {
		return err
	}
	warnIgnoredFlags(env.Stderr, changed)
	results, err := runJobs(ctx, env, s, builderName, []*builder.Job{{Name: "default", Req: req}}, mode, o.metadataFile != "" && req.Call == nil)
	var te *builder.TargetError
	if errors.As(err, &te) {
		return te.Err // one target: its name says nothing
	}
	if err != nil {
		return err
	}
	if req.Call != nil {
		return callExit(printCall(env.Stdout, req.Call, results["default"].Call, dockerfileShown(req)))
	}
	printBuildDetails(env.Stderr, mode, results)
	if res := results["default"]; printID && res.ImageID != "" {
		fmt.Fprintln(env.Stdout, res.ImageID)
	}
	return nil
}

// request turns the flags into a builder.Request. All user input is
// checked here, before any connection is made.
func (o *buildOptions) request(env *Env, s settings, contextArg string, changed func(string) bool) (*builder.Request, error) {
	req := &builder.Request{
		Context:      contextArg,
		Dockerfile:   o.file,
		Stdin:        env.Stdin,
		Target:       o.target,
		NoCache:      o.noCache,
		Pull:         o.pull,
		MetadataFile: o.metadataFile,
		IIDFile:      o.iidFile,
	}
	var err error
	if req.Tags, err = parseTags(o.tags); err != nil {
		return nil, err
	}
	if err := o.argsAndLabels(env, s, req); err != nil {
		return nil, err
	}
	plats := o.platforms
	if len(plats) == 0 && s.defaultPlatform != "" {
		plats = []string{s.defaultPlatform}
	}
	if req.Platforms, err = builder.ParsePlatforms(plats); err != nil {
		return nil, err
	}
	if req.Outputs, err = o.parseOutputs(); err != nil {
		return nil, err
	}
	if req.Annotations, err = parseAnnotations(o.annotations); err != nil {
		return nil, err
	}
	if req.Attests, err = parseAttests(o.attests, o.provenance, o.sbom, changed); err != nil {
		return nil, err
	}
	if req.Secrets, err = parseSecrets(o.secrets, env.Getenv); err != nil {
		return nil, err
	}
	if req.SSH, err = parseSSH(o.ssh); err != nil {
		return nil, err
	}
	if req.BuildContexts, err = buildflags.ParseContextNames(o.buildContexts); err != nil {
		return nil, fmt.Errorf("invalid --build-context: %w", err)
	}
	if req.CacheFrom, err = parseCache("--cache-from", o.cacheFrom); err != nil {
		return nil, err
	}
	if req.CacheTo, err = parseCache("--cache-to", o.cacheTo); err != nil {
		return nil, err
	}
	if err := o.runOptions(req); err != nil {
		return nil, err
	}
	if err := addCall(env, req, o.call); err != nil {
		return nil, err
	}
	if err := addPolicyFlags(env, req, o.policy); err != nil {
		return nil, err
	}
	return req, nil
}

// display reads --progress and --quiet as buildx does: --quiet, and so
// --progress=quiet, hide the progress and print the image ID at the end;
// --progress=none only hides the progress.
func (o *buildOptions) display(s settings) (mode progressui.DisplayMode, printID bool, err error) {
	switch {
	case o.progress == "none" && o.quiet:
		return "", false, errors.New("--progress=none and --quiet cannot be used together: keep one")
	case o.progress == "none":
		return progressui.QuietMode, false, nil
	case o.progress == "quiet":
		return progressui.QuietMode, true, nil
	case o.quiet && o.progress != "auto" && o.progress != "":
		return "", false, fmt.Errorf("--progress=%s and --quiet cannot be used together: keep one", o.progress)
	}
	mode, err = s.progressMode(o.progress, o.quiet)
	return mode, o.quiet, err
}

func (o *buildOptions) parseOutputs() ([]exporter.Output, error) {
	var outs []exporter.Output
	for _, v := range o.outputs {
		// buildx's syntax (-o DIR, -o -, type=...); xbuild's checks.
		spec, err := buildflags.ParseExports([]string{v})
		if err == nil && len(spec) == 0 {
			err = errors.New("empty value")
		}
		var got []exporter.Output
		if err == nil {
			got, err = builder.OutputsFrom(spec)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid --output %q: %w", v, err)
		}
		outs = append(outs, got...)
	}
	load, err := exporter.ParseLoad(o.load)
	if err != nil {
		return nil, err
	}
	if load != nil {
		outs = append(outs, *load)
	}
	if o.push {
		outs = withPush(outs)
	}
	loads := 0
	for _, out := range outs {
		if out.Loads() {
			loads++
		}
	}
	if loads > 1 {
		return nil, errors.New("--load given twice (as --load and --output type=docker): keep one")
	}
	return outs, nil
}

// withPush is --push as buildx applies it: the image outputs given push,
// unpacked only when they say so; without one, a pushed image is added.
func withPush(outs []exporter.Output) []exporter.Output {
	pushed := false
	for i, out := range outs {
		if out.Type != exporter.TypeImage {
			continue
		}
		attrs := maps.Clone(out.Attrs)
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["push"] = "true"
		if _, ok := attrs["unpack"]; !ok {
			attrs["unpack"] = "false"
		}
		outs[i].Attrs, pushed = attrs, true
	}
	if !pushed {
		outs = append(outs, exporter.Output{Type: exporter.TypeImage, Attrs: map[string]string{"push": "true", "unpack": "false"}})
	}
	return outs
}

func parseTags(in []string) ([]string, error) {
	var out []string
	for _, t := range in {
		// The reference parser's errors repeat a name as given, line
		// breaks and all; no name holds a control character.
		if strings.ContainsFunc(t, unicode.IsControl) {
			return nil, fmt.Errorf("invalid tag %q: an image name holds no control characters", t)
		}
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		out = append(out, reference.TagNameOnly(ref).String())
	}
	return out, nil
}

// parseKeyValues reads KEY=VALUE flags. With getenv, a bare KEY takes its
// value from the environment and is skipped when unset, like buildx's
// --build-arg.
func parseKeyValues(flag string, in []string, getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid %s %q: want KEY=VALUE", flag, kv)
		}
		if !ok {
			if getenv == nil {
				return nil, fmt.Errorf("invalid %s %q: want KEY=VALUE", flag, kv)
			}
			if v = getenv(k); v == "" {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// withDebug runs a command under -D/--debug: logrus output (xbuild's and
// its libraries') at debug level on stderr and, when the command fails,
// every error of the chain and BuildKit's stack traces, before main prints
// the error once as usual.
func withDebug(env *Env, on bool, run func() error) error {
	if !on {
		return run()
	}
	logrus.SetOutput(env.Stderr)
	logrus.SetLevel(logrus.DebugLevel)
	err := run()
	if err != nil {
		printErrorChain(env.Stderr, err)
	}
	return err
}

// printErrorChain prints each error wrapped in err, outermost first and
// indented by depth, so the layer that added each part is visible.
func printErrorChain(w io.Writer, err error) {
	fmt.Fprintln(w, "DEBUG: error chain, outermost first:")
	var walk func(err error, depth int)
	walk = func(err error, depth int) {
		fmt.Fprintf(w, "DEBUG: %s%T: %v\n", strings.Repeat("  ", depth), err, err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next, depth+1)
			}
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e, depth+1)
			}
		}
	}
	walk(err, 0)
	if len(stack.Traces(err)) > 0 {
		fmt.Fprintf(w, "DEBUG: stack traces:\n%+v\n", stack.Formatter(err))
	}
}
