package bake

import (
	"fmt"
	"strings"

	bxbake "github.com/docker/buildx/bake"
)

// readFiles reads the definition files: from here, or from the remote
// definition and, for those marked cwd://, from here.
func readFiles(opts LoadOptions) ([]bxbake.File, error) {
	if opts.Remote != nil {
		return readWithRemote(opts)
	}
	for _, f := range opts.Files {
		if isRemote(f) {
			return nil, fmt.Errorf("-f %s: a remote definition is given as the first argument (bake %s [TARGET...]); -f then names files inside it", f, f)
		}
	}
	names := make([]string, 0, len(opts.Files))
	for _, f := range opts.Files {
		names = append(names, strings.TrimPrefix(f, CmdContextPrefix))
	}
	files, err := bxbake.ReadLocalFiles(names, opts.Stdin, nil)
	if err != nil {
		return nil, fmt.Errorf("reading bake files: %w", err)
	}
	if len(files) == 0 {
		return nil, ErrNoDefinition
	}
	return files, nil
}

func isRemote(s string) bool {
	for _, p := range []string{"https://", "http://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.HasSuffix(s, ".git") || strings.Contains(s, ".git#")
}
