package store

import (
	"os"
	"path/filepath"

	"github.com/xbuild/xbuild/engine"
)

// FormerDir is where xbuild kept builders before it shared buildx's
// folder: $XBUILD_CONFIG itself when set (the old layout moves in place),
// else ~/.xbuild.
func FormerDir(getenv func(string) string) string {
	if d := getenv("XBUILD_CONFIG"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".xbuild")
}

// CurrentEndpointKey is the EndpointKey of the engine the Docker CLI would
// use. Empty when the Docker configuration cannot be read: only a builder
// chosen for every endpoint is then current.
func CurrentEndpointKey(getenv func(string) string) string {
	ep, err := engine.Current(getenv)
	if err != nil {
		return ""
	}
	return EndpointKey(ep.Context, ep.Host)
}
