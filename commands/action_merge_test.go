package commands

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

var (
	hexA = strings.Repeat("a", 64)
	hexB = strings.Repeat("b", 64)
)

func TestActionModeMergeAndDigest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   map[string]string
		want actionMode
	}{
		{name: "merge merges", in: map[string]string{"merge": "sha256:" + hexA, "tags": "a/b:1"}, want: modeMerge},
		{name: "merge-dir merges", in: map[string]string{"merge-dir": "/tmp/d", "tags": "a/b:1"}, want: modeMerge},
		{name: "push-by-digest builds", in: map[string]string{"push-by-digest": "true"}, want: modeBuild},
		{name: "digest-dir builds", in: map[string]string{"digest-dir": "/tmp/d"}, want: modeBuild},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (actionInputs{env: inputEnv(tt.in)}).mode(); got != tt.want {
				t.Errorf("mode(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadMergeRequest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{hexA, filepath.Join("digests-arm64", hexB)} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{"use": "true", "cleanup": "true", "keep-state": "false"}
	tests := []struct {
		name    string
		in      map[string]string
		want    []string
		wantErr string
	}{
		{name: "digests from the folder, in the first tag's repository", in: map[string]string{"merge-dir": dir, "tags": "r.io/app:1\nr.io/app:latest"},
			want: []string{"r.io/app@sha256:" + hexA, "r.io/app@sha256:" + hexB}},
		{name: "digests, hex and names, once each", in: map[string]string{"tags": "r.io/app:1",
			"merge": "sha256:" + hexA + ", " + hexA + "\nother.io/app@sha256:" + hexB}, want: []string{"r.io/app@sha256:" + hexA, "other.io/app@sha256:" + hexB}},
		{name: "a tag without a tag is latest", in: map[string]string{"tags": "app", "merge": hexA}, want: []string{"docker.io/library/app@sha256:" + hexA}},
		{name: "no tags", in: map[string]string{"merge": hexA}, wantErr: "a merge step needs tags"},
		{name: "no digests", in: map[string]string{"merge": " ", "merge-dir": "", "tags": "a"}, wantErr: "no digests to merge"},
		{name: "empty folder", in: map[string]string{"merge-dir": t.TempDir(), "tags": "a"}, wantErr: "holds no digest files"},
		{name: "missing folder", in: map[string]string{"merge-dir": filepath.Join(dir, "nope"), "tags": "a"}, wantErr: "nope is not a folder"},
		{name: "a stranger in the folder", in: map[string]string{"merge-dir": bad, "tags": "a"}, wantErr: "notes.txt is not named after a digest's hex"},
		{name: "bad digest", in: map[string]string{"merge": "sha256:abc", "tags": "a"}, wantErr: `input merge: invalid digest "sha256:abc"`},
		{name: "build input", in: map[string]string{"merge": hexA, "tags": "a", "platforms": "linux/amd64"}, wantErr: "input platforms does not apply to a merge step"},
		{name: "setup input", in: map[string]string{"merge": hexA, "tags": "a", "driver": "remote"}, wantErr: "input driver does not apply to a merge step"},
		{name: "push false", in: map[string]string{"merge": hexA, "tags": "a", "push": "false"}, wantErr: `input push "false": a merge step always pushes`},
		{name: "push true", in: map[string]string{"merge": hexA, "tags": "a", "push": "true"}, want: []string{"docker.io/library/a@sha256:" + hexA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]string{}
			for k, v := range defaults {
				in[k] = v
			}
			for k, v := range tt.in {
				in[k] = v
			}
			req, err := readMergeRequest(actionInputs{env: inputEnv(in)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("readMergeRequest(%v) = %v, want one line with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readMergeRequest(%v): %v", tt.in, err)
			}
			if !reflect.DeepEqual(req.sources, tt.want) {
				t.Errorf("readMergeRequest(%v) sources = %v, want %v", tt.in, req.sources, tt.want)
			}
		})
	}
}

func TestApplyDigestInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		o       buildOptions
		want    []string
		wantErr string
	}{
		{name: "push by digest", in: map[string]string{"push-by-digest": "true"}, o: buildOptions{tags: []string{"r.io/app"}, push: true, load: "false"},
			want: []string{pushByDigestOutput + ",name=r.io/app"}},
		{name: "to the tags' repositories", in: map[string]string{"push-by-digest": "true"}, o: buildOptions{tags: []string{"r.io/app:1", "r.io/app:2", "app"}},
			want: []string{pushByDigestOutput + `,"name=r.io/app,docker.io/library/app"`}},
		{name: "a bad tag", in: map[string]string{"push-by-digest": "true"}, o: buildOptions{tags: []string{"R.io/App"}}, wantErr: `invalid tag "R.io/App"`},
		{name: "off", in: map[string]string{"push-by-digest": "false"}, o: buildOptions{tags: []string{"r.io/app"}, push: true}},
		{name: "digest-dir with push", in: map[string]string{"digest-dir": "/d"}, o: buildOptions{tags: []string{"r.io/app"}, push: true}},
		{name: "digest-dir without a push", in: map[string]string{"digest-dir": "/d"}, wantErr: "input digest-dir writes the digest of the pushed image"},
		{name: "no tags", in: map[string]string{"push-by-digest": "true"}, wantErr: "input push-by-digest needs tags"},
		{name: "and outputs", in: map[string]string{"push-by-digest": "true"}, o: buildOptions{tags: []string{"a"}, outputs: []string{"type=local,dest=x"}},
			wantErr: "inputs push-by-digest and outputs both given"},
		{name: "and load", in: map[string]string{"push-by-digest": "true"}, o: buildOptions{tags: []string{"a"}, load: "true"},
			wantErr: "inputs push-by-digest and load both given"},
		{name: "not a boolean", in: map[string]string{"push-by-digest": "yes"}, wantErr: `input push-by-digest: "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.o
			err := actionInputs{env: inputEnv(tt.in)}.applyDigestInputs(&o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("applyDigestInputs(%v) = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("applyDigestInputs(%v): %v", tt.in, err)
			}
			if !reflect.DeepEqual(o.outputs, tt.want) || (tt.want != nil && o.push) {
				t.Errorf("applyDigestInputs(%v): outputs %v push %t, want outputs %v", tt.in, o.outputs, o.push, tt.want)
			}
			if outs, err := exporter.Parse(o.outputs); err != nil || (tt.want != nil && outs[0].Attrs["name"] != strings.Join(repositoriesOf(o.tags), ",")) {
				t.Errorf("exporter.Parse(%v) = %+v, %v", o.outputs, outs, err)
			}
		})
	}
}

func TestCheckDigestInputs(t *testing.T) {
	t.Parallel()
	in := actionInputs{env: inputEnv(map[string]string{"targets": "app", "push-by-digest": "true"})}
	if err := checkDigestInputs(in, modeBake); err == nil || !strings.Contains(err.Error(), "input push-by-digest is for a build step, not bake") {
		t.Errorf("checkDigestInputs(bake) = %v", err)
	}
	if err := checkDigestInputs(in, modeBuild); err != nil {
		t.Errorf("checkDigestInputs(build) = %v", err)
	}
}

func TestWriteDigestFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "digests")
	d := digest.Digest("sha256:" + hexA)
	if err := writeDigestFile(dir, &builder.Result{Metadata: map[string]any{exporter.KeyDigest: d.String()}}); err != nil {
		t.Fatal(err)
	}
	got, err := digestFiles(dir)
	if err != nil || !reflect.DeepEqual(got, []string{hexA}) {
		t.Errorf("digestFiles after writeDigestFile = %v, %v", got, err)
	}
	if err := writeDigestFile(dir, &builder.Result{Metadata: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "no pushed digest") {
		t.Errorf("writeDigestFile without a digest = %v", err)
	}
	if err := writeDigestFile("", nil); err != nil {
		t.Errorf("writeDigestFile without a folder = %v", err)
	}
}

func repositoriesOf(tags []string) []string {
	repos, _ := tagRepositories(tags)
	return repos
}
