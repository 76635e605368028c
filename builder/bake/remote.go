package bake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	bxbake "github.com/docker/buildx/bake"
	bxbuilder "github.com/docker/buildx/builder"
	bxdriver "github.com/docker/buildx/driver"
	bxprogress "github.com/docker/buildx/util/progress"
	"github.com/docker/buildx/util/urlutil"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
)

// CmdContextPrefix marks a -f file or a context that stays on this machine
// when the definition is remote.
const CmdContextPrefix = "cwd://"

// Environment variables holding the credentials for a remote Git
// definition; BuildKit reads them as secrets, they never reach a log.
const (
	gitAuthTokenEnv  = "BUILDX_BAKE_GIT_AUTH_TOKEN" // #nosec G101 -- the variable's name
	gitAuthHeaderEnv = "BUILDX_BAKE_GIT_AUTH_HEADER"
)

// Remote is a bake definition read from a Git repository or an HTTP(S)
// URL. Its targets' relative contexts are resolved inside the remote.
type Remote struct {
	URL   string
	files []bxbake.File
	input *bxbake.Input
}

// ReadRemoteOptions say how a remote definition is read.
type ReadRemoteOptions struct {
	// Files are the -f values; those with cwd:// are read locally later.
	Files        []string
	Progress     io.Writer
	ProgressMode progressui.DisplayMode
}

