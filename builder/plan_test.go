package builder

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	two := []ocispecs.Platform{platforms.MustParse("linux/amd64"), platforms.MustParse("linux/arm64")}
	one := two[:1]
	load := []exporter.Output{{Type: "docker", Attrs: map[string]string{}}}
	dockerClassic := driver.Capabilities{ImageStore: imagestore.Classic, Load: driver.LoadNative}
	dockerContainerd := driver.Capabilities{MultiPlatform: true, ImageStore: imagestore.Containerd, Load: driver.LoadNative}
	remote := func(k imagestore.Kind) driver.Capabilities {
		return driver.Capabilities{MultiPlatform: true, ImageStore: k, Load: driver.LoadEngineAPI, LoadEngine: engine.Endpoint{Host: "unix:///e.sock"}}
	}
	tests := []struct {
		name     string
		req      Request
		caps     driver.Capabilities
		sw       Switches
		wantErr  error
		errHas   string
		wantProv string // "" means no provenance attribute
	}{
		{name: "docker classic two platforms", req: Request{Platforms: two}, caps: dockerClassic, wantErr: ErrMultiPlatformNotSupported},
		{name: "docker classic two platforms no output", req: Request{Platforms: two, Outputs: nil}, caps: dockerClassic, wantErr: ErrMultiPlatformNotSupported},
		{name: "docker classic one platform load", req: Request{Platforms: one, Outputs: load}, caps: dockerClassic},
		{name: "docker classic attest", req: Request{Attests: map[string]Attest{"provenance": {Params: "mode=max"}}}, caps: dockerClassic, wantErr: ErrAttestationNotSupported},
		{name: "docker classic attest off", req: Request{Attests: map[string]Attest{"provenance": {Off: true}}}, caps: dockerClassic},
		{name: "docker containerd default provenance", req: Request{Platforms: two, Outputs: load}, caps: dockerContainerd, wantProv: "mode=min,inline-only=true"},
		{name: "no default attestations", req: Request{Platforms: two, Outputs: load}, caps: dockerContainerd, sw: Switches{NoDefaultAttestations: true}},
		{name: "the action's default provenance", req: Request{Platforms: two, Outputs: load}, caps: dockerContainerd, sw: Switches{DefaultProvenance: "mode=max"}, wantProv: "mode=max"},
		{name: "the action's default, not on a classic load", req: Request{Platforms: one, Outputs: load}, caps: remote(imagestore.Classic), sw: Switches{DefaultProvenance: "mode=max"}},
		{name: "provenance false", req: Request{Platforms: two, Outputs: load, Attests: map[string]Attest{"provenance": {Off: true}}}, caps: dockerContainerd},
		{name: "provenance max", req: Request{Platforms: two, Attests: map[string]Attest{"provenance": {Params: "mode=max"}}}, caps: dockerContainerd, wantProv: "mode=max"},
		{name: "remote classic two platforms load", req: Request{Platforms: two, Outputs: load}, caps: remote(imagestore.Classic), errHas: "classic image store of the docker engine at unix:///e.sock"},
		{name: "remote classic one platform load", req: Request{Platforms: one, Outputs: load}, caps: remote(imagestore.Classic)},
		{name: "remote classic two platforms no load", req: Request{Platforms: two}, caps: remote(imagestore.Classic), wantProv: "mode=min,inline-only=true"},
		{name: "remote containerd load", req: Request{Platforms: two, Outputs: load}, caps: remote(imagestore.Containerd), wantProv: "mode=min,inline-only=true"},
		{name: "remote engine down load", req: Request{Outputs: load}, caps: remote(imagestore.Unknown), errHas: "does not answer"},
		{name: "docker classic cache to a folder", req: Request{CacheTo: cacheTo("local")}, caps: dockerClassic, wantErr: ErrCacheExportNotSupported},
		{name: "docker classic inline cache", req: Request{CacheTo: cacheTo("inline")}, caps: dockerClassic},
		{name: "docker classic oci file", req: Request{Outputs: file("oci")}, caps: dockerClassic, wantErr: ErrOCIExporterNotSupported},
		{name: "docker classic containerd target", req: Request{Outputs: []exporter.Output{{Type: "containerd"}}}, caps: dockerClassic, wantErr: ErrOCIExporterNotSupported},
		{name: "docker classic docker file", req: Request{Outputs: file("docker")}, caps: dockerClassic, wantErr: ErrDockerExporterNotSupported},
		{name: "docker classic tar file", req: Request{Outputs: file("tar")}, caps: withFiles(dockerClassic, "local", "tar")},
		{name: "full node cache and files", req: Request{CacheTo: cacheTo("registry"), Outputs: file("oci")}, caps: withFiles(remote(imagestore.Classic), "oci"), wantProv: "mode=min,inline-only=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := plan(&tt.req, tt.caps, tt.sw, "", "")
			if tt.wantErr != nil || tt.errHas != "" {
				var rej *RejectedError
				if !errors.As(err, &rej) {
					t.Fatalf("plan() error = %v, want a RejectedError", err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("plan() error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("plan() error = %v, want it to contain %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan() error = %v", err)
			}
			if got := p.Attests["attest:provenance"]; got != tt.wantProv {
				t.Errorf("plan() provenance = %q, want %q", got, tt.wantProv)
			}
		})
	}
}

func cacheTo(typ string) []bkclient.CacheOptionsEntry {
	return []bkclient.CacheOptionsEntry{{Type: typ, Attrs: map[string]string{}}}
}

func file(typ string) []exporter.Output {
	return []exporter.Output{{Type: typ, Dest: "/out/f", Attrs: map[string]string{}}}
}

// withFiles gives caps the named file exporters, and cache export when it
// has an OCI one.
func withFiles(caps driver.Capabilities, types ...string) driver.Capabilities {
	caps.Exporters = types
	caps.CacheExport = caps.Exports("oci")
	return caps
}

func TestMultiPlatformMessage(t *testing.T) {
	t.Parallel()
	want := "Multi-platform build is not supported for the docker driver.\n" +
		"Switch to a different driver, or turn on the containerd image store, and try again.\n" +
		"Learn more at https://docs.docker.com/go/build-multi-platform/"
	if got := ErrMultiPlatformNotSupported.Error(); got != want {
		t.Errorf("ErrMultiPlatformNotSupported = %q, want %q", got, want)
	}
}
