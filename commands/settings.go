package commands

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// settings are the process-wide switches, read from the environment once
// per command and handed to build, bake and the action alike, so a switch
// never means one thing for one command and another for the next.
type settings struct {
	// switches reach the planner through builder.BuildOptions:
	// XBUILD_NO_DEFAULT_LOAD (BUILDX_NO_DEFAULT_LOAD), XBUILD_DIRECT_LOAD,
	// XBUILD_NO_DEFAULT_ATTESTATIONS (BUILDX_NO_DEFAULT_ATTESTATIONS) and
	// XBUILD_LOAD_CONTAINERD.
	switches builder.Switches
	// metadataProvenance is XBUILD_METADATA_PROVENANCE
	// (BUILDX_METADATA_PROVENANCE); min when unset.
	metadataProvenance builder.MetadataProvenance
	// sbomGenerator is XBUILD_SBOM_GENERATOR, which replaces every
	// builder's own.
	sbomGenerator string
	// progress is BUILDKIT_PROGRESS, what --progress=auto means; empty
	// when unset.
	progress progressui.DisplayMode
	// githubActions: the process runs in a GitHub Actions job.
	githubActions bool
	// defaultPlatform is DOCKER_DEFAULT_PLATFORM, the platform a build
	// without --platform asks for (bake has no such default, as in buildx).
	defaultPlatform string
	// sourceDateEpoch is SOURCE_DATE_EPOCH, in unix seconds: the build
	// arg of that name for every request that does not give it, as buildx
	// passes it, so file and image times follow it. Empty when unset.
	sourceDateEpoch string
	// group, set by bake, records the run's builds as one group.
	group *builder.LocalGroup
	// execution, set by bake's --jobs, limits and orders its targets.
	execution builder.Execution
}

const sbomGeneratorEnv = "XBUILD_SBOM_GENERATOR"

// boolValues are what strconv.ParseBool, and so buildx, accepts.
const boolValues = "true or false (also 1, 0, t, f, TRUE, FALSE, True, False)"

// readSettings reads every switch and checks it, so a bad value stops the
// command before it connects to anything.
func readSettings(getenv func(string) string) (settings, error) {
	var s settings
	var err error
	sw := &s.switches
	if sw.NoDefaultLoad, err = envBool(getenv, false, "XBUILD_NO_DEFAULT_LOAD", "BUILDX_NO_DEFAULT_LOAD"); err != nil {
		return settings{}, err
	}
	directLoad, err := envBool(getenv, true, "XBUILD_DIRECT_LOAD")
	if err != nil {
		return settings{}, err
	}
	sw.NoDirectLoad = !directLoad
	if sw.NoDefaultAttestations, err = envBool(getenv, false, "XBUILD_NO_DEFAULT_ATTESTATIONS", "BUILDX_NO_DEFAULT_ATTESTATIONS"); err != nil {
		return settings{}, err
	}
	if v := getenv("XBUILD_LOAD_CONTAINERD"); v != "" {
		if sw.LoadContainerd, err = exporter.ParseContainerdAddress(v); err != nil {
			return settings{}, fmt.Errorf("XBUILD_LOAD_CONTAINERD=%s is not valid: %w", v, err)
		}
	}
	if sw.Git, err = gitInfo(getenv); err != nil {
		return settings{}, err
	}
	if s.metadataProvenance, err = metadataProvenance(getenv); err != nil {
		return settings{}, err
	}
	if s.sbomGenerator = getenv(sbomGeneratorEnv); s.sbomGenerator != "" {
		if err := builder.ValidateSBOMGenerator(s.sbomGenerator); err != nil {
			return settings{}, fmt.Errorf("%s=%s is not valid: %w", sbomGeneratorEnv, s.sbomGenerator, err)
		}
	}
	if v := getenv("BUILDKIT_PROGRESS"); v != "" {
		if s.progress, err = checkProgress(v); err != nil {
			return settings{}, fmt.Errorf("BUILDKIT_PROGRESS=%s is not valid: use auto, tty, plain, quiet or rawjson", v)
		}
	}
	// The runner sets exactly "true"; it is the runner's variable, not a
	// switch of ours, so any other value just means "not in a workflow".
	s.githubActions = getenv("GITHUB_ACTIONS") == "true"
	s.defaultPlatform = getenv("DOCKER_DEFAULT_PLATFORM")
	if v := getenv(sourceDateEpochEnv); v != "" {
		// BuildKit reads it with ParseInt too; refusing here saves a
		// connection and names the variable rather than a build arg.
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return settings{}, fmt.Errorf("%s=%s is not valid: use a unix time in seconds", sourceDateEpochEnv, v)
		}
		s.sourceDateEpoch = v
	}
	return s, nil
}

const sourceDateEpochEnv = "SOURCE_DATE_EPOCH"

// addSourceDateEpoch gives req the build arg SOURCE_DATE_EPOCH from the
// environment, unless the request sets it itself: a build arg the user
// gave wins, as in buildx.
func (s settings) addSourceDateEpoch(req *builder.Request) {
	if s.sourceDateEpoch == "" {
		return
	}
	if _, ok := req.BuildArgs[sourceDateEpochEnv]; ok {
		return
	}
	if req.BuildArgs == nil {
		req.BuildArgs = map[string]string{}
	}
	req.BuildArgs[sourceDateEpochEnv] = s.sourceDateEpoch
}