// ReadRemote reads the definition files at url through the BuildKit
// daemon c, the way buildx does: the daemon clones or downloads url, with
// the Git credentials of BUILDX_BAKE_GIT_AUTH_TOKEN/HEADER as secrets.
// The caller keeps c and closes it.
func ReadRemote(ctx context.Context, c *bkclient.Client, url string, opts ReadRemoteOptions) (*Remote, error) {
	_, names := splitFiles(opts.Files)
	pw, err := bxprogress.NewPrinter(ctx, opts.Progress, opts.ProgressMode)
	if err != nil {
		return nil, fmt.Errorf("showing progress: %w", err)
	}
	node := bxbuilder.Node{Driver: &bxdriver.DriverHandle{Driver: &clientDriver{c: c}}}
	files, inp, err := bxbake.ReadRemoteFiles(ctx, []bxbuilder.Node{node}, url, names, pw)
	if werr := pw.Wait(); err == nil && werr != nil && !errors.Is(werr, context.Canceled) {
		err = werr
	}
	if err != nil && !isGitURL(url) {
		// buildx's reader unpacks an archive with an input BuildKit's LLB
		// refuses, so only single-file definitions read over HTTP.
		return nil, fmt.Errorf("reading remote bake definition %s: %w; if it is an archive: definitions in archives cannot be read yet, serve the bake file alone or from a Git repository", url, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading remote bake definition %s: %w", url, err)
	}
	if len(files) == 0 {
		// buildx's reader skips default names it cannot read, a failed
		// clone or download among them; the log above shows why.
		return nil, fmt.Errorf("reading remote bake definition %s: %w; if the log above shows the fetch failing, check the URL and the credentials (%s, %s)", url, ErrNoDefinition, gitAuthTokenEnv, gitAuthHeaderEnv)
	}
	return &Remote{URL: url, files: files, input: inp}, nil
}

// splitFiles parts -f values into those read on this machine (cwd://,
// prefix removed) and those read from the remote definition.
func splitFiles(names []string) (local, remote []string) {
	for _, n := range names {
		if l, ok := strings.CutPrefix(n, CmdContextPrefix); ok {
			local = append(local, l)
		} else {
			remote = append(remote, n)
		}
	}
	return local, remote
}

// isGitURL says whether a remote definition is a Git repository.
func isGitURL(s string) bool {
	_, ok, _ := dfgitutil.ParseGitRef(s)
	return ok
}

// IsRemoteURL says whether an argument names a remote definition.
func IsRemoteURL(s string) bool { return urlutil.IsRemoteURL(s) }

// resolveContexts points the targets' relative contexts into the remote,
// with buildx's own resolution: "." is the repository, a folder is that
// subfolder of it, cwd:// stays local. An archive cannot be addressed by
// a subfolder URL, so only its root can be a context.
func (r *Remote) resolveContexts(tgts map[string]*bxbake.Target) error {
	if r == nil || r.input == nil || r.input.State == nil {
		return nil
	}
	opts, err := bxbake.TargetsToBuildOpt(copyTargets(tgts), r.input)
	if err != nil {
		return fmt.Errorf("resolving contexts of %s: %w", r.URL, err)
	}
	for name, t := range tgts {
		in := opts[name].Inputs
		ctxPath := in.ContextPath
		if in.ContextState != nil && r.input.URL == "" {
			return fmt.Errorf("target %s: context %q is a folder inside the archive %s, which xbuild cannot send yet: use the archive's root (\".\") or a Git URL", name, deref(t.Context, "."), r.URL)
		}
		if ctxPath == "" && r.input.URL == "" {
			ctxPath = r.URL // the archive itself, which BuildKit unpacks
		}
		t.Context = &ctxPath
		for k, v := range t.Contexts {
			if strings.HasPrefix(v, "target:") {
				continue
			}
			nc := in.NamedContexts[k]
			if nc.State != nil && r.input.URL == "" || nc.Path == "" {
				return fmt.Errorf("target %s: context %s=%q is inside the archive %s, which xbuild cannot send yet: use a Git URL", name, k, v, r.URL)
			}
			t.Contexts[k] = nc.Path
		}
	}
	return nil
}

// gitAuth returns the Git credentials as BuildKit's secrets for a target
// whose context is on the remote definition's Git host, as buildx sends
// them; BuildKit's Git source reads GIT_AUTH_TOKEN.<host> and
// GIT_AUTH_HEADER.<host>.
func (r *Remote) gitAuth(context string, getenv func(string) string) ([]secretsprovider.Source, error) {
	if r == nil || r.input == nil || r.input.URL == "" {
		return nil, nil
	}
	host, ok := gitHost(r.input.URL)
	if !ok || !urlutil.IsRemoteURL(context) {
		return nil, nil
	}
	if h, ok := gitHost(context); !ok || !strings.EqualFold(h, host) {
		return nil, nil
	}
	var out []secretsprovider.Source
	for key, env := range map[string]string{llb.GitAuthTokenKey: gitAuthTokenEnv, llb.GitAuthHeaderKey: gitAuthHeaderEnv} {
		if getenv(env) == "" {
			continue
		}
		s, err := builder.NewSecret(key+"."+host, "", env, getenv)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", env, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func gitHost(u string) (string, bool) {
	g, err := gitutil.ParseURL(u)
	if err != nil || g.Host == "" {
		return "", false
	}
	return g.Host, true
}

// clientDriver hands buildx's remote reader a client that is already
// open; the reader only asks for the daemon's state and the client.
type clientDriver struct{ c *bkclient.Client }

var _ bxdriver.Driver = (*clientDriver)(nil)

var errNotForReading = errors.New("not used to read a remote definition")

func (d *clientDriver) Factory() bxdriver.Factory                          { return nil }
func (d *clientDriver) Bootstrap(context.Context, bxprogress.Logger) error { return nil }
func (d *clientDriver) Info(context.Context) (*bxdriver.Info, error) {
	return &bxdriver.Info{Status: bxdriver.Running}, nil
}
func (d *clientDriver) Version(context.Context) (string, error) { return "", errNotForReading }
func (d *clientDriver) Stop(context.Context, bool) error        { return errNotForReading }
func (d *clientDriver) Rm(context.Context, bool, bool, bool) error {
	return errNotForReading
}
func (d *clientDriver) Dial(context.Context) (net.Conn, error) { return nil, errNotForReading }
func (d *clientDriver) Client(context.Context, ...bkclient.ClientOpt) (*bkclient.Client, error) {
	return d.c, nil
}
func (d *clientDriver) Features(context.Context) (map[bxdriver.Feature]bool, error) {
	return nil, nil
}
func (d *clientDriver) HostGatewayIP(context.Context) (net.IP, error) { return nil, errNotForReading }
func (d *clientDriver) IsMobyDriver() bool                            { return false }
func (d *clientDriver) Config() bxdriver.InitConfig                   { return bxdriver.InitConfig{} }

// readWithRemote joins the remote definition's files with the -f files
// marked cwd://, read here, which come after and so win.
func readWithRemote(opts LoadOptions) ([]bxbake.File, error) {
	files := slices.Clone(opts.Remote.files)
	if local, _ := splitFiles(opts.Files); len(local) > 0 {
		lf, err := bxbake.ReadLocalFiles(local, opts.Stdin, nil)
		if err != nil {
			return nil, fmt.Errorf("reading bake files: %w", err)
		}
		files = append(files, lf...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading %s: %w", opts.Remote.URL, ErrNoDefinition)
	}
	return files, nil
}
