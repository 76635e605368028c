package invariant

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/plugins/content/local"
	cerrdefs "github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage writes an index of one manifest (a configuration, one layer)
// into a fresh store and returns the store's folder, the store and the
// descriptors by role.
func testImage(t *testing.T) (string, content.Store, map[string]ocispecs.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	cs, err := local.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, data []byte) ocispecs.Descriptor {
		desc := ocispecs.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if err := content.WriteBlob(context.Background(), cs, desc.Digest.String(), bytes.NewReader(data), desc); err != nil {
			t.Fatal(err)
		}
		return desc
	}
	marshal := func(v any) []byte {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	d := map[string]ocispecs.Descriptor{
		"config": put(ocispecs.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`)),
		"layer":  put(ocispecs.MediaTypeImageLayerGzip, bytes.Repeat([]byte("layer"), 1000)),
	}
	d["manifest"] = put(ocispecs.MediaTypeImageManifest, marshal(ocispecs.Manifest{
		MediaType: ocispecs.MediaTypeImageManifest, Config: d["config"], Layers: []ocispecs.Descriptor{d["layer"]},
	}))
	d["index"] = put(ocispecs.MediaTypeImageIndex, marshal(ocispecs.Index{
		MediaType: ocispecs.MediaTypeImageIndex, Manifests: []ocispecs.Descriptor{d["manifest"], d["manifest"]},
	}))
	return dir, cs, d
}

func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, d map[string]ocispecs.Descriptor)
		want   []string
	}{
		{name: "complete", damage: func(*testing.T, string, map[string]ocispecs.Descriptor) {}},
		{name: "missing layer", damage: func(t *testing.T, dir string, d map[string]ocispecs.Descriptor) {
			if err := os.Remove(blobPath(dir, d["layer"].Digest)); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"layer", "missing"}},
		{name: "layer of another content", damage: func(t *testing.T, dir string, d map[string]ocispecs.Descriptor) {
			if err := os.WriteFile(blobPath(dir, d["layer"].Digest), bytes.Repeat([]byte("LAYER"), 1000), 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"layer", "does not match its digest"}},
		{name: "truncated config", damage: func(t *testing.T, dir string, d map[string]ocispecs.Descriptor) {
			if err := os.Truncate(blobPath(dir, d["config"].Digest), 3); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"config", "size 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, cs, d := testImage(t)
			tt.damage(t, dir, d)
			got := Complete(context.Background(), cs, "example/app:1", d["index"])
			if len(tt.want) == 0 {
				if len(got) != 0 {
					t.Errorf("Complete() = %v, want none", got)
				}
				return
			}
			// The shared manifest is walked once, so one violation.
			if len(got) != 1 || got[0].Invariant != ImagesComplete {
				t.Fatalf("Complete() = %v, want one %s violation", got, ImagesComplete)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0].Detail, w) {
					t.Errorf("Complete() = %q, want it to say %q", got[0].Detail, w)
				}
			}
		})
	}
}

// fakeImages is a name -> target map standing for containerd's store.
type fakeImages map[string]ocispecs.Descriptor

func (f fakeImages) Get(_ context.Context, name string) (images.Image, error) {
	d, ok := f[name]
	if !ok {
		return images.Image{}, cerrdefs.ErrNotFound
	}
	return images.Image{Name: name, Target: d}, nil
}

func (f fakeImages) List(context.Context, ...string) ([]images.Image, error) {
	var out []images.Image
	for n, d := range f {
		out = append(out, images.Image{Name: n, Target: d})
	}
	return out, nil
}

func TestTag(t *testing.T) {
	t.Parallel()
	_, cs, d := testImage(t)
	broken := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4}
	st := fakeImages{"old": d["index"], "moved": d["manifest"], "partial": broken}
	tests := []struct {
		name string
		old  digest.Digest
		want []string
	}{
		{name: "old", old: d["index"].Digest},
		{name: "moved", old: d["index"].Digest},
		{name: "absent"},
		{name: "absent", old: d["index"].Digest, want: []string{TagOldOrNew}},
		{name: "partial", old: d["index"].Digest, want: []string{TagOldOrNew}},
	}
	for _, tt := range tests {
		_, got := Tag(context.Background(), st, cs, tt.name, tt.old)
		var kinds []string
		for _, v := range got {
			kinds = append(kinds, v.Invariant)
		}
		if !slices.Equal(kinds, tt.want) {
			t.Errorf("Tag(%s, old %s) = %v, want %v", tt.name, tt.old, got, tt.want)
		}
	}
	if got := Store(context.Background(), st, cs); len(got) != 1 || !strings.Contains(got[0].Detail, "partial") {
		t.Errorf("Store() = %v, want the partial image only", got)
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	const marker = "xbuild-marker-0123456789"
	b64 := func(prefix string) []byte {
		return []byte(base64.StdEncoding.EncodeToString([]byte(prefix + marker + "tail")))
	}
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{name: "absent", in: []byte("#5 RUN echo hello\n#5 DONE 0.1s\n")},
		{name: "plain", in: []byte("token=" + marker), want: true},
		{name: "base64 aligned", in: b64(""), want: true},
		{name: "base64 one byte in", in: b64("a"), want: true},
		{name: "base64 two bytes in", in: b64("ab"), want: true},
		{name: "base64 URL alphabet", in: []byte(base64.URLEncoding.EncodeToString([]byte("??>" + marker))), want: true},
		{name: "part of it", in: []byte(marker[:10])},
	}
	for _, tt := range tests {
		got := Secret(marker, map[string][]byte{tt.name: tt.in})
		if (len(got) > 0) != tt.want {
			t.Errorf("Secret(%s) = %v, want found=%v", tt.name, got, tt.want)
		}
	}
}

func TestCheckState(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		change  func(t *testing.T, dir string)
		damaged []string
		want    string
	}{
		{name: "unchanged", change: func(*testing.T, string) {}},
		{name: "rewritten whole", change: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "instances", "a"), `{"Name":"a","Nodes":[]}`)
		}},
		{name: "truncated", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "instances", "a"), `{"Name":`) }, want: "not a whole JSON document"},
		{name: "truncated on purpose", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "instances", "a"), `{"Name":`) }, damaged: []string{"instances/a"}},
		{name: "emptied", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "activity", "a"), "") }, want: "is empty"},
		{name: "temporary file left", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "instances", ".a.tmp-123"), "{") }, want: "never finished"},
		{name: "lock held", change: func(t *testing.T, dir string) {
			f, err := os.Open(filepath.Join(dir, ".lock"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
		}, want: "is held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, ".lock"), "")
			write(t, filepath.Join(dir, "instances", "a"), `{"Name":"a"}`)
			write(t, filepath.Join(dir, "activity", "a"), "2026-01-01T00:00:00Z")
			before, err := Snapshot(dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, dir)
			got := CheckState(dir, before, tt.damaged...)
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("CheckState() = %v, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0].Detail, tt.want)):
				t.Errorf("CheckState() = %v, want one saying %q", got, tt.want)
			}
		})
	}
}

func TestRunning(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "987650123")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if got := Running("987650123"); !slices.Contains(got, cmd.Process.Pid) {
		t.Errorf("Running(987650123) = %v, want %d among them", got, cmd.Process.Pid)
	}
	if got := Running("98765012"); slices.Contains(got, cmd.Process.Pid) {
		t.Errorf("Running(98765012) = %v: a part of a word matched", got)
	}
}
