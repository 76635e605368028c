package commands

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/xbuild/xbuild/builder/bake"
)

// bakeArgs splits off a remote definition's URL and, right after it, an
// optional second URL that BAKE_CMD_CONTEXT then names, as buildx reads
// its arguments; the rest are targets.
func bakeArgs(args []string) (url, cmdContext string, targets []string) {
	if len(args) == 0 || !bake.IsRemoteURL(args[0]) {
		return "", "", args
	}
	url, targets = args[0], args[1:]
	if len(targets) > 0 && bake.IsRemoteURL(targets[0]) {
		cmdContext, targets = targets[0], targets[1:]
	}
	return url, cmdContext, targets
}

// bakeFiles returns the -f values or, without any, the files
// BUILDX_BAKE_FILE lists, split by BUILDX_BAKE_PATH_SEPARATOR (the path
// list separator by default); each listed file must exist.
func bakeFiles(files []string, getenv func(string) string) ([]string, error) {
	if len(files) > 0 {
		return files, nil
	}
	sep := getenv("BUILDX_BAKE_PATH_SEPARATOR")
	if sep == "" {
		sep = string(os.PathListSeparator)
	}
	var out []string
	for _, f := range strings.Split(getenv("BUILDX_BAKE_FILE"), sep) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f != "-" {
			if _, err := os.Stat(strings.TrimPrefix(f, bake.CmdContextPrefix)); err != nil {
				return nil, fmt.Errorf("BUILDX_BAKE_FILE names %q: %w", f, err)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// readBakeRemote reads a remote definition through the first node of the
// builder, which clones or downloads it.
func readBakeRemote(ctx context.Context, env *Env, builderName, url string, lo bake.LoadOptions, progress string) (*bake.Remote, error) {
	s, err := readSettings(env.Getenv)
	if err != nil {
		return nil, err
	}
	if progress == "none" {
		progress = "quiet"
	}
	mode, err := s.progressMode(progress, false)
	if err != nil {
		return nil, err
	}
	r, err := s.resolver(env)
	if err != nil {
		return nil, err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return nil, err
	}
	n := inst.Nodes[0]
	if err := n.Driver.Bootstrap(ctx); err != nil {
		return nil, fmt.Errorf("booting builder %q: %w", inst.Name, err)
	}
	c, err := n.Driver.Client(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to builder %q: %w", inst.Name, err)
	}
	defer c.Close()
	return bake.ReadRemote(ctx, c, url, bake.ReadRemoteOptions{Files: lo.Files, Progress: env.Stderr, ProgressMode: mode})
}

// withBakeSources completes lo with where the definition comes from: the
// files BUILDX_BAKE_FILE lists when -f gives none, and a remote
// definition named by the first argument, read before anything else.
func withBakeSources(ctx context.Context, env *Env, builderName string, lo *bake.LoadOptions, progress string) error {
	files, err := bakeFiles(lo.Files, env.Getenv)
	if err != nil {
		return err
	}
	url, cmdContext, targets := bakeArgs(lo.Targets)
	lo.Files, lo.Targets, lo.CmdContext = files, targets, cmdContext
	if url == "" {
		return nil
	}
	lo.Remote, err = readBakeRemote(ctx, env, builderName, url, *lo, progress)
	return err
}
