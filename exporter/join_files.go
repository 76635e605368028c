package exporter

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	bkclient "github.com/moby/buildkit/client"
)

// JoinsFiles reports whether out is files a Join can assemble from every
// share: a folder (type=local) or a tar of files (type=tar, "-" for
// stdout). Each share is exported by its node as the same type, with a
// folder per platform as BuildKit writes a multi-platform result.
func JoinsFiles(out Output) bool {
	return out.Type == TypeLocal || out.Type == TypeTar
}

// filesJoin stages each share's files in a folder of its own next to the
// destination until finish puts them together in place: the destination
// is only touched once every share has been written, so a failure leaves
// it as it was.
type filesJoin struct {
	out    Output
	stdout io.Writer
	// dir holds share-N (a folder, or a tar file) for each share.
	dir string
}

func startFilesJoin(out Output, stdout io.Writer) (*filesJoin, error) {
	parent, base := os.TempDir(), "xbuild-join"
	if out.Dest != "-" {
		parent, base = filepath.Dir(filepath.Clean(out.Dest)), filepath.Base(out.Dest)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("creating folder for %s: %w", out.Dest, err)
		}
	}
	dir, err := os.MkdirTemp(parent, "."+base+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", out.Dest, err)
	}
	return &filesJoin{out: out, stdout: stdout, dir: dir}, nil
}

func (f *filesJoin) sharePath(i int) string {
	return filepath.Join(f.dir, fmt.Sprintf("share-%d", i))
}

// shareEntry exports share i as the join's type into its staging place,
// with the output's own attributes (platform-split, src, ...).
func (f *filesJoin) shareEntry(i int, ex *Export) (bkclient.ExportEntry, error) {
	attrs := map[string]string{}
	for k, v := range f.out.Attrs {
		attrs[k] = v
	}
	entry := bkclient.ExportEntry{Type: f.out.Type, Attrs: attrs}
	path := f.sharePath(i)
	if f.out.Type == TypeLocal {
		if err := os.Mkdir(path, 0o755); err != nil {
			return entry, fmt.Errorf("creating the staging folder of share %d: %w", i, err)
		}
		entry.OutputDir = path
		return entry, nil
	}
	entry.Output = func(map[string]string) (io.WriteCloser, error) {
		w, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("creating the staging file of share %d: %w", i, err)
		}
		// BuildKit closes the writer when the tar is sent; closing again
		// at Finish covers a solve that stopped before.
		ex.onFinish(func(context.Context, map[string]string, error, Progress) error {
			_ = w.Close()
			return nil
		})
		return w, nil
	}
	return entry, nil
}

// finish puts the shares' files in place and removes the staging folder,
// whether or not the shares were built.
func (f *filesJoin) finish(shares []joinedShare, sharesErr error, pr Progress) (*Joined, error) {
	defer os.RemoveAll(f.dir)
	if sharesErr != nil {
		return nil, sharesErr
	}
	what := "files"
	if f.out.Type == TypeTar {
		what = "files as one tar"
	}
	st := pr.Step(fmt.Sprintf("writing the nodes' %s to %s", what, f.out.Dest))
	var err error
	if f.out.Type == TypeLocal {
		err = f.writeFolder(shares)
	} else {
		err = f.writeTar(shares)
	}
	st.Done(err)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", f.out.Dest, err)
	}
	return &Joined{}, nil
}

// writeFolder merges the shares' folders into one, then moves it into the
// destination as a single-node build's folder is (folder.go).
func (f *filesJoin) writeFolder(shares []joinedShare) error {
	merged := filepath.Join(f.dir, "merged")
	owners := map[string]string{}
	for i, s := range shares {
		if err := claimFiles(f.sharePath(i), s.node, owners); err != nil {
			return err
		}
		if err := moveInto(f.sharePath(i), merged, false); err != nil {
			return err
		}
	}
	return moveInto(merged, f.out.Dest, f.out.Attrs["mode"] == "delete")
}

// claimFiles records which node wrote each file of root, refusing a file
// two nodes wrote: with platform-split=false the platforms share one
// folder, and one would silently overwrite the other.
func claimFiles(root, node string, owners map[string]string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		return claim(filepath.ToSlash(rel), node, owners)
	})
}

func claim(name, node string, owners map[string]string) error {
	if prev, ok := owners[name]; ok {
		return fmt.Errorf("%s is in the output of node %s and of node %s: with platform-split=false the platforms must write different files (or leave platform-split on)", name, prev, node)
	}
	owners[name] = node
	return nil
}

// writeTar writes the entries of every share's tar, in share order, as one
// tar: next to its destination first, renamed only once complete.
func (f *filesJoin) writeTar(shares []joinedShare) error {
	if f.out.Dest == "-" {
		return f.concatTars(shares, f.stdout)
	}
	out, err := os.CreateTemp(f.dir, "joined-*.tar")
	if err != nil {
		return err
	}
	if err := f.concatTars(shares, out); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), f.out.Dest)
}

func (f *filesJoin) concatTars(shares []joinedShare, w io.Writer) error {
	tw := tar.NewWriter(w)
	owners := map[string]string{}
	for i, s := range shares {
		if err := copyTar(tw, f.sharePath(i), s.node, owners); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyTar appends the entries of the tar at path to tw; a folder entry
// may repeat, a file entry may not.
func copyTar(tw *tar.Writer, path, node string, owners map[string]string) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the tar of node %s: %w", node, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tar of node %s: %w", node, err)
		}
		if hdr.Typeflag != tar.TypeDir {
			if err := claim(strings.TrimPrefix(hdr.Name, "./"), node, owners); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
