package builder

import (
	"fmt"
	"strings"
	"testing"
)

// checkFuzzError holds a rejection to what users are promised: one
// non-empty line that quotes the value they typed.
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

// FuzzParsePlatform holds ParsePlatform to its contract on any input: no
// panic, one-line errors naming the value, and a result that is already
// normalized, so that its written form reads back as the same platform.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{
		"linux/amd64", "linux/arm/v7", "linux/arm64/v8", "Linux/x86_64", "local", "arm64",
		"windows(10.0.20348)/amd64", "windows(10.0.17763+win32k)/amd64", "wasi/wasm", "wasip1/wasm",
		"  linux/s390x ", "linux/amd65", "linx/amd64", "amd64/linux", "linux/*", "linux/xx?y",
		"", "/", "linux//", "linux/amd64/v2/extra", "windows()/amd64", "linux(\n)/amd64", "linux/arm/v7\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			checkFuzzError(t, fmt.Sprintf("ParsePlatform(%q)", s), err, fmt.Sprintf("%q", strings.TrimSpace(s)))
			return
		}
		if p.OS == "" || p.Architecture == "" {
			t.Fatalf("ParsePlatform(%q) = %+v, want both OS and architecture", s, p)
		}
		formatted := FormatPlatform(p)
		again, err := ParsePlatform(formatted)
		if err != nil {
			t.Fatalf("ParsePlatform(%q) = %s, which does not parse again: %v", s, formatted, err)
		}
		if got := FormatPlatform(again); got != formatted {
			t.Fatalf("ParsePlatform(%q) = %s, read back as %s", s, formatted, got)
		}
	})
}

// FuzzParsePlatforms checks the list form: entries are those ParsePlatform
// accepts, each platform once, and the written list reads back the same.
func FuzzParsePlatforms(f *testing.F) {
	f.Add("linux/amd64,linux/arm64", "")
	f.Add("linux/amd64, ,linux/amd64", "linux/x86_64")
	f.Add("local", "linux/arm/v7,linux/arm/v6")
	f.Add(",,", " ")
	f.Add("linux/amd64,linux/amd65", "linux/arm64")
	f.Add("windows(10.0.20348)/amd64,windows(10.0.17763)/amd64", "windows/amd64")
	f.Fuzz(func(t *testing.T, a, b string) {
		in := []string{a, b}
		got, err := ParsePlatforms(in)
		if err != nil {
			checkFuzzError(t, fmt.Sprintf("ParsePlatforms(%q)", in), err, "invalid platform")
			return
		}
		var written []string
		seen := map[string]bool{}
		for _, p := range got {
			k := FormatPlatform(p)
			if seen[k] {
				t.Fatalf("ParsePlatforms(%q) = %s twice", in, k)
			}
			seen[k] = true
			written = append(written, k)
		}
		again, err := ParsePlatforms([]string{strings.Join(written, ",")})
		if err != nil {
			t.Fatalf("ParsePlatforms(%q) = %q, which does not parse again: %v", in, written, err)
		}
		if len(again) != len(got) {
			t.Fatalf("ParsePlatforms(%q) = %q, read back as %d platforms", in, written, len(again))
		}
		for i, p := range again {
			if FormatPlatform(p) != written[i] {
				t.Fatalf("ParsePlatforms(%q) = %q, read back with %s at %d", in, written, FormatPlatform(p), i)
			}
		}
	})
}
