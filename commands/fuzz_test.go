package commands

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xbuild/xbuild/exporter"
)

// The fuzzers here hold the build flag parsers to what users are promised:
// no panic on any value, a rejection is one non-empty line (main prints it
// after "ERROR: ") naming the value where the parser says so, and a value
// accepted, written back in its flag's form, reads back the same.

func checkFuzzError(t *testing.T, call string, err error, mentions ...string) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s error = %q, want one non-empty line", call, msg)
	}
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			t.Fatalf("%s error = %q, want it to mention %s", call, msg, m)
		}
	}
}

// quotedCSV writes fields as one CSV line with every field quoted, so that
// no value (spaces, commas, quotes, line breaks) changes on the way back.
func quotedCSV(fields []string) string {
	q := make([]string, len(fields))
	for i, f := range fields {
		q[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
	}
	return strings.Join(q, ",")
}

// fuzzGetenv is a fixed environment, so that a run does not depend on the
// machine's.
func fuzzGetenv(k string) string {
	return map[string]string{"GITHUB_TOKEN": "token", "mysecret": "value", "HTTP_PROXY": "http://proxy:3128"}[k]
}

// formatAnnotation writes an exporter attribute parseAnnotations made back
// as the --annotation value: "annotation-manifest[linux/amd64].k" is
// "manifest[linux/amd64]:k". A key holds no brackets and a type no dots.
func formatAnnotation(attr, v string) string {
	rest := strings.TrimPrefix(attr, "annotation")
	if key, ok := strings.CutPrefix(rest, "."); ok {
		return key + "=" + v
	}
	rest = strings.TrimPrefix(rest, "-")
	cut := strings.Index(rest, ".")
	if i := strings.LastIndex(rest, "]"); i >= 0 {
		cut = i + 1
	}
	return rest[:cut] + ":" + rest[cut+1:] + "=" + v
}

func FuzzParseAnnotations(f *testing.F) {
	for _, s := range []string{
		"org.opencontainers.image.title=hi", "index:a=b", "manifest[linux/arm64]:c=d", "manifest-descriptor:k=",
		"index-descriptor[windows(10.0.20348)/amd64]:a.b=c=d", "k=v,w", "novalue", "weird:k=v", "=v",
		"manifest[]:k=v", "manifest[linux/amd64:k=v", "a\nb=c", "index:=v",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("parseAnnotations(%q)", s)
		got, err := parseAnnotations([]string{s})
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid --annotation %q", s))
			return
		}
		if len(got) != 1 {
			t.Fatalf("%s = %v, want one attribute", call, got)
		}
		for attr, v := range got {
			if _, want, _ := strings.Cut(s, "="); v != want {
				t.Fatalf("%s = %v, want the value %q", call, got, want)
			}
			written := formatAnnotation(attr, v)
			again, err := parseAnnotations([]string{written})
			if err != nil {
				t.Fatalf("%s = %v, written as %q, which does not parse: %v", call, got, written, err)
			}
			if !maps.Equal(again, got) {
				t.Fatalf("%s = %v, written as %q, read back as %v", call, got, written, again)
			}
		}
	})
}

// wantAttestFields is what the frontend is to get from one attestation
// value: its fields as a CSV reader reads them, less type= and disabled=.
func wantAttestFields(fields []string) []string {
	var want []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "type=") && !strings.HasPrefix(f, "disabled=") {
			want = append(want, f)
		}
	}
	return want
}

