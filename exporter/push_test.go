package exporter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/xbuild/xbuild/engine"
)

func TestRecordPush(t *testing.T) {
	t.Parallel()
	const pushed = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{
			name: "image ID kept as the config digest",
			in:   map[string]string{KeyDigest: "sha256:aa", KeyDescriptor: "e30=", KeyImageName: "r/a:1"},
			want: map[string]string{KeyDigest: pushed, KeyConfigDigest: "sha256:aa", KeyImageName: "r/a:1"},
		},
		{
			name: "config digest already there",
			in:   map[string]string{KeyDigest: "sha256:aa", KeyConfigDigest: "sha256:cc"},
			want: map[string]string{KeyDigest: pushed, KeyConfigDigest: "sha256:cc"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := maps.Clone(tc.in)
			recordPush(got, pushed)
			if !maps.Equal(got, tc.want) {
				t.Errorf("recordPush(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestAuxDigest(t *testing.T) {
	t.Parallel()
	raw := func(s string) *json.RawMessage { m := json.RawMessage(s); return &m }
	for _, tc := range []struct {
		name string
		in   jsonstream.Message
		want string
	}{
		{"closing message", jsonstream.Message{Aux: raw(`{"Tag":"1","Digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Size":528}`)},
			"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"no aux", jsonstream.Message{Status: "Pushed", ID: "abc"}, ""},
		{"not a digest", jsonstream.Message{Aux: raw(`{"Digest":"nope"}`)}, ""},
		{"not an object", jsonstream.Message{Aux: raw(`"text"`)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := auxDigest(tc.in); got.String() != tc.want {
				t.Errorf("auxDigest() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEncodedAuth(t *testing.T) {
	t.Parallel()
	creds := func(host string) (string, string, error) {
		switch host {
		case "registry-1.docker.io":
			return "hub-user", "hub-pass", nil
		case "tok.example":
			return "", "identity-token", nil
		case "broken.example":
			return "", "", errors.New("helper crashed")
		}
		return "", "", nil
	}
	for _, tc := range []struct {
		name, ref string
		want      registry.AuthConfig
		wantEmpty bool
		wantErr   bool
	}{
		{name: "docker hub short name", ref: "alpine:3", want: registry.AuthConfig{ServerAddress: "registry-1.docker.io", Username: "hub-user", Password: "hub-pass"}},
		{name: "identity token", ref: "tok.example/a/b:1", want: registry.AuthConfig{ServerAddress: "tok.example", IdentityToken: "identity-token"}},
		{name: "no credentials", ref: "127.0.0.1:5555/app:1", wantEmpty: true},
		{name: "helper error", ref: "broken.example/a", wantErr: true},
		{name: "bad name", ref: "UPPER/Case", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := encodedAuth(tc.ref, creds)
			if (err != nil) != tc.wantErr {
				t.Fatalf("encodedAuth(%q) error = %v, wantErr %v", tc.ref, err, tc.wantErr)
			}
			if tc.wantErr || tc.wantEmpty {
				if got != "" {
					t.Errorf("encodedAuth(%q) = %q, want empty", tc.ref, got)
				}
				return
			}
			data, err := base64.URLEncoding.DecodeString(got)
			if err != nil {
				t.Fatalf("encodedAuth(%q) is not base64url: %v", tc.ref, err)
			}
			var ac registry.AuthConfig
			if err := json.Unmarshal(data, &ac); err != nil || ac != tc.want {
				t.Errorf("encodedAuth(%q) = %+v (%v), want %+v", tc.ref, ac, err, tc.want)
			}
		})
	}
}

func TestPrepareEnginePushRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		attrs map[string]string
	}{
		{"push by digest", map[string]string{"name": "r/a:1", "push": "true", "push-by-digest": "true"}},
		{"no name", map[string]string{"push": "true"}},
		{"bad name", map[string]string{"name": "Bad Name", "push": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := &Export{}
			if err := prepareEnginePush(ex, tc.attrs, engineEndpointForTest, nil); err == nil {
				t.Errorf("prepareEnginePush(%v) = nil, want an error", tc.attrs)
			}
			if len(ex.pending) != 0 {
				t.Errorf("prepareEnginePush(%v) left a finisher behind a refusal", tc.attrs)
			}
		})
	}
}

var engineEndpointForTest = engine.Endpoint{Host: "unix:///nonexistent/docker.sock"}
