package commands

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"

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
// requests keyed by type.
func parseAttests(attests []string, provenance, sbom string, changed func(string) bool) (map[string]builder.Attest, error) {
	out := map[string]builder.Attest{}
	add := func(flag, typ, params string) error {
		a, err := parseAttestParams(params)
		if err != nil {
			return fmt.Errorf("invalid %s %q: %w", flag, params, err)
		}
		if _, dup := out[typ]; dup {
			return fmt.Errorf("attestation %s given twice: keep one of --attest type=%s and --%s", typ, typ, typ)
		}
		out[typ] = a
		return nil
	}
	for _, s := range attests {
		fields, err := exporter.CSVFields(s)
		if err != nil {
			return nil, fmt.Errorf("invalid --attest %q: %w", s, err)
		}
		var typ string
		var rest []string
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "type="); ok {
				typ = v
			} else {
				rest = append(rest, f)
			}
		}
		if typ != "provenance" && typ != "sbom" {
			return nil, fmt.Errorf("invalid --attest %q: type must be provenance or sbom", s)
		}
		if err := add("--attest", typ, strings.Join(rest, ",")); err != nil {
			return nil, err
		}
	}
	for typ, v := range map[string]string{"provenance": provenance, "sbom": sbom} {
		if !changed(typ) {
			continue
		}
		if err := add("--"+typ, typ, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseAttestParams reads "true", "false", "" or "k=v,..." (with an
// optional disabled=BOOL field).
func parseAttestParams(s string) (builder.Attest, error) {
	if b, err := strconv.ParseBool(s); err == nil {
		return builder.Attest{Off: !b}, nil
	}
	if s == "" {
		return builder.Attest{}, nil
	}
	fields, err := exporter.CSVFields(s)
	if err != nil {
		return builder.Attest{}, err
	}
	var keep []string
	var a builder.Attest
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return builder.Attest{}, fmt.Errorf("field %q is not key=value", f)
		}
		switch k {
		case "disabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return builder.Attest{}, fmt.Errorf("disabled=%q is not a boolean", v)
			}
			a.Off = b
		case "mode":
			if v != "min" && v != "max" {
				return builder.Attest{}, fmt.Errorf("mode=%q: want min or max", v)
			}
			keep = append(keep, f)
		default:
			keep = append(keep, f)
		}
	}
	a.Params = strings.Join(keep, ",")
	return a, nil
}

// parseSecrets reads --secret values: id=ID with src=PATH (or source=) or
// env=VAR; a bare id=ID reads the variable ID when it is set, else the
// file ID. Files must exist now, so a typo fails before the build.
func parseSecrets(in []string, getenv func(string) string) ([]secretsprovider.Source, error) {
	var out []secretsprovider.Source
	for _, s := range in {
		fields, err := exporter.CSVFields(s)
		if err != nil {
			return nil, fmt.Errorf("invalid --secret: %w", err)
		}
		var src secretsprovider.Source
		var typ string
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("invalid --secret field %q: want key=value", k)
			}
			switch strings.ToLower(k) {
			case "id":
				src.ID = v
			case "src", "source":
				src.FilePath = v
			case "env":
				src.Env = v
			case "type":
				typ = v
			default:
				return nil, fmt.Errorf("invalid --secret field %q: use id, src, env or type", k)
			}
		}
		if src.ID == "" {
			return nil, fmt.Errorf("invalid --secret: id= is required")
		}
		if typ == "env" && src.Env == "" {
			src.Env, src.FilePath = src.FilePath, ""
			if src.Env == "" {
				src.Env = src.ID
			}
		}
		src, err = builder.NewSecret(src.ID, src.FilePath, src.Env, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// parseSSH reads --ssh values: "default", "ID" or "ID=PATH[,PATH]".
func parseSSH(in []string) ([]sshprovider.AgentConfig, error) {
	var out []sshprovider.AgentConfig
	for _, s := range in {
		id, paths, _ := strings.Cut(s, "=")
		if id == "" {
			return nil, fmt.Errorf("invalid --ssh %q: want default or ID[=SOCKET|KEY[,KEY]]", s)
		}
		c := sshprovider.AgentConfig{ID: id}
		if paths != "" {
			c.Paths = strings.Split(paths, ",")
		}
		out = append(out, c)
	}
	return out, nil
}

// parseCache reads --cache-from/--cache-to: "type=T,k=v,..." or a bare
// registry reference.
func parseCache(flag string, in []string) ([]bkclient.CacheOptionsEntry, error) {
	var out []bkclient.CacheOptionsEntry
	for _, s := range in {
		if !strings.Contains(s, "=") {
			out = append(out, bkclient.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": s}})
			continue
		}
		fields, err := exporter.CSVFields(s)
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", flag, s, err)
		}
		e := bkclient.CacheOptionsEntry{Attrs: map[string]string{}}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("invalid %s %q: field %q is not key=value", flag, s, f)
			}
			if k == "type" {
				e.Type = v
			} else {
				e.Attrs[k] = v
			}
		}
		switch e.Type {
		case "registry", "local", "inline", "gha", "s3", "azblob":
		case "":
			return nil, fmt.Errorf("invalid %s %q: type= is required", flag, s)
		default:
			return nil, fmt.Errorf("invalid %s %q: unknown cache type %q", flag, s, e.Type)
		}
		out = append(out, e)
	}
	return out, nil
}