// FuzzParseAttests checks --attest, --provenance and --sbom together. What
// they accept reaches BuildKit as a CSV list of parameters, which BuildKit
// splits again: it must hold exactly the fields the user gave, so that a
// quoted field is neither split nor merged on the way.
func FuzzParseAttests(f *testing.F) {
	f.Add("type=sbom,generator=g:1", "", "", uint8(1))
	f.Add("type=provenance,disabled=true", "", "", uint8(1))
	f.Add("type=provenance,mode=max,builder-id=https://ci/run/1", "", "false", uint8(5))
	f.Add(`type=sbom,"generator=a,b"`, "", "", uint8(1))
	f.Add(`type=sbom,"x=a""b"`, "", "", uint8(1))
	f.Add("type=sbom,true", "", "", uint8(1))
	f.Add("", "mode=max", "generator=image", uint8(6))
	f.Add("", "true", "", uint8(2))
	f.Add("", "mode=huge", "", uint8(2))
	f.Add("type=provenance", "true", "", uint8(3))
	f.Add("mode=max", "", "", uint8(1))
	f.Add("", "", "disabled=maybe", uint8(4))
	f.Fuzz(func(t *testing.T, attest, provenance, sbom string, given uint8) {
		var attests []string
		if given&1 != 0 {
			attests = []string{attest}
		}
		changed := func(flag string) bool {
			return (flag == "provenance" && given&2 != 0) || (flag == "sbom" && given&4 != 0)
		}
		call := fmt.Sprintf("parseAttests(%q, %q, %q, %03b)", attests, provenance, sbom, given&7)
		got, err := parseAttests(attests, provenance, sbom, changed)
		if err != nil {
			checkFuzzError(t, call, err)
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid --") && !strings.HasPrefix(msg, "attestation ") {
				t.Fatalf("%s error = %q, want it to name the flag", call, msg)
			}
			return
		}
		want := map[string][]string{}
		if len(attests) == 1 {
			fields, _ := exporter.CSVFields(attest)
			typ := ""
			for _, f := range fields {
				if v, ok := strings.CutPrefix(f, "type="); ok {
					typ = v
				}
			}
			want[typ] = wantAttestFields(fields)
		}
		for typ, v := range map[string]string{"provenance": provenance, "sbom": sbom} {
			if !changed(typ) {
				continue
			}
			if _, err := strconv.ParseBool(v); err == nil || v == "" {
				want[typ] = nil
				continue
			}
			fields, _ := exporter.CSVFields(v)
			want[typ] = wantAttestFields(fields)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
			t.Fatalf("%s = %+v, want the types %v", call, got, slices.Sorted(maps.Keys(want)))
		}
		for typ, a := range got {
			var params []string
			if a.Params != "" {
				if params, err = exporter.CSVFields(a.Params); err != nil {
					t.Fatalf("%s = %s params %q, which BuildKit cannot read: %v", call, typ, a.Params, err)
				}
			}
			// The order is the parser's (sorted, so one request sends one
			// attribute); each field must arrive whole.
			if !slices.Equal(slices.Sorted(slices.Values(params)), slices.Sorted(slices.Values(want[typ]))) {
				t.Fatalf("%s = %s params %q, read as %q, want %q", call, typ, a.Params, params, want[typ])
			}
		}
	})
}

func FuzzParseSecrets(f *testing.F) {
	for _, s := range []string{
		"id=mysecret", "id=GITHUB_TOKEN", "id=a,src=buildflags.go", "id=a,source=buildflags.go,type=file",
		"id=a,env=GITHUB_TOKEN", "id=a,type=env", "id=a,type=env,src=HTTP_PROXY", "ID=a,ENV=HTTP_PROXY",
		"id=a,src=missing-file", "id=a,\"src=missing\nfile\"", "src=buildflags.go", "id", "id=a,bogus=1", "",
		`id="a`, "id=a\nid=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("parseSecrets(%q)", s)
		got, err := parseSecrets([]string{s}, fuzzGetenv)
		if err != nil {
			checkFuzzError(t, call, err)
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid --secret") && !strings.HasPrefix(msg, "secret ") {
				t.Fatalf("%s error = %q, want it to name --secret or the secret", call, msg)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("%s = %d secrets, want 1", call, len(got))
		}
		src := got[0]
		if src.ID == "" || (src.FilePath == "" && src.Env == "") {
			t.Fatalf("%s = %+v, want an id and a file or a variable", call, src)
		}
		if src.FilePath != "" {
			if _, err := os.Stat(src.FilePath); err != nil {
				t.Fatalf("%s = %+v, a file that is not there: %v", call, src, err)
			}
		}
		fields := []string{"id=" + src.ID}
		if src.FilePath != "" {
			fields = append(fields, "src="+src.FilePath)
		}
		if src.Env != "" {
			fields = append(fields, "env="+src.Env)
		}
		written := quotedCSV(fields)
		again, err := parseSecrets([]string{written}, fuzzGetenv)
		if err != nil {
			t.Fatalf("%s = %+v, written as %q, which does not parse: %v", call, src, written, err)
		}
		if !reflect.DeepEqual(again[0], src) {
			t.Fatalf("%s = %+v, written as %q, read back as %+v", call, src, written, again[0])
		}
	})
}

