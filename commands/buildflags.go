package commands

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/buildx/util/buildflags"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/spf13/pflag"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// annotationKey matches "[type[platform]:]key": type is one of manifest,
// index, manifest-descriptor, index-descriptor.
var annotationKey = regexp.MustCompile(`^(?:(manifest|index|manifest-descriptor|index-descriptor)(\[[^\]]+\])?:)?([^:=\[\]]+)$`)

// parseAnnotations turns --annotation values into exporter attributes
// ("annotation-index.key" and so on).
func parseAnnotations(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		k, v, ok := strings.Cut(a, "=")
		m := annotationKey.FindStringSubmatch(k)
		if !ok || m == nil {
			return nil, fmt.Errorf("invalid --annotation %q: want [TYPE[PLATFORM]:]KEY=VALUE", a)
		}
		attr := "annotation"
		if m[1] != "" {
			attr += "-" + m[1] + m[2]
		}
		out[attr+"."+m[3]] = v
	}
	return out, nil
}

// parseAttests reads --attest, --provenance and --sbom into attestation
// requests keyed by type, in buildx's syntax (util/buildflags).
func parseAttests(attests []string, provenance, sbom string, changed func(string) bool) (map[string]builder.Attest, error) {
	out := map[string]builder.Attest{}
	add := func(flag, value, typ string, a builder.Attest, err error) error {
		if err != nil {
			return fmt.Errorf("invalid %s %q: %s", flag, value, oneLine(err.Error()))
		}
		if _, dup := out[typ]; dup {
			return fmt.Errorf("attestation %s given twice: keep one of --attest type=%s and --%s", typ, typ, typ)
		}
		out[typ] = a
		return nil
	}
	for _, s := range attests {
		typ, a, err := attestSpec(s)
		if err == nil && typ != "provenance" && typ != "sbom" {
			err = errors.New("type must be provenance or sbom")
		}
		if err := add("--attest", s, typ, a, err); err != nil {
			return nil, err
		}
	}
	for typ, v := range map[string]string{"provenance": provenance, "sbom": sbom} {
		if !changed(typ) {
			continue
		}
		a, err := parseAttestParams(typ, v)
		if err := add("--"+typ, v, typ, a, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseAttestParams reads --provenance or --sbom: "true", "false", "" (on)
// or "k=v,..." (with an optional disabled=BOOL field).
func parseAttestParams(typ, s string) (builder.Attest, error) {
	if s == "" {
		s = "true"
	}
	_, a, err := attestSpec(buildflags.CanonicalizeAttest(typ, s))
	return a, err
}

// attestSpec reads one attestation with buildx's parser and xbuild's
// checks; its parameters reach BuildKit whole (builder.AttestsFrom).
func attestSpec(s string) (string, builder.Attest, error) {
	spec, err := buildflags.ParseAttests([]string{s})
	if err != nil {
		return "", builder.Attest{}, err
	}
	if m, ok := spec[0].Attrs["mode"]; ok && m != "min" && m != "max" {
		return "", builder.Attest{}, fmt.Errorf("mode=%q: want min or max", m)
	}
	return spec[0].Type, builder.AttestsFrom(spec)[spec[0].Type], nil
}

// parseSecrets reads --secret values with buildx's parser: id=ID with
// src=PATH (or source=) or env=VAR, type=file|env; a bare id=ID reads the
// variable ID when it is set, else the file ID. Files must exist now, so a
// typo fails before the build.
func parseSecrets(in []string, getenv func(string) string) ([]secretsprovider.Source, error) {
	var out []secretsprovider.Source
	for _, s := range in {
		spec, err := buildflags.ParseSecretSpecs([]string{s})
		if strings.TrimSpace(s) == "" || (err == nil && len(spec) == 0) {
			err = errors.New("empty value")
		}
		if err != nil {
			// buildx's words repeat the field as typed, line breaks and all.
			return nil, fmt.Errorf("invalid --secret %q: %s", s, oneLine(err.Error()))
		}
		srcs, err := builder.SecretsFrom(spec, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

// parseSSH reads --ssh values with buildx's parser: "default", "ID" or
// "ID=PATH[,PATH]".
func parseSSH(in []string) ([]sshprovider.AgentConfig, error) {
	var out []sshprovider.AgentConfig
	for _, s := range in {
		spec, err := buildflags.ParseSSHSpecs([]string{s})
		if err != nil || len(spec) == 0 || spec[0].ID == "" {
			return nil, fmt.Errorf("invalid --ssh %q: want default or ID[=SOCKET|KEY[,KEY]]", s)
		}
		out = append(out, builder.SSHFrom(spec)...)
	}
	return out, nil
}

// parseCache reads --cache-from/--cache-to with buildx's parser:
// "type=T,k=v,..." or a bare registry reference.
func parseCache(flag string, in []string) ([]bkclient.CacheOptionsEntry, error) {
	var out []bkclient.CacheOptionsEntry
	for _, s := range in {
		spec, err := buildflags.ParseCacheEntry([]string{s})
		if strings.TrimSpace(s) == "" || (err == nil && len(spec) == 0) {
			err = errors.New("empty value")
		}
		if err != nil {
			// buildx's words repeat the field as typed, line breaks and all.
			return nil, fmt.Errorf("invalid %s %q: %s", flag, s, oneLine(err.Error()))
		}
		entries, err := builder.CacheEntriesFrom(spec)
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", flag, s, err)
		}
		for _, e := range entries {
			// A blank reference (" ,r/app" in a bare list) names no cache.
			if ref, ok := e.Attrs["ref"]; ok && strings.TrimSpace(ref) == "" {
				return nil, fmt.Errorf("invalid %s %q: empty reference", flag, s)
			}
		}
		out = append(out, entries...)
	}
	return out, nil
}

// asks for. It runs after the outputs and --no-cache are read.
func (o *buildOptions) runOptions(req *builder.Request) error {
	if err := builder.ValidateNetwork(o.network); err != nil {
		return err
	}
	req.Network, req.CgroupParent = o.network, o.cgroupParent
	var err error
	if req.ExtraHosts, err = builder.ParseExtraHosts(o.addHosts); err != nil {
		return err
	}
	if req.ShmSize, err = builder.ParseShmSize(o.shmSize); err != nil {
		return err
	}
	if req.Ulimits, err = builder.ParseUlimits(o.ulimits); err != nil {
		return err
	}
	if req.Resources, err = builder.ParseResources(append(slices.Clone(o.legacyResources), o.resources...)); err != nil {
		return err
	}
	req.NoCacheFilter = builder.ParseNoCacheFilter(o.noCacheFilter)
	if req.NoCache && len(req.NoCacheFilter) > 0 {
		return errors.New("--no-cache and --no-cache-filter cannot be used together: --no-cache already rebuilds every stage, keep one")
	}
	var localDelete bool
	if req.Allow, localDelete, err = builder.ParseEntitlements(o.allow); err != nil {
		return err
	}
	return checkLocalDelete(req.Outputs, localDelete)
}

// checkLocalDelete refuses a local output that deletes what the build did
// not write unless --allow grants it, as buildx does.
func checkLocalDelete(outs []exporter.Output, allowed bool) error {
	for _, out := range outs {
		if out.Type == exporter.TypeLocal && out.Attrs["mode"] == "delete" && !allowed {
			return fmt.Errorf("output %s has mode=delete, which removes files the build did not write there: pass --allow=%s to grant it",
				out.Dest, buildflags.EntitlementBuildxLocalDelete)
		}
	}
	return nil
}

// legacyResource is one of docker build's resource flags (--memory=2g),
// which buildx reads as the same key of --resource.
type legacyResource struct {
	key string
	to  *[]string
}

func (l legacyResource) String() string { return "" }
func (l legacyResource) Type() string   { return "string" }
func (l legacyResource) Set(v string) error {
	*l.to = append(*l.to, l.key+"="+v)
	return nil
}

// compatFlags are docker build's flags that buildx accepts, hidden, and
// BuildKit has no use for.
type compatFlags struct {
	compress, squash, rm, forceRM bool
	isolation                     string
	securityOpt                   []string
}

// ignoredFlagWarnings say, for the ignored flags that once changed the
// result, what to do instead.
var ignoredFlagWarnings = map[string]string{
	"isolation":    "--isolation is ignored: BuildKit has no isolation setting",
	"security-opt": "--security-opt is ignored: with BuildKit a step asks for it with RUN --security=insecure (and the build with --allow security.insecure)",
	"squash":       "--squash is ignored: BuildKit does not squash layers; copy the result into a fresh stage of a multi-stage Dockerfile instead",
}

// addCompatFlags adds docker build's flags that buildx keeps, hidden.
func addCompatFlags(f *pflag.FlagSet, o *buildOptions) {
	for _, r := range []struct{ name, short string }{
		{"memory", "m"}, {"memory-swap", ""}, {"cpu-shares", "c"}, {"cpu-period", ""},
		{"cpu-quota", ""}, {"cpuset-cpus", ""}, {"cpuset-mems", ""},
	} {
		f.VarP(legacyResource{key: r.name, to: &o.legacyResources}, r.name, r.short, `Same as "--resource `+r.name+`=VALUE"`)
		_ = f.MarkHidden(r.name)
	}
	c := &o.compat
	f.BoolVar(&c.compress, "compress", false, "Ignored: BuildKit sends only the context files a build uses")
	f.StringVar(&c.isolation, "isolation", "", "Ignored: container isolation technology")
	f.StringSliceVar(&c.securityOpt, "security-opt", nil, `Ignored: use "RUN --security=insecure"`)
	f.BoolVar(&c.squash, "squash", false, "Ignored: squash in a multi-stage Dockerfile")
	f.BoolVar(&c.rm, "rm", true, "Ignored: BuildKit leaves no intermediate containers")
	f.BoolVar(&c.forceRM, "force-rm", false, "Ignored: BuildKit leaves no intermediate containers")
	for _, name := range []string{"compress", "isolation", "security-opt", "squash", "rm", "force-rm"} {
		_ = f.MarkHidden(name)
	}
}

// warnIgnoredFlags prints a warning for each ignored flag given.
func warnIgnoredFlags(w io.Writer, changed func(string) bool) {
	for _, name := range slices.Sorted(maps.Keys(ignoredFlagWarnings)) {
		if changed(name) {
			fmt.Fprintf(w, "WARNING: %s\n", ignoredFlagWarnings[name])
		}
	}
}
