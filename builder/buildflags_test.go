package builder

import (
	"strings"
	"testing"

	"github.com/docker/buildx/util/buildflags"
)

func TestOutputsFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		in       []string
		wantType string
		wantErr  string
	}{
		{"registry is a push", []string{"type=registry,name=r/a:1"}, "image", ""},
		{"bare folder", []string{"out"}, "local", ""},
		{"stdout", []string{"-"}, "tar", ""},
		{"unknown type", []string{"type=zip,dest=x"}, "", `unknown type "zip"`},
		{"local without dest", []string{"type=local"}, "", "type=local needs dest=FOLDER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, err := buildflags.ParseExports(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := OutputsFrom(spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OutputsFrom(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].Type != tc.wantType {
				t.Errorf("OutputsFrom(%q) = %+v, %v; want one %s output", tc.in, got, err, tc.wantType)
			}
		})
	}
}

func TestAttestsFrom(t *testing.T) {
	t.Parallel()
	spec, err := buildflags.ParseAttests([]string{"type=provenance,mode=max,builder-id=x", "type=sbom,disabled=true", `type=custom,"note=a,b"`})
	if err != nil {
		t.Fatal(err)
	}
	got := AttestsFrom(spec)
	if got["provenance"].Params != "builder-id=x,mode=max" || got["provenance"].Off || !got["sbom"].Off || got["custom"].Params != `"note=a,b"` {
		t.Errorf("AttestsFrom() = %+v", got)
	}
}

func TestCacheEntriesFrom(t *testing.T) {
	t.Parallel()
	spec, err := buildflags.ParseCacheEntry([]string{"reg.example/cache", "type=local,dest=/c"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := CacheEntriesFrom(spec)
	if err != nil || len(got) != 2 || got[0].Type != "registry" || got[0].Attrs["ref"] != "reg.example/cache" || got[1].Attrs["dest"] != "/c" {
		t.Errorf("CacheEntriesFrom() = %+v, %v", got, err)
	}
}