func FuzzParseSSH(f *testing.F) {
	for _, s := range []string{"default", "default=/run/ssh-agent.sock", "github=/k1,/k2", "a=", "=x", "", "a=b=c", "a=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("parseSSH(%q)", s)
		got, err := parseSSH([]string{s})
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid --ssh %q", s))
			return
		}
		if len(got) != 1 || got[0].ID == "" || strings.Contains(got[0].ID, "=") {
			t.Fatalf("%s = %+v, want one agent with an id", call, got)
		}
		written := got[0].ID
		if len(got[0].Paths) > 0 {
			written += "=" + strings.Join(got[0].Paths, ",")
		}
		again, err := parseSSH([]string{written})
		if err != nil {
			t.Fatalf("%s = %+v, written as %q, which does not parse: %v", call, got[0], written, err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("%s = %+v, written as %q, read back as %+v", call, got, written, again)
		}
	})
}

func FuzzParseCache(f *testing.F) {
	for _, s := range []string{
		"r/app:cache", "type=local,src=/tmp/c", "type=registry,ref=r/app:cache,mode=max", "type=gha,scope=main",
		"type=s3,region=eu,bucket=b,name=a;b", `type=azblob,"name=a,b"`, "type=inline", "type=floppy", "mode=max",
		"type=local,src", `type=local,src="x`, "type=local,dest=a\ntype=gha", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("parseCache(%q)", s)
		got, err := parseCache("--cache-to", []string{s})
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid --cache-to %q", s))
			return
		}
		bare := !strings.Contains(s, "=")
		if len(got) == 0 || (!bare && len(got) != 1) {
			t.Fatalf("%s = %d entries, want 1 (or one per reference of a bare list)", call, len(got))
		}
		for _, e := range got {
			switch e.Type {
			case "registry", "local", "inline", "gha", "s3", "azblob":
			default:
				t.Fatalf("%s = type %q, want a known cache type", call, e.Type)
			}
			// A bare list gives one registry entry per reference, each
			// written back bare.
			written := e.Attrs["ref"]
			if !bare {
				fields := []string{"type=" + e.Type}
				for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
					fields = append(fields, k+"="+e.Attrs[k])
				}
				written = quotedCSV(fields)
			}
			again, err := parseCache("--cache-to", []string{written})
			if err != nil {
				t.Fatalf("%s = %+v, written as %q, which does not parse: %v", call, e, written, err)
			}
			if len(again) != 1 || !reflect.DeepEqual(again[0], e) {
				t.Fatalf("%s = %+v, written as %q, read back as %+v", call, e, written, again)
			}
		}
	})
}

// FuzzParseKeyValues covers --build-arg (a bare KEY read from the
// environment), --label and --build-context (KEY=VALUE only).
func FuzzParseKeyValues(f *testing.F) {
	for _, s := range []string{"A=1", "A=", "A=b=c", "HTTP_PROXY", "UNSET", "=v", "", "k\n=v", " A = 1 "} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, fromEnv bool) {
		flag := "--label"
		var getenv func(string) string
		if fromEnv {
			flag, getenv = "--build-arg", fuzzGetenv
		}
		call := fmt.Sprintf("parseKeyValues(%q, %q)", flag, s)
		got, err := parseKeyValues(flag, []string{s}, getenv)
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid %s %q", flag, s))
			return
		}
		k, v, ok := strings.Cut(s, "=")
		want := map[string]string{k: v}
		if !ok {
			if v = fuzzGetenv(k); v == "" {
				want = map[string]string{}
			} else {
				want = map[string]string{k: v}
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s = %v, want %v", call, got, want)
		}
		for k, v := range got {
			again, err := parseKeyValues(flag, []string{k + "=" + v}, getenv)
			if err != nil || !maps.Equal(again, got) {
				t.Fatalf("%s = %v, written as %q, read back as %v, %v", call, got, k+"="+v, again, err)
			}
		}
	})
}

// FuzzParseTags checks -t/--tag: a name, written out in full with its tag,
// reads back as itself.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{
		"app", "app:1", "r.example:5000/team/app:v1.2", "docker.io/library/alpine", "app@sha256:" + strings.Repeat("a", 64),
		"App", "app:", ":1", "", "a b", "0\nA", strings.Repeat("a", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("parseTags(%q)", s)
		got, err := parseTags([]string{s})
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid tag %q", s))
			return
		}
		again, err := parseTags(got)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%s = %q, read back as %q, %v", call, got, again, err)
		}
	})
}
