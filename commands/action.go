package commands

import (
	"context"
	"errors"

	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
)

func newActionCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "action",
		Short:  "Run as a GitHub Actions step (reads INPUT_* variables)",
		Hidden: true,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run",
		Short: "Set up the builder, build or bake, write outputs and the job summary",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runAction(cmd.Context(), env) },
	}, &cobra.Command{
		Use:   "cleanup",
		Short: "Remove the builder the step created",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cleanupAction(cmd.Context(), env) },
	})
	return cmd
}

func runAction(ctx context.Context, env *Env) error {
	in := actionInputs{env: env}
	if err := in.checkUnknown(env.Environ()); err != nil {
		return err
	}
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	bakeMode := in.get("files") != "" || in.get("targets") != "" || in.get("set") != "" || in.get("source") != ""
	jobs, summaryInputs, err := actionJobs(ctx, env, s, in, bakeMode)
	if err != nil {
		return err
	}
	builderName, err := setupActionBuilder(ctx, env, in, jobs)
	if err != nil {
		return err
	}
	if in.get("provenance") == "" {
		s.switches.DefaultProvenance = actionProvenance(env)
	}
	results, err := runJobs(ctx, env, s, builderName, jobs, progressui.PlainMode, true)
	if err != nil {
		var te *builder.TargetError
		if !bakeMode && errors.As(err, &te) {
			return te.Err
		}
		return err
	}
	return writeActionResults(env, jobs, results, bakeMode, summaryInputs)
}
