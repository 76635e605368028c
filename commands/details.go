package commands

import (
	"io"

	"github.com/docker/buildx/util/desktop"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/history"
	"github.com/xbuild/xbuild/exporter"
)

// printBuildDetails prints, after the progress, the Docker Desktop link of
// each build, as buildx does where Desktop's build backend is installed:
// there the link opens the build's record. Quiet and raw JSON progress
// print none, and neither does a machine without Desktop.
func printBuildDetails(w io.Writer, mode progressui.DisplayMode, results map[string]*builder.Result) {
	if mode == progressui.QuietMode || mode == progressui.RawJSONMode || !history.DesktopRunning() {
		return
	}
	refs := map[string]string{}
	for name, r := range results {
		if r == nil || r.Call != nil {
			continue
		}
		if ref, ok := r.Metadata[exporter.KeyBuildRef].(string); ok && ref != "" {
			refs[name] = ref
		}
	}
	desktop.PrintBuildDetails(w, refs, historyIsTerminal(w))
}
