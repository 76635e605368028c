package commands

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var semverWithBuild = regexp.MustCompile(`^` + regexp.QuoteMeta(BuildxVersion) + `\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$`)

func TestCompatVersion(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"v0.5.0", "v0.38.2+xbuild.v0.5.0"},
		{"dev", "v0.38.2+xbuild.dev"},
		{"", "v0.38.2+xbuild.dev"},
		{"v0.0.0-20260101120000-ff2ca7a1b2c3+dirty", "v0.38.2+xbuild.v0.0.0-20260101120000-ff2ca7a1b2c3.dirty"},
		{"v0.4.0-3-gabc1234-dirty", "v0.38.2+xbuild.v0.4.0-3-gabc1234-dirty"},
		{"weird/ver sion", "v0.38.2+xbuild.weird.ver.sion"},
	}
	for _, tt := range tests {
		got := compatVersion(tt.in)
		if got != tt.want {
			t.Errorf("compatVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// Only semver build metadata follows buildx's version, so it
		// sorts as that release.
		if !semverWithBuild.MatchString(got) {
			t.Errorf("compatVersion(%q) = %q is not %s with semver build metadata", tt.in, got, BuildxVersion)
		}
	}
}

func TestPluginMetadata(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WritePluginMetadata(&buf, "v0.5.0"); err != nil {
		t.Fatal(err)
	}
	var md map[string]string
	if err := json.Unmarshal(buf.Bytes(), &md); err != nil {
		t.Fatalf("WritePluginMetadata wrote %q: %v", buf.String(), err)
	}
	want := map[string]string{"SchemaVersion": "0.1.0", "Vendor": "xbuild", "Version": "v0.38.2", "URL": "https://github.com/xbuild/xbuild"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	if d := md["ShortDescription"]; !strings.Contains(d, "xbuild v0.5.0") || !strings.Contains(d, "Buildx v0.38.2") {
		t.Errorf("metadata ShortDescription = %q, want xbuild's version and the buildx it follows", d)
	}
}
