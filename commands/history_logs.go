package commands

import (
	"fmt"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

func newHistoryLogsCommand(env *Env, builderName *string) *cobra.Command {
	var progress string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [REF]",
		Short: "Print the logs of a build record",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistoryLogs(cmd, env, *builderName, historyRefArg(args), progress)
		},
	}
	cmd.Flags().StringVar(&progress, "progress", "plain", "Set type of progress output (plain, rawjson, tty)")
	return cmd
}

// runHistoryLogs replays the progress BuildKit kept for a build through
// the display a build uses, on stderr as buildx prints it.
func runHistoryLogs(cmd *cobra.Command, env *Env, builderName, ref, progress string) error {
	mode := progressui.DisplayMode(progress)
	switch mode {
	case progressui.AutoMode:
		mode = progressui.PlainMode
	case progressui.PlainMode, progressui.TtyMode, progressui.RawJSONMode:
	default:
		return fmt.Errorf("invalid progress mode %q: use plain, tty or rawjson", progress)
	}
	if mode == progressui.TtyMode && !historyIsTerminal(env.Stderr) {
		return fmt.Errorf("--progress tty needs a terminal on stderr: use --progress plain")
	}
	if err := checkHistoryRefs([]string{ref}); err != nil {
		return err
	}
	ctx := cmd.Context()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	rec, err := findHistoryRecord(ctx, cmd, src, ref, false)
	if err != nil {
		return err
	}
	disp, err := progressui.NewDisplay(env.Stderr, mode)
	if err != nil {
		return err
	}
	ch := make(chan *bkclient.SolveStatus)
	replayed := make(chan error, 1)
	go func() {
		defer close(ch)
		replayed <- history.Replay(ctx, rec, func(s *bkclient.SolveStatus) {
			select {
			case ch <- s:
			case <-ctx.Done():
			}
		})
	}()
	if _, err := disp.UpdateFrom(ctx, ch); err != nil {
		return err
	}
	if err := <-replayed; err != nil {
		return fmt.Errorf("reading the logs of build %s: %w", rec.Ref, err)
	}
	return nil
}
