package commands

import (
	"bytes"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/xbuild/xbuild/builder/history"
)

var historyTestNow = time.Date(2025, 4, 15, 12, 0, 0, 0, time.UTC)

// historyTestRecords are a running, a failed and a completed build, in no
// particular order.
func historyTestRecords() []*history.Record {
	node := &history.Node{Name: "b0"}
	mk := func(ref, name string, ago, took time.Duration, state string) *history.Record {
		r := &controlapi.BuildHistoryRecord{
			Ref: ref, CreatedAt: timestamppb.New(historyTestNow.Add(-ago)),
			FrontendAttrs: map[string]string{"build-arg:BUILDKIT_BUILD_NAME": name},
			NumTotalSteps: 4, NumCompletedSteps: 4, NumCachedSteps: 1,
		}
		if state != "running" {
			r.CompletedAt = timestamppb.New(historyTestNow.Add(-ago + took))
		}
		if state == "failed" {
			r.Error = &rpcstatus.Status{Code: 2, Message: "exit code: 3"}
		}
		now := historyTestNow
		return &history.Record{BuildHistoryRecord: r, Builder: "b", Node: node, Now: &now}
	}
	return []*history.Record{
		mk("okref", "app", 3*24*time.Hour, 1400*time.Millisecond, ""),
		mk("failref", "a-very-long-build-name-that-does-not-fit-the-column", 2*time.Hour, 125*time.Second, "failed"),
		mk("runref", "live", 20*time.Second, 0, "running"),
	}
}

func TestHistoryLsPrint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  string
		noTrunc bool
		want    string
	}{
		{
			name:   "table",
			format: "table",
			want: "BUILD ID   NAME                                   STATUS      CREATED AT       DURATION   \n" +
				"runref     live                                   Running     20 seconds ago   20.0s+     \n" +
				"failref    ..-name-that-does-not-fit-the-column   Error       2 hours ago      2m  5s     \n" +
				"okref      app                                    Completed   3 days ago       1.4s       \n",
		},
		{
			name:    "no-trunc",
			format:  "table {{.Ref}}\t{{.Name}}",
			noTrunc: true,
			want: "BUILD ID   NAME\n" +
				"runref     live\n" +
				"failref    a-very-long-build-name-that-does-not-fit-the-column\n" +
				"okref      app\n",
		},
		{
			name:   "template",
			format: `{{.Name}} - {{.Duration}} {{.FullRef}}`,
			want: "live - 20.0s+ b/b0/runref\n" +
				"a-very-long-build-name-that-does-not-fit-the-column - 2m  5s b/b0/failref\n" +
				"app - 1.4s b/b0/okref\n",
		},
		{
			name:   "link outside a table",
			format: `{{.Link}}`,
			want: "docker-desktop://dashboard/build/b/b0/runref\n" +
				"docker-desktop://dashboard/build/b/b0/failref\n" +
				"docker-desktop://dashboard/build/b/b0/okref\n",
		},
		{
			name:   "json",
			format: "json",
			want: `{"cached_steps":1,"completed_steps":4,"created_at":"2025-04-15T11:59:40Z","name":"live","ref":"b/b0/runref","status":"Running","total_steps":4}` + "\n" +
				`{"cached_steps":1,"completed_at":"2025-04-15T10:02:05Z","completed_steps":4,"created_at":"2025-04-15T10:00:00Z","name":"a-very-long-build-name-that-does-not-fit-the-column","ref":"b/b0/failref","status":"Error","total_steps":4}` + "\n" +
				`{"cached_steps":1,"completed_at":"2025-04-12T12:00:01.4Z","completed_steps":4,"created_at":"2025-04-12T12:00:00Z","name":"app","ref":"b/b0/okref","status":"Completed","total_steps":4}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lf, err := parseHistoryLsFormat(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			lf.trunc, lf.now = !tt.noTrunc, historyTestNow
			var out bytes.Buffer
			if err := lf.print(&out, historyTestRecords()); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("print(%q) =\n%s\nwant\n%s", tt.format, out.String(), tt.want)
			}
		})
	}
}

func TestParseHistoryLsFormatErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "unclosed action", in: "{{.Ref", wantErr: `invalid --format "{{.Ref"`},
		{name: "unknown function", in: "table {{nope .Ref}}", wantErr: `function "nope" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseHistoryLsFormat(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseHistoryLsFormat(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestHistoryDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{in: 0, want: "0.0s"},
		{in: 1400 * time.Millisecond, want: "1.4s"},
		{in: 59900 * time.Millisecond, want: "59.9s"},
		{in: 61 * time.Second, want: "1m  1s"},
		{in: 125 * time.Second, want: "2m  5s"},
		{in: 75 * time.Minute, want: "75m  0s"},
	}
	for _, tt := range tests {
		if got := historyDuration(tt.in); got != tt.want {
			t.Errorf("historyDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
