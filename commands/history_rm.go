package commands

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

func newHistoryRmCommand(env *Env, builderName *string) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [REF...]",
		Short: "Remove build records",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return errors.New("give either --all or build references, not both")
			case !all && len(args) == 0:
				return fmt.Errorf("name the builds to remove (see `%s history ls`), or give --all", historyProg(cmd))
			}
			return runHistoryRm(cmd, env, *builderName, args, all)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Remove all build records")
	return cmd
}

// runHistoryRm finds every record before it removes any, so a bad
// reference removes nothing.
func runHistoryRm(cmd *cobra.Command, env *Env, builderName string, refs []string, all bool) error {
	if err := checkHistoryRefs(refs); err != nil {
		return err
	}
	ctx := cmd.Context()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	var recs []*history.Record
	if all {
		// Running builds stay: their records are not written yet.
		if recs, err = src.List(ctx, history.Query{CompletedOnly: true, All: true}); err != nil {
			return err
		}
	}
	for _, ref := range refs {
		rec, err := findHistoryRecord(ctx, cmd, src, ref, false)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	for _, rec := range uniqueHistoryRecords(recs) {
		if err := src.Remove(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// uniqueHistoryRecords drops records named twice (by ID and by offset).
func uniqueHistoryRecords(recs []*history.Record) []*history.Record {
	seen := map[string]bool{}
	var out []*history.Record
	for _, r := range recs {
		if !seen[r.FullRef()] {
			seen[r.FullRef()] = true
			out = append(out, r)
		}
	}
	return out
}
