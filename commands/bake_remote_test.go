package commands

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBakeArgs(t *testing.T) {
	t.Parallel()
	const git = "https://example.com/repo.git#main"
	tests := []struct {
		name            string
		in              []string
		url, cmdContext string
		targets         []string
	}{
		{name: "targets only", in: []string{"a", "b"}, targets: []string{"a", "b"}},
		{name: "none", in: nil},
		{name: "remote", in: []string{git, "a"}, url: git, targets: []string{"a"}},
		{name: "remote and context", in: []string{git, "https://example.com/ctx.git", "a"}, url: git, cmdContext: "https://example.com/ctx.git", targets: []string{"a"}},
		{name: "remote alone", in: []string{git}, url: git, targets: []string{}},
		{name: "url later is a target", in: []string{"a", git}, targets: []string{"a", git}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, cmdContext, targets := bakeArgs(tt.in)
			if url != tt.url || cmdContext != tt.cmdContext || !slices.Equal(targets, tt.targets) {
				t.Errorf("bakeArgs(%q) = %q, %q, %q, want %q, %q, %q", tt.in, url, cmdContext, targets, tt.url, tt.cmdContext, tt.targets)
			}
		})
	}
}

func TestBakeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		flags   []string
		env     map[string]string
		want    []string
		wantErr bool
	}{
		{name: "flags win", flags: []string{"x.hcl"}, env: map[string]string{"BUILDX_BAKE_FILE": a}, want: []string{"x.hcl"}},
		{name: "unset", want: nil},
		{name: "list", env: map[string]string{"BUILDX_BAKE_FILE": a + string(os.PathListSeparator) + " " + b + string(os.PathListSeparator)}, want: []string{a, b}},
		{name: "separator", env: map[string]string{"BUILDX_BAKE_FILE": a + ";" + b, "BUILDX_BAKE_PATH_SEPARATOR": ";"}, want: []string{a, b}},
		{name: "stdin and cwd", env: map[string]string{"BUILDX_BAKE_FILE": "-,cwd://" + a, "BUILDX_BAKE_PATH_SEPARATOR": ","}, want: []string{"-", "cwd://" + a}},
		{name: "missing", env: map[string]string{"BUILDX_BAKE_FILE": filepath.Join(dir, "nope.hcl")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := bakeFiles(tt.flags, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("bakeFiles(%q) error = %v, wantErr %v", tt.flags, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("bakeFiles(%q) = %q, want %q", tt.flags, got, tt.want)
			}
		})
	}
}
