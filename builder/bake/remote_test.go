package bake

import (
	"slices"
	"testing"
)

func TestSplitFiles(t *testing.T) {
	t.Parallel()
	local, remote := splitFiles([]string{"docker-bake.hcl", "cwd://local.hcl", "sub/x.hcl", "cwd://-"})
	if !slices.Equal(local, []string{"local.hcl", "-"}) || !slices.Equal(remote, []string{"docker-bake.hcl", "sub/x.hcl"}) {
		t.Errorf("splitFiles() = %q, %q", local, remote)
	}
}

func TestIsGitURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"https://example.com/repo.git#main:sub", true},
		{"git@example.com:org/repo.git", true},
		{"https://example.com/definition.tar.gz", false},
		{"docker-bake.hcl", false},
	}
	for _, tt := range tests {
		if got := isGitURL(tt.in); got != tt.want {
			t.Errorf("isGitURL(%q) = %t, want %t", tt.in, got, tt.want)
		}
	}
}
