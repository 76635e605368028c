package commands

import (
	"reflect"
	"testing"

	"github.com/xbuild/xbuild/builder"
)

func TestParseAttests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		attests    []string
		provenance string
		sbom       string
		changed    []string
		want       map[string]builder.Attest
		wantErr    bool
	}{
		{name: "none", want: map[string]builder.Attest{}},
		{name: "provenance false", provenance: "false", changed: []string{"provenance"}, want: map[string]builder.Attest{"provenance": {Off: true}}},
		{name: "provenance mode", provenance: "mode=max", changed: []string{"provenance"}, want: map[string]builder.Attest{"provenance": {Params: "mode=max"}}},
		{name: "attest sbom", attests: []string{"type=sbom,generator=g:1"}, want: map[string]builder.Attest{"sbom": {Params: "generator=g:1"}}},
		{name: "attest disabled", attests: []string{"type=provenance,disabled=true"}, want: map[string]builder.Attest{"provenance": {Off: true}}},
		{name: "bad mode", provenance: "mode=huge", changed: []string{"provenance"}, wantErr: true},
		{name: "twice", attests: []string{"type=provenance"}, provenance: "true", changed: []string{"provenance"}, wantErr: true},
		{name: "no type", attests: []string{"mode=max"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			changed := func(f string) bool {
				for _, c := range tt.changed {
					if c == f {
						return true
					}
				}
				return false
			}
			got, err := parseAttests(tt.attests, tt.provenance, tt.sbom, changed)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseAttests() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseAttests() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAnnotations(t *testing.T) {
	t.Parallel()
	got, err := parseAnnotations([]string{"org.opencontainers.image.title=hi", "index:a=b", "manifest[linux/arm64]:c=d"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"annotation.org.opencontainers.image.title": "hi",
		"annotation-index.a":                        "b",
		"annotation-manifest[linux/arm64].c":        "d",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseAnnotations() = %v, want %v", got, want)
	}
	for _, bad := range []string{"novalue", "weird:k=v", "=v"} {
		if _, err := parseAnnotations([]string{bad}); err == nil {
			t.Errorf("parseAnnotations(%q) = nil error", bad)
		}
	}
}

func TestParseCacheAndSecrets(t *testing.T) {
	t.Parallel()
	c, err := parseCache("--cache-from", []string{"r/app:cache", "type=local,src=/tmp/c"})
	if err != nil || c[0].Type != "registry" || c[0].Attrs["ref"] != "r/app:cache" || c[1].Type != "local" || c[1].Attrs["src"] != "/tmp/c" {
		t.Errorf("parseCache() = %+v, %v", c, err)
	}
	if _, err := parseCache("--cache-to", []string{"type=floppy"}); err == nil {
		t.Error("parseCache(type=floppy) = nil error")
	}
	env := func(k string) string { return map[string]string{"TOKEN": "x"}[k] }
	s, err := parseSecrets([]string{"id=TOKEN", "id=t2,env=TOKEN"}, env)
	if err != nil || s[0].Env != "TOKEN" || s[1].Env != "TOKEN" {
		t.Errorf("parseSecrets() = %+v, %v", s, err)
	}
	if _, err := parseSecrets([]string{"src=/etc/hostname"}, env); err == nil {
		t.Error("parseSecrets(no id) = nil error")
	}
}
