package builder

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"

	"github.com/docker/buildx/localstate"
	"github.com/docker/buildx/util/confutil"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"

	"github.com/xbuild/xbuild/exporter"
)

// LocalGroup records the builds of one bake run as a group, as buildx keeps
// it under refs/__group__: the targets asked for and the ref of every
// solve, so that history can tell which builds ran together. It is safe
// for concurrent use.
type LocalGroup struct {
	ref     string
	targets []string

	mu   sync.Mutex
	refs []string
}

// NewLocalGroup starts the group of a bake run of targets.
func NewLocalGroup(targets []string) *LocalGroup {
	return &LocalGroup{ref: identity.NewID(), targets: targets}
}

// add records ref in the group and writes the group anew, so that it names
// every build started so far even when the run stops early.
func (g *LocalGroup) add(ls *localstate.LocalState, ref string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refs = append(g.refs, ref)
	return ls.SaveGroup(g.ref, localstate.StateGroup{Targets: g.targets, Refs: g.refs})
}

// describeSource prepares what a solve says about its sources on this
// side: the Git checkout of its context (frontend attributes) and the
// local build state buildx keeps, so that both tools' history can name a
// build by its context and Dockerfile.
func (rn *runner) describeSource(ctx context.Context, req *Request, node string, so *bkclient.SolveOpt, ex *exporter.Export) error {
	git, err := gitAttrs(ctx, req, rn.opts.Switches.Git)
	if err != nil {
		// buildx builds on without the commit information; so do we.
		ex.Notes = append(ex.Notes, fmt.Sprintf("current commit information was not captured by the build: %v", err))
	}
	maps.Copy(so.FrontendAttrs, git)
	if err := saveLocalState(rn.opts.StateDir, rn.opts.Group, rn.inst.Name, node, so.Ref, rn.job.Name, req); err != nil {
		return fmt.Errorf("saving local build state: %w", err)
	}
	return nil
}

// saveLocalState writes the ref file of one solve as buildx writes it:
// the context and Dockerfile as absolute paths for local ones, as given
// for remote ones. No state folder, or a context from stdin with an
// inline Dockerfile, writes nothing.
func saveLocalState(dir string, group *LocalGroup, builderName, node, ref, target string, req *Request) error {
	if dir == "" || builderName == "" || node == "" {
		return nil
	}
	st := localstate.State{Target: target, LocalPath: req.Context, DockerfilePath: req.Dockerfile}
	remote := IsRemoteContext(st.LocalPath)
	if st.DockerfilePath != "" && st.DockerfilePath != "-" && !remote && st.LocalPath != "-" {
		p, err := filepath.Abs(st.DockerfilePath)
		if err != nil {
			return err
		}
		st.DockerfilePath = p
	}
	if st.LocalPath != "" && st.LocalPath != "-" && !remote {
		p, err := filepath.Abs(st.LocalPath)
		if err != nil {
			return err
		}
		st.LocalPath = p
	}
	if st.LocalPath == "" && st.DockerfilePath == "" {
		return nil
	}
	ls, err := localstate.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		return err
	}
	if group != nil {
		st.GroupRef = group.ref
		if err := group.add(ls, ref); err != nil {
			return err
		}
	}
	return ls.SaveRef(builderName, node, ref, st)
}
