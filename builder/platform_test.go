package builder

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "linux amd64", in: "linux/amd64", want: "linux/amd64"},
		{name: "arm v7", in: "linux/arm/v7", want: "linux/arm/v7"},
		{name: "arm64 v8 normalized", in: "linux/arm64/v8", want: "linux/arm64"},
		{name: "aarch64 normalized", in: "linux/aarch64", want: "linux/arm64"},
		{name: "x86_64 normalized", in: "Linux/x86_64", want: "linux/amd64"},
		{name: "riscv64", in: "linux/riscv64", want: "linux/riscv64"},
		{name: "windows", in: "windows/amd64", want: "windows/amd64"},
		{name: "windows with version", in: "windows(10.0.20348)/amd64", want: "windows(10.0.20348)/amd64"},
		{name: "windows server 2019", in: "windows(10.0.17763)/amd64", want: "windows(10.0.17763)/amd64"},
		{name: "linux with version", in: "linux(5.10)/amd64", want: "linux(5.10)/amd64"},
		{name: "unclosed version", in: "windows(10.0.17763/amd64", wantErr: `invalid platform "windows(10.0.17763/amd64"`},
		{name: "wasi", in: "wasi/wasm", want: "wasi/wasm"},
		{name: "wasip1", in: "wasip1/wasm", want: "wasip1/wasm"},
		{name: "spaces", in: "  linux/s390x ", want: "linux/s390x"},
		{name: "local", in: "local", want: FormatPlatform(platforms.DefaultSpec())},
		{name: "lone architecture", in: "arm64", want: runtime.GOOS + "/arm64"},
		{name: "arch typo", in: "linux/amd65", wantErr: `invalid platform "linux/amd65": unknown architecture "amd65"`},
		{name: "os typo", in: "linx/amd64", wantErr: `invalid platform "linx/amd64": unknown operating system "linx"`},
		{name: "os and arch swapped", in: "amd64/linux", wantErr: `unknown operating system "amd64"`},
		{name: "bad character", in: "linux/xx?y", wantErr: `invalid platform "linux/xx?y": use OS/ARCH`},
		{name: "wildcard", in: "linux/*", wantErr: `invalid platform "linux/*"`},
		{name: "unknown lone word", in: "notaplatform", wantErr: `invalid platform "notaplatform"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePlatform(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("ParsePlatform(%q) = %v, %v; want one line with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePlatform(%q) error = %v", tt.in, err)
			}
			if f := FormatPlatform(got); f != tt.want {
				t.Errorf("ParsePlatform(%q) = %s, want %s", tt.in, f, tt.want)
			}
		})
	}
}

func TestParsePlatforms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "none", in: nil, want: nil},
		{name: "comma list", in: []string{"linux/amd64,linux/arm64"}, want: []string{"linux/amd64", "linux/arm64"}},
		{name: "repeated and deduplicated", in: []string{"linux/amd64", "linux/arm64", "linux/x86_64"}, want: []string{"linux/amd64", "linux/arm64"}},
		{name: "empty entries skipped", in: []string{"wasi/wasm,, linux/arm/v7 ,"}, want: []string{"wasi/wasm", "linux/arm/v7"}},
		{name: "one bad entry", in: []string{"linux/amd64,linux/notanarch"}, wantErr: `invalid platform "linux/notanarch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePlatforms(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePlatforms(%v) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePlatforms(%v) error = %v", tt.in, err)
			}
			var f []string
			for _, p := range got {
				f = append(f, FormatPlatform(p))
			}
			if !slices.Equal(f, tt.want) {
				t.Errorf("ParsePlatforms(%v) = %v, want %v", tt.in, f, tt.want)
			}
		})
	}
}

// The frontend gets a platform's OS version, as buildx sends it.
func TestFrontendAttrsPlatformVersion(t *testing.T) {
	t.Parallel()
	p, err := ParsePlatform("windows(10.0.17763)/amd64")
	if err != nil {
		t.Fatal(err)
	}
	attrs := frontendAttrs(&Request{Platforms: []ocispecs.Platform{p}}, &Plan{}, &inputs{attrs: map[string]string{}})
	if got, want := attrs["platform"], "windows(10.0.17763)/amd64"; got != want {
		t.Errorf("frontendAttrs platform = %q, want %q", got, want)
	}
}
