package bake

import (
	"context"
	"os"
	"testing"
)

// Not parallel: the definition is read from the working folder.
func TestJobsCarryTheCall(t *testing.T) {
	inFolder(t, `target "check" {
  call = "check"
  output = ["type=local,dest=out"]
  tags = ["app"]
}
target "outline" { call = "outline,format=json" }
target "build" { call = "build" }
`)
	for _, tc := range []struct {
		target, name, format string
	}{
		{target: "check", name: "lint"},
		{target: "outline", name: "outline", format: "json"},
		{target: "build"},
	} {
		def, err := Load(context.Background(), LoadOptions{Targets: []string{tc.target}})
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := def.Jobs(os.Getenv)
		if err != nil {
			t.Fatalf("Jobs(%s): %v", tc.target, err)
		}
		req := jobs[0].Req
		switch {
		case tc.name == "" && req.Call != nil:
			t.Errorf("Jobs(%s) call = %+v, want none", tc.target, req.Call)
		case tc.name != "" && (req.Call == nil || req.Call.Name != tc.name || req.Call.Format != tc.format):
			t.Errorf("Jobs(%s) call = %+v, want %s format %q", tc.target, req.Call, tc.name, tc.format)
		case tc.name != "" && (req.Outputs != nil || req.Attests != nil):
			t.Errorf("Jobs(%s) kept outputs %v and attestations %v for a call", tc.target, req.Outputs, req.Attests)
		}
	}
}