// envBool reads the first of names that is set, with strconv.ParseBool as
// buildx reads BUILDX_NO_DEFAULT_LOAD and BUILDX_NO_DEFAULT_ATTESTATIONS;
// none set gives def. A value ParseBool refuses is an error here, where
// buildx only warns about some, because a switch silently read as off is
// the surprise this reader exists to prevent.
func envBool(getenv func(string) string, def bool, names ...string) (bool, error) {
	for _, name := range names {
		v := getenv(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s=%s is not valid: use %s", name, v, boolValues)
		}
		return b, nil
	}
	return def, nil
}

// gitInfo reads what builds record of their Git checkout:
// BUILDX_GIT_INFO (on unless false), BUILDX_GIT_LABELS (a boolean, or
// "full", its former spelling of true) and BUILDX_GIT_CHECK_DIRTY.
func gitInfo(getenv func(string) string) (builder.GitInfo, error) {
	var g builder.GitInfo
	info, err := envBool(getenv, true, "XBUILD_GIT_INFO", "BUILDX_GIT_INFO")
	if err != nil {
		return g, err
	}
	g.Off = !info
	for _, name := range []string{"XBUILD_GIT_LABELS", "BUILDX_GIT_LABELS"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		if g.Labels, err = strconv.ParseBool(v); err != nil && v != "full" {
			return g, fmt.Errorf("%s=%s is not valid: use full, or %s", name, v, boolValues)
		}
		g.Labels = g.Labels || v == "full"
		break
	}
	if g.CheckDirty, err = envBool(getenv, false, "XBUILD_GIT_CHECK_DIRTY", "BUILDX_GIT_CHECK_DIRTY"); err != nil {
		return g, err
	}
	return g, nil
}

// metadataProvenance reads how much provenance the metadata file gets:
// min, max or disabled, or a boolean as buildx takes it (true is min,
// false disabled).
func metadataProvenance(getenv func(string) string) (builder.MetadataProvenance, error) {
	for _, name := range []string{"XBUILD_METADATA_PROVENANCE", "BUILDX_METADATA_PROVENANCE"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		switch m := builder.MetadataProvenance(strings.ToLower(v)); m {
		case builder.MetadataProvenanceMin, builder.MetadataProvenanceMax, builder.MetadataProvenanceDisabled:
			return m, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not valid: use min, max, disabled, or %s", name, v, boolValues)
		}
		if !b {
			return builder.MetadataProvenanceDisabled, nil
		}
		return builder.MetadataProvenanceMin, nil
	}
	return builder.MetadataProvenanceMin, nil
}

// progressMode picks the display: --progress, else BUILDKIT_PROGRESS when
// --progress is auto, else plain in a workflow log (not a terminal, whatever
// it claims); quiet with -q.
func (s settings) progressMode(flag string, quiet bool) (progressui.DisplayMode, error) {
	if quiet {
		return progressui.QuietMode, nil
	}
	if flag != "auto" && flag != "" {
		m, err := checkProgress(flag)
		if err != nil {
			return "", fmt.Errorf("invalid progress mode %q: use auto, tty, plain, quiet or rawjson", flag)
		}
		return m, nil
	}
	switch {
	case s.progress != "":
		return s.progress, nil
	case s.githubActions:
		return progressui.PlainMode, nil
	}
	return progressui.AutoMode, nil
}

func checkProgress(v string) (progressui.DisplayMode, error) {
	switch m := progressui.DisplayMode(v); m {
	case progressui.AutoMode, progressui.TtyMode, progressui.PlainMode, progressui.QuietMode, progressui.RawJSONMode:
		return m, nil
	}
	return "", fmt.Errorf("unknown progress mode %q", v)
}

// buildOptions are what every run of jobs gets from the settings; the
// command adds its display. Provenance for the metadata file is fetched
// only when there is a file to write it to.
func (s settings) buildOptions(withMetadata bool) builder.BuildOptions {
	opts := builder.BuildOptions{Switches: s.switches, GroupLogs: s.githubActions, Group: s.group, Execution: s.execution}
	if withMetadata {
		opts.MetadataProvenance = s.metadataProvenance
	}
	return opts
}

// resolver is the environment's resolver with the SBOM generator override.
func (s settings) resolver(env *Env) (*builder.Resolver, error) {
	r, err := env.resolver()
	if err != nil {
		return nil, err
	}
	if s.sbomGenerator != "" {
		r.SBOMGenerator, r.SBOMGeneratorFrom = s.sbomGenerator, sbomGeneratorEnv
	}
	return r, nil
}

// bakeGroup is the local build state group of a bake run of targets
// ("default" when none is named, as buildx records it).
func bakeGroup(targets []string) *builder.LocalGroup {
	if len(targets) == 0 {
		targets = []string{"default"}
	}
	return builder.NewLocalGroup(targets)
}
