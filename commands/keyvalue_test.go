package commands

import (
	"slices"
	"strings"
	"testing"

	"github.com/xbuild/xbuild/builder"
)

func TestCheckPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		bare    bool
		want    []string
		wantErr string
	}{
		{name: "pairs", in: []string{"A=1", "B="}, want: []string{"A=1", "B="}},
		{name: "bare kept", in: []string{"A"}, want: []string{"A"}},
		{name: "bare gets empty value", in: []string{"A"}, bare: true, want: []string{"A="}},
		{name: "empty key", in: []string{"=TEST_STRING"}, wantErr: `invalid key-value pair "=TEST_STRING": empty key`},
		{name: "empty value", in: []string{""}, bare: true, wantErr: `invalid key-value pair "": empty key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := checkPairs(tt.in, tt.bare)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("checkPairs(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("checkPairs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestGitInfoSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    builder.GitInfo
		wantErr string
	}{
		{name: "unset", want: builder.GitInfo{}},
		{name: "info off", in: map[string]string{"BUILDX_GIT_INFO": "0"}, want: builder.GitInfo{Off: true}},
		{name: "labels", in: map[string]string{"BUILDX_GIT_LABELS": "1"}, want: builder.GitInfo{Labels: true}},
		{name: "labels full", in: map[string]string{"BUILDX_GIT_LABELS": "full"}, want: builder.GitInfo{Labels: true}},
		{name: "xbuild name wins", in: map[string]string{"XBUILD_GIT_LABELS": "false", "BUILDX_GIT_LABELS": "full"}, want: builder.GitInfo{}},
		{name: "dirty", in: map[string]string{"BUILDX_GIT_CHECK_DIRTY": "true"}, want: builder.GitInfo{CheckDirty: true}},
		{name: "bad labels", in: map[string]string{"BUILDX_GIT_LABELS": "yes"}, wantErr: "BUILDX_GIT_LABELS=yes is not valid: use full, or true or false"},
		{name: "bad info", in: map[string]string{"BUILDX_GIT_INFO": "off"}, wantErr: "BUILDX_GIT_INFO=off is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := gitInfo(getenvOf(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("gitInfo(%v) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("gitInfo(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}
