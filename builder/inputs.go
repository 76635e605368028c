package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tonistiigi/fsutil"
)

// inputs are the build's sources on this side: folders to sync and the
// frontend attributes that point at them or at remote sources.
type inputs struct {
	mounts  map[string]fsutil.FS
	attrs   map[string]string
	tempDir string
}

func (in *inputs) cleanup() {
	if in.tempDir != "" {
		_ = os.RemoveAll(in.tempDir)
	}
}

// IsRemoteContext reports whether a context or build context value names a
// source the daemon fetches itself.
func IsRemoteContext(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "ssh://", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func prepareInputs(req *Request) (_ *inputs, err error) {
	in := &inputs{mounts: map[string]fsutil.FS{}, attrs: map[string]string{}}
	defer func() {
		if err != nil {
			in.cleanup()
		}
	}()
	ctxDir := req.Context
	dockerfile := req.Dockerfile
	switch {
	case IsRemoteContext(req.Context):
		in.attrs["context"] = req.Context
		if dockerfile == "-" {
			if err := in.dockerfileFromStdin(req.Stdin); err != nil {
				return nil, err
			}
		} else if dockerfile != "" {
			in.attrs["filename"] = dockerfile
		}
		return in, in.addBuildContexts(req.BuildContexts)
	case req.Context == "-":
		if dockerfile == "-" {
			return nil, errors.New("context and Dockerfile cannot both come from stdin")
		}
		if ctxDir, err = in.contextFromStdin(req.Stdin); err != nil {
			return nil, err
		}
	}
	st, err := os.Stat(ctxDir)
	if err != nil {
		return nil, fmt.Errorf("build context %q: %w", req.Context, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("build context %q is not a folder", req.Context)
	}
	if err := in.mount("context", ctxDir); err != nil {
		return nil, err
	}
	switch {
	case dockerfile == "-":
		if err := in.dockerfileFromStdin(req.Stdin); err != nil {
			return nil, err
		}
	default:
		if dockerfile == "" {
			dockerfile = filepath.Join(ctxDir, "Dockerfile")
		}
		if _, ok := in.mounts["dockerfile"]; !ok {
			if err := in.localDockerfile(dockerfile); err != nil {
				return nil, err
			}
		}
	}
	return in, in.addBuildContexts(req.BuildContexts)
}

func (in *inputs) mount(name, dir string) error {
	fsys, err := fsutil.NewFS(dir)
	if err != nil {
		return fmt.Errorf("reading folder %q: %w", dir, err)
	}
	in.mounts[name] = fsys
	return nil
}

func (in *inputs) localDockerfile(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no Dockerfile at %s: give its path with -f, or add one to the build context", path)
	}
	if err != nil {
		return fmt.Errorf("reading Dockerfile: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("Dockerfile path %s is a folder: give the file's path with -f", path)
	}
	in.attrs["filename"] = filepath.Base(path)
	return in.mount("dockerfile", filepath.Dir(path))
}

func (in *inputs) scratch() (string, error) {
	if in.tempDir == "" {
		d, err := os.MkdirTemp("", "xbuild-stdin-")
		if err != nil {
			return "", err
		}
		in.tempDir = d
	}
	return in.tempDir, nil
}

func (in *inputs) dockerfileFromStdin(r io.Reader) error {
	if r == nil {
		return errors.New("Dockerfile from stdin: no input")
	}
	dir, err := in.scratch()
	if err != nil {
		return err
	}
	dfDir := filepath.Join(dir, "dockerfile")
	if err := os.MkdirAll(dfDir, 0o700); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading Dockerfile from stdin: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dfDir, "Dockerfile"), data, 0o600); err != nil {
		return err
	}
	in.attrs["filename"] = "Dockerfile"
	return in.mount("dockerfile", dfDir)
}

// contextFromStdin takes either a tar archive (the context) or a Dockerfile
// (with an empty context) from stdin.
func (in *inputs) contextFromStdin(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("context from stdin: no input")
	}
	dir, err := in.scratch()
	if err != nil {
		return "", err
	}
	ctxDir := filepath.Join(dir, "context")
	if err := os.MkdirAll(ctxDir, 0o700); err != nil {
		return "", err
	}
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	if len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")) {
		if err := untar(br, ctxDir); err != nil {
			return "", fmt.Errorf("reading context archive from stdin: %w", err)
		}
		return ctxDir, nil
	}
	if err := in.dockerfileFromStdin(br); err != nil {
		return "", err
	}
	return ctxDir, nil
}

func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.Clean("/"+h.Name))
		if !strings.HasPrefix(target, dst+string(filepath.Separator)) && target != dst {
			return fmt.Errorf("entry %q leaves the context", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				_ = f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		}
	}
}

// addBuildContexts turns --build-context values into frontend attributes,
// syncing local folders.
func (in *inputs) addBuildContexts(bc map[string]string) error {
	for name, v := range bc {
		switch {
		case strings.HasPrefix(v, "docker-image://"), strings.HasPrefix(v, "target:"),
			strings.HasPrefix(v, "oci-layout://"), IsRemoteContext(v):
			in.attrs["context:"+name] = v
		default:
			st, err := os.Stat(v)
			if err != nil {
				return fmt.Errorf("build context %q: %w", name, err)
			}
			if !st.IsDir() {
				return fmt.Errorf("build context %q: %s is not a folder", name, v)
			}
			mount := "ctx-" + name
			if err := in.mount(mount, v); err != nil {
				return err
			}
			in.attrs["context:"+name] = "local:" + mount
		}
	}
	return nil
}
