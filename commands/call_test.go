package commands

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/solver/pb"

	"github.com/xbuild/xbuild/builder"
)

func lintAnswer(t *testing.T, warnings int, buildErr bool) map[string]string {
	t.Helper()
	res := lint.LintResults{Sources: []*pb.SourceInfo{{Filename: "Dockerfile", Data: []byte("FROM a as b\nFROM b\n")}}}
	loc := &pb.Location{SourceIndex: 0, Ranges: []*pb.Range{{Start: &pb.Position{Line: 1}, End: &pb.Position{Line: 1}}}}
	for range warnings {
		res.Warnings = append(res.Warnings, lint.Warning{RuleName: "FromAsCasing", Description: "casing", Detail: "'as' and 'FROM' keywords' casing do not match", Location: loc})
	}
	if buildErr {
		res.Error = &lint.BuildError{Message: "lint violation found for rules: FromAsCasing"}
		res.Error.Location.Ranges = loc.Ranges
	}
	dt, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	status := "0"
	if warnings > 0 || buildErr {
		status = "1"
	}
	return map[string]string{"result.json": string(dt), "result.statuscode": status, "version": "1.0.0"}
}

func TestPrintCallCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		call       string
		warnings   int
		buildErr   bool
		dockerfile string
		wantCode   int
		wantErr    string
		want       []string
	}{
		{name: "clean", call: "check", want: []string{"Check complete, no warnings found.\n"}},
		{name: "one", call: "check", warnings: 1, wantCode: 1, want: []string{"Check complete, 1 warning has been found!\n", "WARNING: FromAsCasing", "Dockerfile:1"}},
		{name: "two renamed", call: "check", warnings: 2, dockerfile: "sub/app.Dockerfile", wantCode: 1, want: []string{"2 warnings have been found!", "sub/app.Dockerfile:1"}},
		{name: "ignorestatus", call: "check,ignorestatus=true", warnings: 1, want: []string{"1 warning has been found!"}},
		{name: "json", call: "check,format=json", warnings: 1, wantCode: 1, want: []string{`"ruleName":"FromAsCasing"`}},
		{name: "error", call: "check", warnings: 1, buildErr: true, wantErr: "lint violation found for rules: FromAsCasing", want: []string{"WARNING: FromAsCasing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cf, err := builder.ParseCall(tc.call)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			code, err := printCall(&out, cf, lintAnswer(t, tc.warnings, tc.buildErr), tc.dockerfile)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Errorf("printCall() error = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil || code != tc.wantCode {
				t.Errorf("printCall() = %d, %v, want %d", code, err, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("printCall() printed %q, want it to hold %q", out.String(), w)
				}
			}
		})
	}
}

func TestDockerfileShown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		req  builder.Request
		want string
	}{
		{req: builder.Request{Context: "."}, want: "Dockerfile"},
		{req: builder.Request{Context: "ctx"}, want: "ctx/Dockerfile"},
		{req: builder.Request{Context: "ctx", Dockerfile: "/abs/app.Dockerfile"}, want: "/abs/app.Dockerfile"},
		{req: builder.Request{Context: "ctx", Dockerfile: "-"}},
		{req: builder.Request{Context: "-"}},
		{req: builder.Request{Context: "https://github.com/o/r.git"}},
	} {
		if got := dockerfileShown(&tc.req); got != tc.want {
			t.Errorf("dockerfileShown(%+v) = %q, want %q", tc.req, got, tc.want)
		}
	}
}
