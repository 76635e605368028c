package history

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/util/desktop/bundle"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotBundle is returned for input that is not a .dockerbuild bundle.
var ErrNotBundle = errors.New("not a build record bundle")

// Export writes recs to w as a .dockerbuild bundle: a gzipped OCI layout
// whose manifests carry each record as config and its logs, trace, error
// and result descriptors as layers. buildx's bundle package writes it, so
// the file is exactly what Docker Desktop imports.
func Export(ctx context.Context, recs []*Record, w io.Writer) error {
	var clients []*bkclient.Client
	seen := map[*Node]bool{}
	out := make([]*bundle.Record, 0, len(recs))
	for _, rec := range recs {
		if !seen[rec.Node] {
			seen[rec.Node] = true
			clients = append(clients, rec.Node.client)
		}
		var defaultPlatform string
		if len(rec.Node.Platforms) > 0 {
			defaultPlatform = platforms.FormatAll(platforms.Normalize(rec.Node.Platforms[0]))
		}
		out = append(out, &bundle.Record{BuildHistoryRecord: rec.BuildHistoryRecord, DefaultPlatform: defaultPlatform, LocalState: rec.Local})
	}
	if err := bundle.Export(ctx, clients, w, out); err != nil {
		return fmt.Errorf("exporting build records: %w", err)
	}
	return nil
}

// ReadBundle reads the records of a bundle and checks that every blob its
// manifests name is in it, with the right digest.
func ReadBundle(r io.Reader) ([]*controlapi.BuildHistoryRecord, error) {
	blobs, err := readLayout(r)
	if err != nil {
		return nil, err
	}
	var idx ocispecs.Index
	if err := readJSON(blobs, "index.json", "", &idx); err != nil {
		return nil, err
	}
	var out []*controlapi.BuildHistoryRecord
	for _, d := range idx.Manifests {
		recs, err := readBundleEntry(blobs, d)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: it holds no build records", ErrNotBundle)
	}
	return out, nil
}

// readLayout reads a gzipped tar into memory, by file name.
func readLayout(r io.Reader) (map[string][]byte, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: it is not gzip-compressed", ErrNotBundle)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading its archive: %v", ErrNotBundle, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dt, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %v", ErrNotBundle, h.Name, err)
		}
		files[path.Clean(h.Name)] = dt
	}
}

// readJSON decodes a file of the layout; a blob's digest is checked.
func readJSON(files map[string][]byte, name string, dgst digest.Digest, v any) error {
	dt, ok := files[name]
	if !ok {
		return fmt.Errorf("%w: it has no %s", ErrNotBundle, name)
	}
	if dgst != "" && digest.FromBytes(dt) != dgst {
		return fmt.Errorf("%w: %s does not match its digest", ErrNotBundle, name)
	}
	if err := json.Unmarshal(dt, v); err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrNotBundle, name, err)
	}
	return nil
}

func blobPath(d digest.Digest) string { return path.Join("blobs", d.Algorithm().String(), d.Encoded()) }

// readBundleEntry reads a manifest of one record, or an index of several.
func readBundleEntry(files map[string][]byte, d ocispecs.Descriptor) ([]*controlapi.BuildHistoryRecord, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: invalid digest %q", ErrNotBundle, d.Digest)
	}
	if d.MediaType == ocispecs.MediaTypeImageIndex {
		var idx ocispecs.Index
		if err := readJSON(files, blobPath(d.Digest), d.Digest, &idx); err != nil {
			return nil, err
		}
		var out []*controlapi.BuildHistoryRecord
		for _, m := range idx.Manifests {
			if m.MediaType == ocispecs.MediaTypeImageIndex {
				return nil, fmt.Errorf("%w: index %s nests another index", ErrNotBundle, d.Digest)
			}
			recs, err := readBundleEntry(files, m)
			if err != nil {
				return nil, err
			}
			out = append(out, recs...)
		}
		return out, nil
	}
	var m ocispecs.Manifest
	if err := readJSON(files, blobPath(d.Digest), d.Digest, &m); err != nil {
		return nil, err
	}
	if m.Config.MediaType != bundle.HistoryRecordMediaTypeV0 {
		return nil, fmt.Errorf("%w: manifest %s holds %q, not a build record", ErrNotBundle, d.Digest, m.Config.MediaType)
	}
	var rec bundle.Record
	if err := readJSON(files, blobPath(m.Config.Digest), m.Config.Digest, &rec); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if _, ok := files[blobPath(l.Digest)]; !ok || l.Digest.Validate() != nil {
			return nil, fmt.Errorf("%w: blob %s of build %s is missing", ErrNotBundle, l.Digest, rec.Ref)
		}
	}
	if rec.BuildHistoryRecord == nil || rec.Ref == "" {
		return nil, fmt.Errorf("%w: manifest %s holds an empty build record", ErrNotBundle, d.Digest)
	}
	return []*controlapi.BuildHistoryRecord{rec.BuildHistoryRecord}, nil
}
