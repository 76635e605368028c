package history

import (
	"slices"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// record is a record created at created that took took; failed says how
// it ended ("" for success, "running" for not yet).
func record(ref string, created time.Time, took time.Duration, failed string, attrs map[string]string) *controlapi.BuildHistoryRecord {
	r := &controlapi.BuildHistoryRecord{Ref: ref, CreatedAt: timestamppb.New(created), FrontendAttrs: attrs}
	if failed != "running" {
		r.CompletedAt = timestamppb.New(created.Add(took))
	}
	if failed != "" && failed != "running" {
		r.Error = &rpcstatus.Status{Code: 2, Message: failed}
	}
	return r
}

func TestParseFiltersErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		wantErr string
	}{
		{name: "no operator", in: []string{"status"}, wantErr: `invalid filter "status": want KEY=VALUE`},
		{name: "no key", in: []string{"=error"}, wantErr: `invalid filter "=error"`},
		{name: "unknown key", in: []string{"color=red"}, wantErr: `unknown key "color"`},
		{name: "unknown status", in: []string{"status=failed"}, wantErr: "status is one of running, completed, error, canceled"},
		{name: "order on a value", in: []string{"ref>x"}, wantErr: "ref takes = or !="},
		{name: "equality on a time", in: []string{"duration=3s"}, wantErr: "duration takes <, <=, > or >="},
		{name: "bad duration", in: []string{"duration>soon"}, wantErr: `"soon" is not a duration`},
		{name: "bad time", in: []string{"startedAt<monday"}, wantErr: `"monday" is neither a time`},
		{name: "second one bad", in: []string{"status=error", "nope"}, wantErr: `invalid filter "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFilters(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseFilters(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestFiltersMatch(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ok := record("okref", now.Add(-time.Hour), 2*time.Second, "", map[string]string{"vcs:source": "https://github.com/a/b.git"})
	failed := record("failref", now.Add(-time.Minute), time.Minute, "process did not complete", map[string]string{"context": "https://github.com/c/d.git#main"})
	canceled := record("cancelref", now, time.Second, "context canceled", nil)
	running := record("runref", now, 0, "running", nil)
	all := []*controlapi.BuildHistoryRecord{ok, failed, canceled, running}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "none", want: []string{"okref", "failref", "cancelref", "runref"}},
		{name: "status", in: []string{"status=error"}, want: []string{"failref"}},
		{name: "status not", in: []string{"status!=completed"}, want: []string{"failref", "cancelref", "runref"}},
		{name: "canceled", in: []string{"status=canceled"}, want: []string{"cancelref"}},
		{name: "running", in: []string{"status=running"}, want: []string{"runref"}},
		{name: "ref anywhere", in: []string{"ref=ail"}, want: []string{"failref"}},
		{name: "repository from vcs", in: []string{"repository=github.com/a/"}, want: []string{"okref"}},
		{name: "repository from git context", in: []string{"repository=https://github.com/c/d.git"}, want: []string{"failref"}},
		{name: "long builds", in: []string{"duration>30s"}, want: []string{"failref"}},
		{name: "short builds", in: []string{"duration<=2s"}, want: []string{"okref", "cancelref", "runref"}},
		{name: "started recently", in: []string{"startedAt>10m"}, want: []string{"failref", "cancelref", "runref"}},
		{name: "started before a time", in: []string{"startedAt<" + now.Add(-30*time.Minute).UTC().Format(time.RFC3339)}, want: []string{"okref"}},
		{name: "all must match", in: []string{"status!=running", "startedAt>10m"}, want: []string{"failref", "cancelref"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFilters(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range all {
				if f.Match(r) {
					got = append(got, r.Ref)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseFilters(%q) matches %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFiltersRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "none", want: nil},
		{name: "status is exact", in: []string{"status=error"}, want: []string{"status==error"}},
		{name: "ref is a match", in: []string{"ref=abc"}, want: []string{"ref~=abc"}},
		{name: "not equal stays", in: []string{"status!=error"}, want: []string{"status!=error"}},
		{name: "one line for all", in: []string{"status=error", "duration>=1m"}, want: []string{"status==error,duration>=1m"}},
		{name: "commas are quoted", in: []string{"ref=a,b"}, want: []string{`"ref~=a,b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFilters(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.request(); !slices.Equal(got, tt.want) {
				t.Errorf("ParseFilters(%q).request() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr string
	}{
		{name: "newest", in: "", want: Ref{}},
		{name: "offset", in: "^2", want: Ref{Offset: 2}},
		{name: "id", in: "qu2gsuo8ejqrwdfii23xkkckt", want: Ref{ID: "qu2gsuo8ejqrwdfii23xkkckt"}},
		{name: "full", in: "b/b0/abc", want: Ref{Builder: "b", Node: "b0", ID: "abc"}},
		{name: "bad offset", in: "^x", wantErr: `invalid offset "^x"`},
		{name: "negative offset", in: "^-1", wantErr: `invalid offset "^-1"`},
		{name: "empty offset", in: "^", wantErr: `invalid offset "^"`},
		{name: "two parts", in: "b/abc", wantErr: `invalid build reference "b/abc"`},
		{name: "empty part", in: "b//abc", wantErr: `invalid build reference "b//abc"`},
		{name: "space", in: "a b", wantErr: `invalid build ID "a b"`},
		{name: "filter syntax", in: "b/b0/a,ref!=x", wantErr: `invalid build ID "a,ref!=x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRef(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRef(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
