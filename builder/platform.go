package builder

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformHint ends every platform error: the form and a few real examples.
const platformHint = "use OS/ARCH[/VARIANT], such as linux/amd64, linux/arm/v7 or wasi/wasm"

// wasmOSes are the WebAssembly system interfaces images are built for
// (wasi, as the containerd shims name it; wasip1, Go's GOOS). containerd's
// table of operating systems predates them.
var wasmOSes = map[string]bool{"wasi": true, "wasip1": true}

// ParsePlatform reads one platform the way buildx hands it to BuildKit:
// OS/ARCH[/VARIANT] (the OS may carry its version, as in
// "windows(10.0.20348)/amd64"), a lone OS or architecture, or "local" for
// this machine's. containerd's parser takes any OS/ARCH pair, so a typo
// ("linux/amd65") would only fail on the daemon after the context is sent;
// both parts are checked here instead. The result is normalized.
func ParsePlatform(s string) (ocispecs.Platform, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "local") {
		return platforms.Normalize(platforms.DefaultSpec()), nil
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispecs.Platform{}, fmt.Errorf("invalid platform %q: %s", s, platformHint)
	}
	if !knownOS(p.OS) {
		return ocispecs.Platform{}, fmt.Errorf("invalid platform %q: unknown operating system %q; %s", s, p.OS, platformHint)
	}
	if !knownArch(p.Architecture) {
		return ocispecs.Platform{}, fmt.Errorf("invalid platform %q: unknown architecture %q; %s", s, p.Architecture, platformHint)
	}
	return platforms.Normalize(p), nil
}

// knownOS asks containerd's own table through its parser: a lone OS it
// knows comes back as that OS, anything else as an architecture of this
// machine's OS. Asking the parser keeps the table containerd's.
func knownOS(name string) bool {
	if wasmOSes[name] {
		return true
	}
	q, err := platforms.Parse(name)
	return err == nil && q.OS == name
}

// knownArch is knownOS's twin: a lone architecture containerd knows comes
// back as that architecture of this machine's OS.
func knownArch(arch string) bool {
	q, err := platforms.Parse(arch)
	return err == nil && q.OS == runtime.GOOS && q.Architecture == arch
}

// ParsePlatforms reads platform flags and inputs: each value a
// comma-separated list, empty entries skipped, duplicates dropped (first
// one kept).
func ParsePlatforms(in []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	seen := map[string]bool{}
	for _, v := range in {
		for _, s := range strings.Split(v, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			p, err := ParsePlatform(s)
			if err != nil {
				return nil, err
			}
			if k := FormatPlatform(p); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// FormatPlatform is a platform's one written form, for keys, state and
// display: normalized, keeping an OS version so that Windows releases stay
// apart.
func FormatPlatform(p ocispecs.Platform) string {
	return platforms.FormatAll(platforms.Normalize(p))
}
