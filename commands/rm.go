package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
)

type rmOptions struct {
	keepState, keepDaemon, allInactive, force bool
	timeout                                   time.Duration
}

func newRmCommand(env *Env, builderName *string) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [NAME...]",
		Short: "Remove one or more builder instances",
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.allInactive && len(args) > 0 {
				return errors.New("--all-inactive removes every inactive builder: give no names with it")
			}
			if len(args) == 0 {
				args = []string{*builderName}
			}
			return runRm(cmd.Context(), env, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.keepState, "keep-state", false, "Keep BuildKit state")
	f.BoolVar(&o.keepDaemon, "keep-daemon", false, "Keep the BuildKit daemon running")
	f.BoolVar(&o.allInactive, "all-inactive", false, "Remove all inactive builders")
	f.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "Override the default timeout for loading builder status")
	return cmd
}

func runRm(ctx context.Context, env *Env, names []string, o rmOptions) error {
	r, err := env.resolver()
	if err != nil {
		return err
	}
	if o.allInactive {
		if !o.force && !confirm(env.Stdin, env.Stdout, "WARNING! This removes every builder that is not running. Continue? [y/N] ") {
			return nil
		}
		if names, err = inactiveBuilders(ctx, r, o.timeout); err != nil {
			return err
		}
	}
	failed := 0
	for _, name := range names {
		// Each builder on its own, reported on stderr as buildx reports it,
		// so one that cannot go does not keep the others.
		if err := removeOne(ctx, r, name, o); err != nil {
			fmt.Fprintf(env.Stderr, "failed to remove %s: %v\n", displayName(r, name), err)
			failed++
			continue
		}
		fmt.Fprintf(env.Stderr, "%s removed\n", displayName(r, name))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d builders could not be removed (see above)", failed, len(names))
	}
	return nil
}

func removeOne(ctx context.Context, r *builder.Resolver, name string, o rmOptions) error {
	if o.keepDaemon {
		// The daemon is the user's to manage from here: forget the builder.
		inst, err := r.Resolve(ctx, name)
		if err != nil {
			return err
		}
		if inst.FromContext {
			return fmt.Errorf("builder %q %w", inst.Name, builder.ErrContextBuilder)
		}
		return r.Store.Update(func(tx *store.Txn) error { return tx.Remove(inst.Name) })
	}
	return r.Remove(ctx, name, driver.RemoveOptions{KeepState: o.keepState})
}

// displayName is the builder an empty name stands for.
func displayName(r *builder.Resolver, name string) string {
	if name == "" {
		if sel, err := r.Selected(); err == nil {
			return sel
		}
	}
	return name
}

// inactiveBuilders lists the stored builders none of whose nodes runs.
func inactiveBuilders(ctx context.Context, r *builder.Resolver, timeout time.Duration) ([]string, error) {
	all, err := r.All(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, inst := range all {
		if inst.FromContext || inst.Err != nil {
			continue // not ours to remove, or not loadable: removing it would fail
		}
		running := false
		for _, n := range lsNodes(ctx, inst, timeout) {
			running = running || n.Status == string(driver.StatusRunning)
		}
		if !running {
			out = append(out, inst.Name)
		}
	}
	return out, nil
}

// confirm asks on out and reads the answer from in; only y or yes agree.
func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprint(out, question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
