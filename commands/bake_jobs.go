package commands

import (
	"context"
	"errors"

	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
)

// runBakeJobs runs the targets as --jobs says (s.execution). Under
// defer-error the targets that finished keep their metadata even when
// others failed, as in buildx.
func runBakeJobs(ctx context.Context, env *Env, s settings, builderName string, jobs []*builder.Job, mode progressui.DisplayMode, metadataFile string) (map[string]*builder.Result, error) {
	results, err := runJobs(ctx, env, s, builderName, jobs, mode, metadataFile != "")
	if err != nil && s.execution.Mode == builder.ExecutionDeferError && len(results) > 0 {
		return nil, errors.Join(err, writeBakeMetadata(metadataFile, results, nil))
	}
	return results, err
}
