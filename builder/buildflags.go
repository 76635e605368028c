package builder

import (
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/docker/buildx/util/buildflags"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"

	"github.com/xbuild/xbuild/exporter"
)

// The syntax of outputs, caches, secrets, SSH and attestations is buildx's
// own util/buildflags, for build's flags and bake's fields alike: these
// turn its values into a Request's, with the checks xbuild makes before
// any work, so a value means the same wherever it was written.

// OutputsFrom converts outputs, checking each as exporter.Parse does.
func OutputsFrom(in buildflags.Exports) ([]exporter.Output, error) {
	var out []exporter.Output
	for _, e := range in {
		if e == nil {
			continue
		}
		o := exporter.Output{Type: e.Type, Dest: e.Destination, Attrs: maps.Clone(e.Attrs)}
		if o.Attrs == nil {
			o.Attrs = map[string]string{}
		}
		if err := o.Check(); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// cacheTypes are the cache backends BuildKit has.
var cacheTypes = []string{"registry", "local", "inline", "gha", "s3", "azblob"}

// CacheEntriesFrom converts cache imports or exports.
func CacheEntriesFrom(in buildflags.CacheOptions) ([]bkclient.CacheOptionsEntry, error) {
	var out []bkclient.CacheOptionsEntry
	for _, e := range in {
		if e == nil {
			continue
		}
		if !slices.Contains(cacheTypes, e.Type) {
			return nil, fmt.Errorf("unknown cache type %q (one of %s)", e.Type, strings.Join(cacheTypes, ", "))
		}
		out = append(out, bkclient.CacheOptionsEntry{Type: e.Type, Attrs: maps.Clone(e.Attrs)})
	}
	return out, nil
}

// SecretsFrom resolves secrets now (NewSecret), so a missing file fails
// before the build.
func SecretsFrom(in buildflags.Secrets, getenv func(string) string) ([]secretsprovider.Source, error) {
	var out []secretsprovider.Source
	for _, s := range in {
		if s == nil {
			continue
		}
		src, err := NewSecret(s.ID, s.FilePath, s.Env, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// SSHFrom converts SSH agents and keys.
func SSHFrom(in []*buildflags.SSH) []sshprovider.AgentConfig {
	var out []sshprovider.AgentConfig
	for _, s := range in {
		if s != nil {
			out = append(out, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
	}
	return out
}

// AttestsFrom converts attestations by type; params are sorted so the
// same attestation always sends the same attribute.
func AttestsFrom(in buildflags.Attests) map[string]Attest {
	out := map[string]Attest{}
	for _, a := range in {
		if a == nil {
			continue
		}
		var params []string
		for k, v := range a.Attrs {
			params = append(params, k+"="+v)
		}
		sort.Strings(params)
		// BuildKit splits the parameters as CSV again: a field holding a
		// comma or a quote goes quoted, whole.
		var b strings.Builder
		w := csv.NewWriter(&b)
		_ = w.Write(params) // a strings.Builder never fails a write
		w.Flush()
		out[a.Type] = Attest{Off: a.Disabled, Params: strings.TrimSuffix(b.String(), "\n")}
	}
	return out
}
