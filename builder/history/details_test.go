package history

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/docker/buildx/localstate"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

func TestRecordStatusAndDuration(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 4, 15, 12, 0, 0, 0, time.UTC)
	now := start.Add(5 * time.Second)
	canceled := record("c", start, time.Second, "canceled", nil)
	canceled.Error = &rpcstatus.Status{Code: int32(codes.Canceled), Message: "context canceled"}
	tests := []struct {
		name       string
		rec        *Record
		want       Status
		wantTook   time.Duration
		wantTookOK bool
	}{
		{name: "completed", rec: &Record{BuildHistoryRecord: record("a", start, 1400*time.Millisecond, "", nil)}, want: StatusCompleted, wantTook: 1400 * time.Millisecond, wantTookOK: true},
		{name: "failed", rec: &Record{BuildHistoryRecord: record("a", start, time.Second, "exit code: 3", nil)}, want: StatusFailed, wantTook: time.Second, wantTookOK: true},
		{name: "canceled", rec: &Record{BuildHistoryRecord: canceled}, want: StatusCanceled, wantTook: time.Second, wantTookOK: true},
		{name: "running, daemon clock known", rec: &Record{BuildHistoryRecord: record("a", start, 0, "running", nil), Now: &now}, want: StatusRunning, wantTook: 5 * time.Second, wantTookOK: true},
		{name: "running, clock unknown", rec: &Record{BuildHistoryRecord: record("a", start, 0, "running", nil)}, want: StatusRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.rec.Status(); got != tt.want {
				t.Errorf("Status() = %q, want %q", got, tt.want)
			}
			if got, ok := tt.rec.Duration(); got != tt.wantTook || ok != tt.wantTookOK {
				t.Errorf("Duration() = %v, %v, want %v, %v", got, ok, tt.wantTook, tt.wantTookOK)
			}
		})
	}
}

func TestReadAttrs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		attrs map[string]string
		local *localstate.State
		wd    string
		check func(t *testing.T, d *Details)
	}{
		{
			name: "local build",
			attrs: map[string]string{
				"filename": "Dockerfile", "target": "bin", "platform": "linux/amd64,linux/arm64",
				"build-arg:FOO": "1", "label:org.a": "b", "no-cache": "", "add-hosts": "a:1.2.3.4,b:5.6.7.8",
				"frontend.caps": "x", "attest:provenance": "mode=min", "memory": "1024", "custom": "raw",
				"context:base": "docker-image://alpine",
			},
			check: func(t *testing.T, d *Details) {
				want := Details{
					Dockerfile: "Dockerfile", Target: "bin", Platform: []string{"linux/amd64", "linux/arm64"},
					NamedContexts: []KeyValue{{"base", "docker-image://alpine"}},
					BuildArgs:     []KeyValue{{"FOO", "1"}}, Labels: []KeyValue{{"org.a", "b"}},
					Config: Config{NoCache: true, ExtraHosts: []string{"a:1.2.3.4", "b:5.6.7.8"}, Memory: "1024", RestRaw: []KeyValue{{"custom", "raw"}}},
				}
				if !reflect.DeepEqual(*d, want) {
					t.Errorf("readAttrs = %+v\nwant %+v", *d, want)
				}
			},
		},
		{
			name:  "git context keeps its own repository",
			attrs: map[string]string{"context": "https://github.com/a/b.git#main", "vcs:source": "https://github.com/a/b.git", "vcs:revision": "abc", "no-cache": "stage1,stage2"},
			check: func(t *testing.T, d *Details) {
				if d.Context != "https://github.com/a/b.git#main" || d.VCSRepository != "https://github.com/a/b.git" || d.VCSRevision != "abc" {
					t.Errorf("readAttrs = context %q, repository %q, revision %q", d.Context, d.VCSRepository, d.VCSRevision)
				}
				if !slices.Equal(d.Config.NoCacheFilter, []string{"stage1", "stage2"}) || d.Config.NoCache {
					t.Errorf("readAttrs no-cache = %v, %v, want the filter only", d.Config.NoCache, d.Config.NoCacheFilter)
				}
			},
		},
		{
			name:  "local state gives relative paths",
			attrs: map[string]string{"filename": "Dockerfile"},
			local: &localstate.State{LocalPath: "/src/app", DockerfilePath: "/src/app/build/Dockerfile"},
			wd:    "/src",
			check: func(t *testing.T, d *Details) {
				if d.Context != "app" || d.Dockerfile != "build/Dockerfile" {
					t.Errorf("readAttrs = context %q, Dockerfile %q, want app, build/Dockerfile", d.Context, d.Dockerfile)
				}
			},
		},
		{
			name:  "bad values are reported, not fatal",
			attrs: map[string]string{"platform": "linux/amd64,", "build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR": "maybe"},
			check: func(t *testing.T, d *Details) {
				if len(d.Errors) != 2 || !slices.Equal(d.Platform, []string{"linux/amd64"}) {
					t.Errorf("readAttrs = platforms %q, errors %q, want linux/amd64 and 2 errors", d.Platform, d.Errors)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &Record{BuildHistoryRecord: record("r", time.Now(), time.Second, "", tt.attrs), Local: tt.local}
			d := &Details{}
			d.readAttrs(rec, tt.wd)
			tt.check(t, d)
		})
	}
}

func TestLogLines(t *testing.T) {
	t.Parallel()
	type chunk struct {
		stream int
		data   string
	}
	tests := []struct {
		name string
		in   []chunk
		want []string
	}{
		{name: "whole lines", in: []chunk{{1, "a\nb\n"}}, want: []string{"a", "b"}},
		{name: "line split across chunks", in: []chunk{{1, "hel"}, {1, "lo\nworld\n"}}, want: []string{"hello", "world"}},
		{name: "streams kept apart", in: []chunk{{1, "out"}, {2, "err\n"}, {1, " more\n"}}, want: []string{"out more", "err"}},
		{name: "blank lines dropped", in: []chunk{{1, "a\n\n\nb"}}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var l logLines
			for _, c := range tt.in {
				l.add(c.stream, []byte(c.data))
			}
			if !slices.Equal(l.lines, tt.want) {
				t.Errorf("logLines = %q, want %q", l.lines, tt.want)
			}
		})
	}
}
