package bake

import (
	"testing"

	"github.com/xbuild/xbuild/builder"
)

func TestParseJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    builder.Execution
		wantErr bool
	}{
		{name: "empty", in: "", want: builder.Execution{Mode: builder.ExecutionFailFast}},
		{name: "default", in: "fail-fast", want: builder.Execution{Mode: builder.ExecutionFailFast}},
		{name: "number", in: "2", want: builder.Execution{Mode: builder.ExecutionFailFast, Parallel: 2}},
		{name: "zero", in: "0", want: builder.Execution{Mode: builder.ExecutionFailFast}},
		{name: "parallel", in: "parallel=1", want: builder.Execution{Mode: builder.ExecutionFailFast, Parallel: 1}},
		{name: "mode and limit", in: "defer-error,parallel=2", want: builder.Execution{Mode: builder.ExecutionDeferError, Parallel: 2}},
		{name: "mode key", in: "mode=defer-output", want: builder.Execution{Mode: builder.ExecutionDeferOutput}},
		{name: "spaces and case", in: " Parallel = 3 , defer-error ", want: builder.Execution{Mode: builder.ExecutionDeferError, Parallel: 3}},
		{name: "negative", in: "-1", wantErr: true},
		{name: "bad limit", in: "parallel=x", wantErr: true},
		{name: "bad mode", in: "later", wantErr: true},
		{name: "twice", in: "parallel=1,parallel=2", wantErr: true},
		{name: "two modes", in: "fail-fast,defer-error", wantErr: true},
		{name: "unknown key", in: "speed=fast", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseJobs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseJobs(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("ParseJobs(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
