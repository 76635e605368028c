package builder

import (
	"encoding/json"
	"maps"
	"testing"
)

func TestProvenanceForMetadata(t *testing.T) {
	t.Parallel()
	v1 := `{"buildDefinition":{"buildType":"https://mobyproject.org/buildkit@v1","externalParameters":{"configSource":{"path":"Dockerfile"},"request":{"frontend":"dockerfile.v0","args":{"build-arg:A":"1","label:L":"l","target":"t"},"inputs":{"c":{"configSource":{},"request":{"args":{"build-arg:B":"2","filename":"f"}}}}}},"internalParameters":{"buildConfig":{"llbDefinition":[{"id":"step0"}]}},"resolvedDependencies":[{"uri":"pkg:docker/busybox@latest","digest":{"sha256":"aa"}}]},"runDetails":{"builder":{"id":"b"},"metadata":{"invocationID":"x"}}}`
	for _, tt := range []struct {
		name            string
		mode            MetadataProvenance
		wantBuildConfig bool
		wantArgs        map[string]string
		wantInputArgs   map[string]string
	}{
		{
			name: "min drops build args and labels", mode: MetadataProvenanceMin,
			wantArgs:      map[string]string{"target": "t"},
			wantInputArgs: map[string]string{"filename": "f"},
		},
		{
			name: "max keeps everything", mode: MetadataProvenanceMax, wantBuildConfig: true,
			wantArgs:      map[string]string{"build-arg:A": "1", "label:L": "l", "target": "t"},
			wantInputArgs: map[string]string{"build-arg:B": "2", "filename": "f"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dt, err := provenanceForMetadata([]byte(v1), "https://slsa.dev/provenance/v1", tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(dt, &got); err != nil {
				t.Fatal(err)
			}
			if _, ok := got["buildConfig"]; ok != tt.wantBuildConfig {
				t.Errorf("buildConfig present = %v, want %v: %s", ok, tt.wantBuildConfig, dt)
			}
			if _, ok := got["metadata"]; ok != tt.wantBuildConfig {
				t.Errorf("metadata present = %v, want %v: %s", ok, tt.wantBuildConfig, dt)
			}
			var inv struct {
				Parameters struct {
					Args   map[string]string `json:"args"`
					Inputs map[string]struct {
						Request struct {
							Args map[string]string `json:"args"`
						} `json:"request"`
					} `json:"inputs"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(got["invocation"], &inv); err != nil {
				t.Fatalf("invocation = %s: %v", got["invocation"], err)
			}
			if args := inv.Parameters.Args; !maps.Equal(args, tt.wantArgs) {
				t.Errorf("invocation args = %v, want %v", args, tt.wantArgs)
			}
			if args := inv.Parameters.Inputs["c"].Request.Args; !maps.Equal(args, tt.wantInputArgs) {
				t.Errorf("input c args = %v, want %v", args, tt.wantInputArgs)
			}
			if string(got["buildType"]) != `"https://mobyproject.org/buildkit@v1"` {
				t.Errorf("buildType = %s", got["buildType"])
			}
		})
	}
	if _, err := provenanceForMetadata([]byte("{"), "https://slsa.dev/provenance/v0.2", MetadataProvenanceMin); err == nil {
		t.Error("a broken predicate gave no error")
	}
}
