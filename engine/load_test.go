package engine

import (
	"strings"
	"testing"
)

func TestReadLoadStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "loaded", in: `{"stream":"Loaded image: a:1\n"}`},
		{name: "error detail", in: `{"stream":"x"}{"errorDetail":{"message":"boom"},"error":"boom"}`, wantErr: "boom"},
		{name: "error only as text", in: `{"stream":"Error unpacking image a:1: no space\n"}{"stream":"Loaded image: a:1\n"}`, wantErr: "Error unpacking image a:1: no space"},
		{name: "truncated", in: `{"stream":"Loa`, wantErr: "reading engine load response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ReadLoadStream(strings.NewReader(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadLoadStream() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadLoadStream() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
