package history

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/buildx/util/desktop/bundle"
	controlapi "github.com/moby/buildkit/api/services/control"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// layout is an OCI layout being assembled for a test, by file name.
type layout map[string][]byte

func (l layout) blob(t *testing.T, mediaType string, v any) ocispecs.Descriptor {
	t.Helper()
	dt, ok := v.([]byte)
	if !ok {
		var err error
		if dt, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	d := ocispecs.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(dt), Size: int64(len(dt))}
	l[blobPath(d.Digest)] = dt
	return d
}

// recordManifest adds a record with one log layer and returns its manifest.
func (l layout) recordManifest(t *testing.T, ref string) ocispecs.Descriptor {
	t.Helper()
	cfg := l.blob(t, bundle.HistoryRecordMediaTypeV0, &bundle.Record{BuildHistoryRecord: &controlapi.BuildHistoryRecord{Ref: ref}})
	logs := l.blob(t, "application/vnd.buildkit.status.v0", []byte("logs of "+ref))
	return l.blob(t, ocispecs.MediaTypeImageManifest, ocispecs.Manifest{Config: cfg, Layers: []ocispecs.Descriptor{logs}})
}

func (l layout) index(t *testing.T, ds ...ocispecs.Descriptor) {
	t.Helper()
	dt, err := json.Marshal(ocispecs.Index{Manifests: ds})
	if err != nil {
		t.Fatal(err)
	}
	l["index.json"] = dt
}

func (l layout) archive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, dt := range l {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(dt)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(dt); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadBundle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		make    func(t *testing.T) []byte
		want    []string
		wantErr string
	}{
		{name: "one record", want: []string{"ref1"}, make: func(t *testing.T) []byte {
			l := layout{}
			l.index(t, l.recordManifest(t, "ref1"))
			return l.archive(t)
		}},
		{name: "several records under an index", want: []string{"ref1", "ref2"}, make: func(t *testing.T) []byte {
			l := layout{}
			idx := l.blob(t, ocispecs.MediaTypeImageIndex, ocispecs.Index{Manifests: []ocispecs.Descriptor{l.recordManifest(t, "ref1"), l.recordManifest(t, "ref2")}})
			l.index(t, idx)
			return l.archive(t)
		}},
		{name: "not gzip", wantErr: "not gzip-compressed", make: func(*testing.T) []byte { return []byte("garbage") }},
		{name: "no index", wantErr: "it has no index.json", make: func(t *testing.T) []byte { return layout{}.archive(t) }},
		{name: "empty", wantErr: "it holds no build records", make: func(t *testing.T) []byte {
			l := layout{}
			l.index(t)
			return l.archive(t)
		}},
		{name: "an image, not a record", wantErr: "not a build record", make: func(t *testing.T) []byte {
			l := layout{}
			cfg := l.blob(t, ocispecs.MediaTypeImageConfig, ocispecs.Image{})
			l.index(t, l.blob(t, ocispecs.MediaTypeImageManifest, ocispecs.Manifest{Config: cfg}))
			return l.archive(t)
		}},
		{name: "tampered blob", wantErr: "does not match its digest", make: func(t *testing.T) []byte {
			l := layout{}
			m := l.recordManifest(t, "ref1")
			l[blobPath(m.Digest)] = append(l[blobPath(m.Digest)], ' ')
			l.index(t, m)
			return l.archive(t)
		}},
		{name: "missing layer", wantErr: "of build ref1 is missing", make: func(t *testing.T) []byte {
			l := layout{}
			m := l.recordManifest(t, "ref1")
			l.index(t, m)
			for name, dt := range l {
				if bytes.HasPrefix(dt, []byte("logs of")) {
					delete(l, name)
				}
			}
			return l.archive(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := ReadBundle(bytes.NewReader(tt.make(t)))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNotBundle) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadBundle() = %v, want ErrNotBundle containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.Ref)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ReadBundle() refs = %q, want %q", got, tt.want)
			}
		})
	}
}
