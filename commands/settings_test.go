package commands

import (
	"maps"
	"strings"
	"testing"

	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/imagestore"
)

func getenvOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestEnvBool(t *testing.T) {
	t.Parallel()
	names := []string{"XBUILD_X", "BUILDX_X"}
	tests := []struct {
		name    string
		in      map[string]string
		def     bool
		want    bool
		wantErr string
	}{
		{name: "unset", in: nil, want: false},
		{name: "unset with default", in: nil, def: true, want: true},
		{name: "empty is unset", in: map[string]string{"XBUILD_X": ""}, def: true, want: true},
		{name: "1", in: map[string]string{"XBUILD_X": "1"}, want: true},
		{name: "t", in: map[string]string{"XBUILD_X": "t"}, want: true},
		{name: "TRUE", in: map[string]string{"XBUILD_X": "TRUE"}, want: true},
		{name: "True", in: map[string]string{"XBUILD_X": "True"}, want: true},
		{name: "0", in: map[string]string{"XBUILD_X": "0"}, def: true, want: false},
		{name: "F", in: map[string]string{"XBUILD_X": "F"}, def: true, want: false},
		{name: "false", in: map[string]string{"XBUILD_X": "false"}, def: true, want: false},
		{name: "second name", in: map[string]string{"BUILDX_X": "true"}, want: true},
		{name: "first name wins", in: map[string]string{"XBUILD_X": "0", "BUILDX_X": "1"}, want: false},
		{name: "yes refused", in: map[string]string{"XBUILD_X": "yes"}, wantErr: "XBUILD_X=yes is not valid: use true or false"},
		{name: "no refused", in: map[string]string{"BUILDX_X": "no"}, wantErr: "BUILDX_X=no is not valid"},
		{name: "tRuE refused", in: map[string]string{"XBUILD_X": "tRuE"}, wantErr: "XBUILD_X=tRuE is not valid"},
		{name: "bad first hides nothing", in: map[string]string{"XBUILD_X": "on", "BUILDX_X": "1"}, wantErr: "XBUILD_X=on is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := envBool(getenvOf(tt.in), tt.def, names...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("envBool(%v) = %v, %v; want one line with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("envBool(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestReadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    settings
		wantErr string
	}{
		{name: "defaults", want: settings{metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "no default load", in: map[string]string{"XBUILD_NO_DEFAULT_LOAD": "1"},
			want: settings{switches: builder.Switches{NoDefaultLoad: true}, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "buildx no default load", in: map[string]string{"BUILDX_NO_DEFAULT_LOAD": "true"},
			want: settings{switches: builder.Switches{NoDefaultLoad: true}, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "direct load off", in: map[string]string{"XBUILD_DIRECT_LOAD": "0"},
			want: settings{switches: builder.Switches{NoDirectLoad: true}, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "direct load on", in: map[string]string{"XBUILD_DIRECT_LOAD": "true"},
			want: settings{metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "direct load yes", in: map[string]string{"XBUILD_DIRECT_LOAD": "yes"}, wantErr: "XBUILD_DIRECT_LOAD=yes is not valid"},
		{name: "no default attestations", in: map[string]string{"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"},
			want: settings{switches: builder.Switches{NoDefaultAttestations: true}, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "bad no default attestations", in: map[string]string{"XBUILD_NO_DEFAULT_ATTESTATIONS": "2"}, wantErr: "XBUILD_NO_DEFAULT_ATTESTATIONS=2 is not valid"},
		{name: "load containerd", in: map[string]string{"XBUILD_LOAD_CONTAINERD": "containerd:///run/c.sock?namespace=k8s.io"},
			want: settings{switches: builder.Switches{LoadContainerd: imagestore.Location{Address: "/run/c.sock", Namespace: "k8s.io"}}, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "bad load containerd", in: map[string]string{"XBUILD_LOAD_CONTAINERD": "/run/c.sock"}, wantErr: "XBUILD_LOAD_CONTAINERD=/run/c.sock is not valid: want containerd://SOCKET"},
		{name: "metadata provenance max", in: map[string]string{"BUILDX_METADATA_PROVENANCE": "max"},
			want: settings{metadataProvenance: builder.MetadataProvenanceMax}},
		{name: "metadata provenance false", in: map[string]string{"XBUILD_METADATA_PROVENANCE": "false", "BUILDX_METADATA_PROVENANCE": "max"},
			want: settings{metadataProvenance: builder.MetadataProvenanceDisabled}},
		{name: "metadata provenance 1", in: map[string]string{"XBUILD_METADATA_PROVENANCE": "1"},
			want: settings{metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "metadata provenance MAX", in: map[string]string{"XBUILD_METADATA_PROVENANCE": "MAX"},
			want: settings{metadataProvenance: builder.MetadataProvenanceMax}},
		{name: "bad metadata provenance", in: map[string]string{"XBUILD_METADATA_PROVENANCE": "all"}, wantErr: "XBUILD_METADATA_PROVENANCE=all is not valid: use min, max, disabled"},
		{name: "sbom generator", in: map[string]string{"XBUILD_SBOM_GENERATOR": "reg.example/gen:1"},
			want: settings{sbomGenerator: "reg.example/gen:1", metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "bad sbom generator", in: map[string]string{"XBUILD_SBOM_GENERATOR": "Not/Valid"}, wantErr: "XBUILD_SBOM_GENERATOR=Not/Valid is not valid"},
		{name: "progress", in: map[string]string{"BUILDKIT_PROGRESS": "rawjson", "GITHUB_ACTIONS": "true"},
			want: settings{progress: progressui.RawJSONMode, githubActions: true, metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "bad progress", in: map[string]string{"BUILDKIT_PROGRESS": "fancy"}, wantErr: "BUILDKIT_PROGRESS=fancy is not valid: use auto, tty, plain, quiet or rawjson"},
		{name: "default platform", in: map[string]string{"DOCKER_DEFAULT_PLATFORM": "linux/arm64"},
			want: settings{defaultPlatform: "linux/arm64", metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "source date epoch", in: map[string]string{"SOURCE_DATE_EPOCH": "0"},
			want: settings{sourceDateEpoch: "0", metadataProvenance: builder.MetadataProvenanceMin}},
		{name: "bad source date epoch", in: map[string]string{"SOURCE_DATE_EPOCH": "2024-01-01"}, wantErr: "SOURCE_DATE_EPOCH=2024-01-01 is not valid: use a unix time in seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readSettings(getenvOf(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("readSettings(%v) error = %v, want one line with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("readSettings(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestProgressMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       settings
		flag    string
		quiet   bool
		want    progressui.DisplayMode
		wantErr bool
	}{
		{name: "auto", flag: "auto", want: progressui.AutoMode},
		{name: "flag wins", s: settings{progress: progressui.RawJSONMode}, flag: "plain", want: progressui.PlainMode},
		{name: "env for auto", s: settings{progress: progressui.RawJSONMode, githubActions: true}, flag: "auto", want: progressui.RawJSONMode},
		{name: "workflow", s: settings{githubActions: true}, flag: "auto", want: progressui.PlainMode},
		{name: "quiet", s: settings{progress: progressui.PlainMode}, flag: "tty", quiet: true, want: progressui.QuietMode},
		{name: "bad flag", flag: "fancy", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.progressMode(tt.flag, tt.quiet)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("progressMode(%q, %v) = %q, %v; want %q (error %v)", tt.flag, tt.quiet, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAddSourceDateEpoch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		epoch string
		in    map[string]string
		want  map[string]string
	}{
		{name: "unset adds nothing", in: nil, want: nil},
		{name: "added", epoch: "0", in: nil, want: map[string]string{"SOURCE_DATE_EPOCH": "0"}},
		{name: "added beside others", epoch: "5", in: map[string]string{"A": "1"}, want: map[string]string{"A": "1", "SOURCE_DATE_EPOCH": "5"}},
		{name: "build arg wins", epoch: "5", in: map[string]string{"SOURCE_DATE_EPOCH": "7"}, want: map[string]string{"SOURCE_DATE_EPOCH": "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &builder.Request{BuildArgs: maps.Clone(tt.in)}
			settings{sourceDateEpoch: tt.epoch}.addSourceDateEpoch(req)
			if !maps.Equal(req.BuildArgs, tt.want) {
				t.Errorf("addSourceDateEpoch(%v) with %q = %v, want %v", tt.in, tt.epoch, req.BuildArgs, tt.want)
			}
		})
	}
}
