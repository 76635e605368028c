package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/buildx/util/gitutil"
	bkgitutil "github.com/moby/buildkit/util/gitutil"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// GitInfo says what a build records of the Git checkout its local context
// is in, as buildx's BUILDX_GIT_INFO, BUILDX_GIT_LABELS and
// BUILDX_GIT_CHECK_DIRTY do.
type GitInfo struct {
	// Off: no vcs:* frontend attributes (the remote URL and commit that
	// provenance records). buildx records them unless told not to.
	Off bool
	// Labels adds the commit, the remote URL and the Dockerfile's path in
	// the repository as image labels.
	Labels bool
	// CheckDirty marks the commit "-dirty" when the work tree has changes.
	CheckDirty bool
}

// dockerfileLabel is the label naming the Dockerfile's path in the
// repository, buildx's name for it.
const dockerfileLabel = "com.docker.image.source.entrypoint"

// gitAttrs are the frontend attributes a request gets from the Git
// checkout its local context is in: none for a remote or stdin context, or
// a folder outside any checkout. An error means the checkout could not be
// read; buildx builds on with a warning, and so do callers.
func gitAttrs(ctx context.Context, req *Request, g GitInfo) (map[string]string, error) {
	if (g.Off && !g.Labels) || req.Context == "" || req.Context == "-" || IsRemoteContext(req.Context) {
		return nil, nil
	}
	wd, err := filepath.Abs(req.Context)
	if err != nil {
		return nil, nil
	}
	gitc, err := gitutil.New(bkgitutil.WithDir(wd))
	if err != nil {
		if isDir(filepath.Join(wd, ".git")) {
			return nil, fmt.Errorf("reading git information: git was not found in the system: %w", err)
		}
		return nil, nil
	}
	if !gitc.IsInsideWorkTree(ctx) {
		if isDir(filepath.Join(wd, ".git")) {
			return nil, errors.New("reading git information: git rev-parse --is-inside-work-tree failed")
		}
		return nil, nil
	}
	root, err := gitc.WorkTree(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading git root folder: %w", err)
	}
	attrs := map[string]string{}
	sha, err := gitc.FullCommit(ctx)
	if err != nil && !gitutil.IsUnknownRevision(err) {
		return nil, fmt.Errorf("reading git commit: %w", err)
	}
	if sha != "" {
		if g.CheckDirty && gitc.IsDirty(ctx) {
			sha += "-dirty"
		}
		setGitAttr(attrs, g, ocispecs.AnnotationRevision, "vcs:revision", sha)
	}
	if url, err := gitc.RemoteURL(ctx); err == nil && url != "" {
		setGitAttr(attrs, g, ocispecs.AnnotationSource, "vcs:source", url)
	}
	if g.Labels && req.Dockerfile != "-" {
		if rel, ok := inside(root, dockerfilePath(req, wd)); ok {
			attrs["label:"+dockerfileLabel] = rel
		}
	}
	if !g.Off {
		for key, dir := range localDirs(req, wd) {
			if rel, ok := inside(root, dir); ok {
				attrs["vcs:localdir:"+key] = rel
			}
		}
	}
	return attrs, nil
}

func setGitAttr(attrs map[string]string, g GitInfo, label, vcs, v string) {
	if g.Labels {
		attrs["label:"+label] = v
	}
	if !g.Off {
		attrs[vcs] = v
	}
}

// dockerfilePath is the request's Dockerfile as an absolute path; wd is
// the context's.
func dockerfilePath(req *Request, wd string) string {
	switch {
	case req.Dockerfile == "":
		return filepath.Join(wd, "Dockerfile")
	case filepath.IsAbs(req.Dockerfile):
		return req.Dockerfile
	}
	p, _ := filepath.Abs(req.Dockerfile)
	return p
}

// localDirs are the folders synced for the request, by mount name (the
// names prepareInputs gives them).
func localDirs(req *Request, wd string) map[string]string {
	dirs := map[string]string{"context": wd}
	if req.Dockerfile != "-" {
		dirs["dockerfile"] = filepath.Dir(dockerfilePath(req, wd))
	}
	for name, v := range req.BuildContexts {
		if strings.Contains(v, "://") || strings.HasPrefix(v, "target:") || IsRemoteContext(v) {
			continue
		}
		if abs, err := filepath.Abs(v); err == nil && isDir(abs) {
			dirs["ctx-"+name] = abs
		}
	}
	return dirs
}

// inside gives path relative to root when it is in root, symlinks
// resolved as the file sync resolves them.
func inside(root, path string) (string, bool) {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
