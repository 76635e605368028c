package builder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker/buildx/localstate"
)

func TestSaveLocalState(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  Request
		want *localstate.State // nil: no file
	}{
		{name: "local", req: Request{Context: "ctx", Dockerfile: "ctx/build.Dockerfile"},
			want: &localstate.State{Target: "t", LocalPath: filepath.Join(wd, "ctx"), DockerfilePath: filepath.Join(wd, "ctx/build.Dockerfile")}},
		{name: "default Dockerfile", req: Request{Context: "/abs/ctx"},
			want: &localstate.State{Target: "t", LocalPath: "/abs/ctx"}},
		{name: "remote", req: Request{Context: "https://example.com/r.git", Dockerfile: "sub/Dockerfile"},
			want: &localstate.State{Target: "t", LocalPath: "https://example.com/r.git", DockerfilePath: "sub/Dockerfile"}},
		{name: "stdin", req: Request{Context: "-", Dockerfile: "-"},
			want: &localstate.State{Target: "t", LocalPath: "-", DockerfilePath: "-"}},
		{name: "nothing", req: Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := saveLocalState(dir, nil, "b", "b0", "ref1", "t", &tt.req); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, "refs", "b", "b0", "ref1"))
			if tt.want == nil {
				if err == nil {
					t.Errorf("saveLocalState(%+v) wrote %s, want nothing", tt.req, data)
				}
				return
			}
			var got localstate.State
			if err != nil || json.Unmarshal(data, &got) != nil || got != *tt.want {
				t.Errorf("saveLocalState(%+v) wrote %s, %v; want %+v", tt.req, data, err, *tt.want)
			}
		})
	}
}

func TestLocalGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := NewLocalGroup([]string{"default"})
	for _, ref := range []string{"r1", "r2"} {
		if err := saveLocalState(dir, g, "b", "b0", ref, ref, &Request{Context: "/ctx"}); err != nil {
			t.Fatal(err)
		}
	}
	var st localstate.State
	data, _ := os.ReadFile(filepath.Join(dir, "refs", "b", "b0", "r2"))
	if err := json.Unmarshal(data, &st); err != nil || st.GroupRef != g.ref {
		t.Errorf("ref r2 = %s, %v; want group %s", data, err, g.ref)
	}
	var grp localstate.StateGroup
	data, _ = os.ReadFile(filepath.Join(dir, "refs", "__group__", g.ref))
	if err := json.Unmarshal(data, &grp); err != nil || !slices.Equal(grp.Refs, []string{"r1", "r2"}) || !slices.Equal(grp.Targets, []string{"default"}) {
		t.Errorf("group = %s, %v; want refs r1, r2 of target default", data, err)
	}
}
