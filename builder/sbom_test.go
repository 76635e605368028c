package builder

import (
	"errors"
	"strings"
	"testing"
)

func TestSBOMParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, params, generator, from  string
		wantParams, wantUsed, wantFrom string
		errHas                         string
	}{
		{name: "no default", params: "", wantParams: "", wantUsed: buildKitSBOMGenerator, wantFrom: "BuildKit's default"},
		{name: "default added", params: "", generator: "127.0.0.1:5555/gen", from: "XBUILD_SBOM_GENERATOR",
			wantParams: "generator=127.0.0.1:5555/gen", wantUsed: "127.0.0.1:5555/gen:latest", wantFrom: "XBUILD_SBOM_GENERATOR"},
		{name: "default after other params", params: "scan-stage=true", generator: "gen:1", from: "builder b",
			wantParams: "scan-stage=true,generator=gen:1", wantUsed: "docker.io/library/gen:1", wantFrom: "builder b"},
		{name: "flag wins over default", params: "generator=mine:2", generator: "gen:1", from: "builder b",
			wantParams: "generator=mine:2", wantUsed: "docker.io/library/mine:2", wantFrom: "--sbom generator="},
		{name: "bad flag generator", params: "generator=UPPER:x", errHas: `"UPPER:x" is not an image reference`},
		{name: "bad default", generator: "a b", from: "XBUILD_SBOM_GENERATOR", errHas: "SBOM generator from XBUILD_SBOM_GENERATOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params, used, from, err := sbomParams(tt.params, tt.generator, tt.from)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if params != tt.wantParams || used != tt.wantUsed || from != tt.wantFrom {
				t.Errorf("sbomParams = %q, %q, %q; want %q, %q, %q", params, used, from, tt.wantParams, tt.wantUsed, tt.wantFrom)
			}
		})
	}
}

func TestSBOMGeneratorError(t *testing.T) {
	t.Parallel()
	p := &Plan{SBOMGenerator: "127.0.0.1:5555/nope:latest", SBOMGeneratorFrom: "XBUILD_SBOM_GENERATOR"}
	err := sbomGeneratorError(errors.New("failed to resolve source metadata for 127.0.0.1:5555/nope:latest: not found"), p)
	for _, want := range []string{"SBOM generator 127.0.0.1:5555/nope:latest (from XBUILD_SBOM_GENERATOR)", "not found", "--sbom=generator=REF"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
