package exporter

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/engine"
)

type nopProgress struct{}

func (nopProgress) Step(string) Step   { return nopProgress{} }
func (nopProgress) Log(string, ...any) {}
func (nopProgress) Done(error)         {}

// startFilesShares starts a files join of out over two nodes and has each
// share's node write files, as BuildKit's exporter would into the share's
// staging place: a folder (type=local) or a tar (type=tar).
func startFilesShares(t *testing.T, out Output, files [2]map[string]string) *Join {
	t.Helper()
	ctx := context.Background()
	j, err := StartJoin(ctx, JoinOptions{Shares: 2, Files: &out})
	if err != nil {
		t.Fatal(err)
	}
	for i, node := range []string{"amd", "arm"} {
		ex, err := j.Share(ctx, Share{Index: i, Node: node}, PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e := ex.Entries[0]
		if e.Type != out.Type || e.Attrs["platform-split"] != out.Attrs["platform-split"] {
			t.Fatalf("share %d entry = %+v, want a %s export with the output's attributes", i, e, out.Type)
		}
		if out.Type == TypeLocal {
			writeTree(t, e.OutputDir, files[i])
		} else {
			w, err := e.Output(nil)
			if err != nil {
				t.Fatal(err)
			}
			writeTar(t, w, files[i])
		}
		if err := ex.Finish(ctx, map[string]string{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func writeTar(t *testing.T, w io.WriteCloser, files map[string]string) {
	t.Helper()
	tw := tar.NewWriter(w)
	for name, body := range files {
		dir := strings.SplitN(name, "/", 2)[0]
		if dir != name {
			_ = tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
}

func readTarFiles(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if hdr.Typeflag == tar.TypeReg {
			got = append(got, hdr.Name+"="+string(b))
		}
	}
}

var platformFiles = [2]map[string]string{{"linux_amd64/arch": "x86_64"}, {"linux_arm64/arch": "aarch64"}}

func TestJoinFolder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		attrs    map[string]string
		files    [2]map[string]string
		existing map[string]string
		want     []string
		wantErr  string
	}{
		{"a folder per platform", nil, platformFiles, map[string]string{"old": "kept"}, []string{"linux_amd64/arch=x86_64", "linux_arm64/arch=aarch64", "old=kept"}, ""},
		{"mode=delete", map[string]string{"mode": "delete"}, platformFiles, map[string]string{"old": "gone"}, []string{"linux_amd64/arch=x86_64", "linux_arm64/arch=aarch64"}, ""},
		{"platform-split=false", map[string]string{"platform-split": "false"}, [2]map[string]string{{"amd": "1"}, {"arm": "2"}}, nil, []string{"amd=1", "arm=2"}, ""},
		{"one file from two nodes", map[string]string{"platform-split": "false"}, [2]map[string]string{{"arch": "x86_64"}, {"arch": "aarch64"}},
			map[string]string{"old": "kept"}, []string{"old=kept"}, "arch is in the output of node amd and of node arm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "out")
			if tc.existing != nil {
				writeTree(t, dest, tc.existing)
			}
			out := Output{Type: TypeLocal, Dest: dest, Attrs: map[string]string{}}
			for k, v := range tc.attrs {
				out.Attrs[k] = v
			}
			j := startFilesShares(t, out, tc.files)
			jd, err := j.Finish(context.Background(), nil, nopProgress{})
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Finish() = %v, want an error with %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Finish() = %v", err)
			}
			if got := readTree(t, dest); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("dest holds %v, want %v", got, tc.want)
			}
			if jd != nil {
				if md, _ := jd.Metadata(); len(md) != 0 {
					t.Errorf("Metadata() = %v, want nothing for files", md)
				}
			}
			assertNoStaging(t, filepath.Dir(dest))
		})
	}
}

func TestJoinTar(t *testing.T) {
	t.Parallel()
	dest := filepath.Join(t.TempDir(), "sub", "out.tar")
	j := startFilesShares(t, Output{Type: TypeTar, Dest: dest, Attrs: map[string]string{}}, platformFiles)
	if _, err := j.Finish(context.Background(), nil, nopProgress{}); err != nil {
		t.Fatalf("Finish() = %v", err)
	}
	if got := readTarFiles(t, dest); strings.Join(got, " ") != "linux_amd64/arch=x86_64 linux_arm64/arch=aarch64" {
		t.Errorf("tar holds %v, want both platform folders", got)
	}
	assertNoStaging(t, filepath.Dir(dest))

	// Two nodes writing one file: no tar at all.
	dest = filepath.Join(t.TempDir(), "clash.tar")
	same := [2]map[string]string{{"arch": "x86_64"}, {"arch": "aarch64"}}
	j = startFilesShares(t, Output{Type: TypeTar, Dest: dest, Attrs: map[string]string{"platform-split": "false"}}, same)
	if _, err := j.Finish(context.Background(), nil, nopProgress{}); err == nil || !strings.Contains(err.Error(), "arch is in the output of node amd and of node arm") {
		t.Errorf("Finish(clash) = %v, want a refusal naming the file", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a failed join left %s (%v)", dest, err)
	}
	assertNoStaging(t, filepath.Dir(dest))
}

// A failed share leaves the destination as it was and nothing staged.
func TestJoinFilesFailedShare(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{TypeLocal, TypeTar} {
		dir := t.TempDir()
		dest := filepath.Join(dir, "out")
		writeTree(t, dest, map[string]string{"old": "kept"})
		if typ == TypeTar {
			dest = filepath.Join(dir, "out.tar")
			if err := os.WriteFile(dest, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		j := startFilesShares(t, Output{Type: typ, Dest: dest, Attrs: map[string]string{}}, platformFiles)
		failed := errors.New("node arm failed")
		if _, err := j.Finish(context.Background(), failed, nopProgress{}); !errors.Is(err, failed) {
			t.Errorf("%s: Finish(share error) = %v, want %v", typ, err, failed)
		}
		if typ == TypeTar {
			if b, _ := os.ReadFile(dest); string(b) != "previous" {
				t.Errorf("tar: a failed join changed %s to %q", dest, b)
			}
		} else if got := readTree(t, dest); strings.Join(got, " ") != "old=kept" {
			t.Errorf("local: a failed join left %v", got)
		}
		assertNoStaging(t, dir)
	}
}

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("staging %s left in %s", e.Name(), dir)
		}
	}
}

// recordingLoader is an engine's load endpoint that keeps what it got.
type recordingLoader struct {
	got bytes.Buffer
	err error
}

func (l *recordingLoader) Load(_ context.Context, _ engine.Endpoint, r io.Reader) error {
	if _, err := io.Copy(&l.got, r); err != nil {
		return err
	}
	return l.err
}

// Without the engine's containerd, a joined load goes to the engine's load
// endpoint as one OCI archive of the joined index, names included.
func TestJoinLoadThroughEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, loadErr := range []error{nil, errors.New("engine refused")} {
		loader := &recordingLoader{err: loadErr}
		load := Output{Type: TypeDocker, Attrs: map[string]string{}}
		j, err := StartJoin(ctx, JoinOptions{Shares: 2, Load: &load, Names: []string{"app:1"}, Loader: loader,
			Destination: Destination{Engine: engine.Endpoint{Host: "unix:///nowhere.sock"}}})
		if err != nil {
			t.Fatal(err)
		}
		for i, arch := range []string{"amd64", "arm64"} {
			ex, err := j.Share(ctx, Share{Index: i, Node: arch}, PrepareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 && (len(ex.Notes) != 1 || !strings.Contains(ex.Notes[0], "image load endpoint")) {
				t.Errorf("share 0 notes = %v, want the load endpoint named", ex.Notes)
			}
			desc := writeImage(t, ex.Entries[0].OutputStore, arch)
			if err := ex.Finish(ctx, descriptorResponse(t, desc), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		jd, err := j.Finish(ctx, nil, nopProgress{})
		if loadErr != nil {
			if err == nil || !strings.Contains(err.Error(), "engine refused") {
				t.Errorf("Finish(engine refuses) = %v, want its error", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Finish() = %v", err)
		}
		if len(jd.Names) != 1 || jd.Names[0] != "docker.io/library/app:1" {
			t.Errorf("joined names = %v", jd.Names)
		}
		files := map[string][]byte{}
		tr := tar.NewReader(&loader.got)
		for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
			files[hdr.Name], _ = io.ReadAll(tr)
		}
		var top ocispecs.Index
		if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 || top.Manifests[0].Digest != jd.Index.Digest ||
			top.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/app:1" {
			t.Fatalf("the engine got index.json %s (%v), want the joined index %s named app:1", files["index.json"], err, jd.Index.Digest)
		}
		var idx ocispecs.Index
		_ = json.Unmarshal(files["blobs/sha256/"+jd.Index.Digest.Encoded()], &idx)
		if len(idx.Manifests) != 2 {
			t.Errorf("the joined index lists %d manifests, want 2", len(idx.Manifests))
		}
	}
}

// writeImage writes a one-layer image for arch into st, as a node's OCI
// export would, and returns its manifest's descriptor.
func writeImage(t *testing.T, st content.Store, arch string) ocispecs.Descriptor {
	t.Helper()
	put := func(mediaType string, v any) ocispecs.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d := ocispecs.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(context.Background(), st, d.Digest.String(), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer := put(ocispecs.MediaTypeImageLayer, arch)
	cfg := put(ocispecs.MediaTypeImageConfig, ocispecs.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: arch},
		RootFS: ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}}})
	m := ocispecs.Manifest{MediaType: ocispecs.MediaTypeImageManifest, Config: cfg, Layers: []ocispecs.Descriptor{layer}}
	m.SchemaVersion = 2
	return put(ocispecs.MediaTypeImageManifest, m)
}
