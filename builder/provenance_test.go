package builder

import (
	"encoding/json"
	"testing"
)

func TestProvenanceForMetadata(t *testing.T) {
	t.Parallel()
	v1 := `{"buildDefinition":{"buildType":"https://mobyproject.org/buildkit@v1","externalParameters":{"configSource":{"path":"Dockerfile"},"request":{"frontend":"dockerfile.v0","args":{"build-arg:A":"1"}}},"internalParameters":{"buildConfig":{"llbDefinition":[{"id":"step0"}]}},"resolvedDependencies":[{"uri":"pkg:docker/busybox@latest","digest":{"sha256":"aa"}}]},"runDetails":{"builder":{"id":"b"},"metadata":{"invocationID":"x"}}}`
	for _, tt := range []struct {
		mode            MetadataProvenance
		wantBuildConfig bool
	}{{MetadataProvenanceMin, false}, {MetadataProvenanceMax, true}} {
		dt, err := provenanceForMetadata([]byte(v1), "https://slsa.dev/provenance/v1", tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(dt, &got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got["buildConfig"]; ok != tt.wantBuildConfig {
			t.Errorf("mode %s: buildConfig present = %v: %s", tt.mode, ok, dt)
		}
		if _, ok := got["metadata"]; ok != tt.wantBuildConfig {
			t.Errorf("mode %s: metadata present = %v: %s", tt.mode, ok, dt)
		}
		var inv struct {
			Parameters struct {
				Args map[string]string `json:"args"`
			} `json:"parameters"`
		}
		if err := json.Unmarshal(got["invocation"], &inv); err != nil || inv.Parameters.Args["build-arg:A"] != "1" {
			t.Errorf("mode %s: invocation = %s (%v)", tt.mode, got["invocation"], err)
		}
		if string(got["buildType"]) != `"https://mobyproject.org/buildkit@v1"` {
			t.Errorf("mode %s: buildType = %s", tt.mode, got["buildType"])
		}
	}
	if _, err := provenanceForMetadata([]byte("{"), "https://slsa.dev/provenance/v0.2", MetadataProvenanceMin); err == nil {
		t.Error("a broken predicate gave no error")
	}
}
