package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/replay"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func replaySubjects(ps ...string) []replaySubject {
	out := make([]replaySubject, len(ps))
	for i, p := range ps {
		s := &replay.Subject{}
		if p != "" {
			pl := platforms.MustParse(p)
			s.Descriptor.Platform = &pl
		}
		out[i] = replaySubject{subject: s}
	}
	return out
}

func TestSelectReplayPlatform(t *testing.T) {
	t.Parallel()
	arm := func() (ocispecs.Platform, error) { return platforms.MustParse("linux/arm64"), nil }
	tests := []struct {
		name     string
		subjects []replaySubject
		flags    []string
		want     string // the platforms kept, comma-separated; "-" none
		wantErr  string
	}{
		{"the only one", replaySubjects("linux/amd64"), nil, "linux/amd64", ""},
		{"the builder's default", replaySubjects("linux/amd64", "linux/arm64"), nil, "linux/arm64", ""},
		{"asked for", replaySubjects("linux/amd64", "linux/arm64"), []string{"linux/amd64"}, "linux/amd64", ""},
		{"comma-separated and repeated", replaySubjects("linux/amd64", "linux/arm64"), []string{"linux/amd64,linux/arm64", "linux/arm64"}, "linux/amd64,linux/arm64", ""},
		{"an attestation file takes it", replaySubjects(""), []string{"linux/riscv64"}, "linux/riscv64", ""},
		{"not there", replaySubjects("linux/amd64", "linux/arm64"), []string{"linux/s390x"}, "", "requested platform(s) not present: [linux/s390x]"},
		{"default not there", replaySubjects("linux/amd64", "linux/386"), nil, "", "no subject for builder default platform"},
		{"all", replaySubjects("linux/amd64"), []string{"all"}, "", `--platform "all" is not supported`},
		{"empty", replaySubjects("linux/amd64"), []string{"linux/amd64,"}, "", "invalid empty --platform value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := selectReplayPlatform(tt.subjects, tt.flags, arm)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("selectReplayPlatform() = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, platforms.Format(*s.subject.Descriptor.Platform))
			}
			if strings.Join(names, ",") != tt.want {
				t.Errorf("selectReplayPlatform() kept %v, want %s", names, tt.want)
			}
		})
	}
}

// The default platform is asked for only when the subject has several.
func TestSelectReplayPlatformAsksOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	failing := func() (ocispecs.Platform, error) { return ocispecs.Platform{}, errors.New("builder down") }
	if _, err := selectReplayPlatform(replaySubjects("linux/amd64"), nil, failing); err != nil {
		t.Errorf("one platform: %v, want no question to the builder", err)
	}
	if _, err := selectReplayPlatform(replaySubjects("linux/amd64", "linux/arm64"), nil, failing); err == nil || !strings.Contains(err.Error(), "pass --platform") {
		t.Errorf("two platforms, builder down: %v, want a hint to pass --platform", err)
	}
}

func TestReplayBuildOptionsCheck(t *testing.T) {
	t.Parallel()
	ok := replayBuildOptions{mode: "materials", format: "pretty", progress: "auto"}
	tests := []struct {
		name          string
		edit          func(*replayBuildOptions)
		formatChanged bool
		wantErr       string
	}{
		{"defaults", func(*replayBuildOptions) {}, false, ""},
		{"frontend mode", func(o *replayBuildOptions) { o.mode = "frontend" }, false, ""},
		{"bad mode", func(o *replayBuildOptions) { o.mode = "exact" }, false, `unknown --replay-mode "exact"`},
		{"bad format", func(o *replayBuildOptions) { o.format = "yaml"; o.dryRun = true }, true, `unknown --format "yaml"`},
		{"format without dry run", func(o *replayBuildOptions) { o.format = "json" }, true, "--format requires --dry-run"},
		{"network none", func(o *replayBuildOptions) { o.network = "none" }, false, ""},
		{"network host", func(o *replayBuildOptions) { o.network = "host" }, false, `unsupported --network "host"`},
		{"bad progress", func(o *replayBuildOptions) { o.progress = "fancy" }, false, `invalid progress mode "fancy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tt.edit(&o)
			err := o.check(tt.formatChanged)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("check() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
