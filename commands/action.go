package commands

import (
	"context"
	"errors"
	"fmt"

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
	for _, n := range unknownInputs(env.Environ()) {
		fmt.Fprintf(env.Stdout, "::warning::input %s is not used by xbuild\n", n)
	}
	if err := in.checkCall(); err != nil {
		return err
	}
	s, err := readSettings(env.Getenv)
	if err != nil {
		return err
	}
	mode := in.mode()
	if mode == modeMerge {
		return runActionMerge(ctx, env, in)
	}
	if err := checkDigestInputs(in, mode); err != nil {
		return err
	}
	var jobs []*builder.Job
	var summaryInputs map[string]string
	if mode == modeSetup {
		err = checkSetupPlatforms(in)
	} else {
		jobs, summaryInputs, err = actionJobs(ctx, env, s, in, mode == modeBake)
	}
	if err != nil {
		return err
	}
	builderName, err := setupActionBuilder(ctx, env, in, jobs)
	if err != nil {
		return err
	}
	if err := writeBuilderOutputs(ctx, env, builderName); err != nil || mode == modeSetup {
		return err
	}
	if in.get("provenance") == "" {
		s.switches.DefaultProvenance = actionProvenance(env)
	}
	results, err := runJobs(ctx, env, s, builderName, jobs, progressui.PlainMode, true)
	if err != nil {
		var te *builder.TargetError
		if mode == modeBuild && errors.As(err, &te) {
			return te.Err
		}
		return err
	}
	if j := jobs[0]; mode == modeBuild && j.Req.Call != nil {
		return callExit(printCall(env.Stdout, j.Req.Call, results[j.Name].Call, dockerfileShown(j.Req)))
	}
	if err := writeActionResults(env, jobs, results, mode == modeBake, summaryInputs); err != nil {
		return err
	}
	if err := writeDigestFile(in.get("digest-dir"), results["default"]); err != nil {
		return err
	}
	return writeBuildRecord(ctx, env, builderName, results)
}

// checkSetupPlatforms checks the platforms of a set-up-only step, which
// no build reads, so a typo fails this step and not a later one.
func checkSetupPlatforms(in actionInputs) error {
	plats, err := in.list("platforms", true)
	if err != nil {
		return err
	}
	_, err = builder.ParsePlatforms(plats)
	return err
}
