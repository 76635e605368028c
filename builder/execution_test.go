package builder

import (
	"errors"
	"strings"
	"testing"
)

func TestExecutionCheck(t *testing.T) {
	t.Parallel()
	plain := []*Job{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	linked := []*Job{{Name: "a", ContextTargets: map[string]string{"base": "b"}}, {Name: "b"}, {Name: "c"}}
	tests := []struct {
		name    string
		in      Execution
		jobs    []*Job
		wantErr bool
	}{
		{name: "zero", in: Execution{}, jobs: linked},
		{name: "limit", in: Execution{Parallel: 1}, jobs: plain},
		{name: "limit with links", in: Execution{Parallel: 2}, jobs: linked, wantErr: true},
		{name: "limit covering links", in: Execution{Parallel: 3}, jobs: linked},
		{name: "defer-error", in: Execution{Mode: ExecutionDeferError, Parallel: 1}, jobs: plain},
		{name: "defer-output", in: Execution{Mode: ExecutionDeferOutput}, jobs: plain},
		{name: "defer-output covering targets", in: Execution{Mode: ExecutionDeferOutput, Parallel: 3}, jobs: plain},
		{name: "defer-output limit", in: Execution{Mode: ExecutionDeferOutput, Parallel: 2}, jobs: plain, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.in.check(tt.jobs); (err != nil) != tt.wantErr {
				t.Errorf("%+v.check() = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestTargetErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("exit code 1")
	errs := TargetErrors{{Target: "a", Err: cause}, {Target: "c", Err: errors.New("boom")}}
	got := errs.Error()
	for _, want := range []string{"2 targets failed", "target a: exit code 1", "target c: boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("TargetErrors.Error() = %q, want it to contain %q", got, want)
		}
	}
	var te *TargetError
	if !errors.As(error(errs), &te) || te.Target != "a" || !errors.Is(errs, cause) {
		t.Errorf("TargetErrors does not unwrap to its targets' errors")
	}
	if got := errs[:1].Error(); got != "target a: exit code 1" {
		t.Errorf("one TargetErrors.Error() = %q, want the target's error alone", got)
	}
}
