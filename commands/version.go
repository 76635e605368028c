package commands

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// BuildxVersion is the buildx release whose commands, flags and outputs
// xbuild follows. Tools that decide by the buildx version what they may ask
// of it (Docker Compose needs 0.17.0 or later) are given this one.
const BuildxVersion = "v0.38.2"

// modulePath names the binary in `version`'s line, where buildx prints its
// own module path.
const modulePath = "github.com/xbuild/xbuild"

// notInBuildMetadata matches what semver does not allow in the build
// metadata that carries xbuild's own version.
var notInBuildMetadata = regexp.MustCompile(`[^0-9A-Za-z.-]+`)

// compatVersion is BuildxVersion with xbuild's own version as semver build
// metadata (v0.38.2+xbuild.v0.5.0): it sorts as the buildx release, and
// still says which xbuild it is.
func compatVersion(own string) string {
	own = strings.Trim(notInBuildMetadata.ReplaceAllString(own, "."), ".")
	return BuildxVersion + "+xbuild." + cmp.Or(own, "dev")
}

// revision is the commit the binary was built from, with ".m" when the
// tree had changes, as buildx marks it; empty when the build did not record
// it.
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ".m"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + modified
}

func newVersionCommand(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show xbuild version information",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			// buildx's line: module path, version, revision.
			line := modulePath + " " + compatVersion(env.Version)
			if rev := revision(); rev != "" {
				line += " " + rev
			}
			fmt.Fprintln(env.Stdout, line)
			return nil
		},
	}
}

// pluginMetadata is what the Docker CLI asks a plugin for
// (docker-cli-plugin-metadata).
type pluginMetadata struct {
	SchemaVersion    string
	Vendor           string
	Version          string
	ShortDescription string
	URL              string
}

// WritePluginMetadata answers the Docker CLI's plugin metadata request.
// Version is the plain buildx release: tools compare it field by field
// (Compose reads "0.38.2+xbuild.v1" as 0.38.0), so xbuild's own version
// goes in the description, where `docker info` shows it beside the vendor.
func WritePluginMetadata(w io.Writer, own string) error {
	md := pluginMetadata{
		SchemaVersion:    "0.1.0",
		Vendor:           "xbuild",
		Version:          BuildxVersion,
		ShortDescription: "xbuild " + own + ", compatible with Docker Buildx " + BuildxVersion,
		URL:              "https://" + modulePath,
	}
	data, err := json.Marshal(md)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
