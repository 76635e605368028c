package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/xbuild/xbuild/builder/history"
)

func newHistoryCommand(env *Env, builderName *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Commands to work on build records",
		Long: `Commands to work on the build records a builder keeps.

A REF is a build ID (from "history ls"), BUILDER/NODE/ID as the metadata
file's buildx.build.ref names it, or ^N for the Nth build before the newest
(^0, or no REF, is the newest).`,
	}
	cmd.AddCommand(
		newHistoryLsCommand(env, builderName),
		newHistoryRmCommand(env, builderName),
		newHistoryLogsCommand(env, builderName),
		newHistoryInspectCommand(env, builderName),
		newHistoryOpenCommand(env, builderName),
		newHistoryTraceCommand(env, builderName),
		newHistoryImportCommand(env),
		newHistoryExportCommand(env, builderName),
	)
	return cmd
}

// openHistory opens the history of every node of the builder --builder
// names (else the selected one).
func openHistory(ctx context.Context, env *Env, builderName string) (*history.Source, error) {
	r, err := env.resolver()
	if err != nil {
		return nil, err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return nil, err
	}
	return history.Open(ctx, inst, env.ConfigDir())
}

// findHistoryRecord finds the record ref names, with a hint for a missing one.
func findHistoryRecord(ctx context.Context, cmd *cobra.Command, src *history.Source, ref string, completedOnly bool) (*history.Record, error) {
	rec, err := src.Find(ctx, ref, completedOnly)
	if errors.Is(err, history.ErrNoRecord) {
		return nil, fmt.Errorf("%w: list the builder's records with `%s history ls`", err, historyProg(cmd))
	}
	return rec, err
}

// checkHistoryRefs parses every reference before anything connects.
func checkHistoryRefs(refs []string) error {
	for _, r := range refs {
		if _, err := history.ParseRef(r); err != nil {
			return err
		}
	}
	return nil
}

// historyProg is how the user called us, for commands in messages.
func historyProg(cmd *cobra.Command) string { return cmd.Root().Use }

func historyRefArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// historyIsTerminal reports whether w is a terminal.
func historyIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
