package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
)

// Env is what the commands need from the process: streams, environment and
// the driver registry.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Environ lists the whole environment, for the action's check of its
	// INPUT_* variables.
	Environ func() []string
	Drivers *driver.Registry
	// Version is the binary's version.
	Version string
}

// ConfigDir is the builder state folder, buildx's, found as buildx finds
// it: $XBUILD_CONFIG (an override of xbuild's, the same layout), else
// $BUILDX_CONFIG, else buildx/ in Docker's configuration folder
// ($DOCKER_CONFIG, else ~/.docker). The local driver's configDir follows
// the same rule.
func (e *Env) ConfigDir() string {
	for _, k := range []string{"XBUILD_CONFIG", "BUILDX_CONFIG"} {
		if d := e.Getenv(k); d != "" {
			return d
		}
	}
	if d := e.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx")
	}
	home := e.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker", "buildx")
}

func (e *Env) resolver() (*builder.Resolver, error) {
	st, err := store.New(e.ConfigDir(), store.WithEndpointKey(store.CurrentEndpointKey(e.Getenv)), store.WithNotices(e.Stderr))
	if err != nil {
		return nil, err
	}
	// xbuild's former state moves in once. A failure only warns, so that
	// every command keeps working, and the move is tried again next time.
	if m, err := st.MigrateFrom(store.FormerDir(e.Getenv)); err != nil {
		fmt.Fprintf(e.Stderr, "WARNING: %v\n", err)
	} else if m != nil {
		fmt.Fprint(e.Stderr, m)
	}
	return &builder.Resolver{Store: st, Drivers: e.Drivers, Getenv: e.Getenv, Notices: e.Stderr}, nil
}

// NewRootCommand builds the command tree. name is how the user called us
// ("xbuild", or "docker xbuild" as a plugin).
func NewRootCommand(env *Env, name string) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         "Build multi-platform container images with BuildKit",
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	var builderName string
	root.PersistentFlags().StringVar(&builderName, "builder", "", "Builder instance to use (default: $XBUILD_BUILDER, the builder chosen with \"use\", or the current Docker context)")
	root.AddCommand(
		newBuildCommand(env, &builderName),
		newBakeCommand(env, &builderName),
		newCreateCommand(env),
		newUseCommand(env),
		newLsCommand(env),
		newInspectCommand(env, &builderName),
		newRmCommand(env, &builderName),
		newStopCommand(env, &builderName),
		newVersionCommand(env),
		newActionCommand(env),
		newStoreCommand(env),
		newImagetoolsCommand(env),
		newDuCommand(env, &builderName),
		newPruneCommand(env, &builderName),
		newHistoryCommand(env, &builderName),
		newDialStdioCommand(env, &builderName),
		newReplayCommand(env, &builderName),
		newPolicyCommand(env, &builderName),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group fail on a name it
// does not know (`xbuild imagetools foo`) instead of printing its help and
// exiting 0, which hides typos in scripts.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.HasParent() && c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q: run `%s --help` for the commands it has", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
}

// runJobs resolves the builder and runs jobs on it. A build the planner
// refused before any work shows the empty display buildx users know, then
// the reason.
func runJobs(ctx context.Context, env *Env, s settings, builderName string, jobs []*builder.Job, mode progressui.DisplayMode, withMetadata bool) (map[string]*builder.Result, error) {
	opts := s.buildOptions(withMetadata)
	opts.ProgressMode, opts.Progress, opts.Stdout, opts.RegistryCreds = mode, env.Stderr, env.Stdout, registryCreds(env)
	opts.StateDir = env.ConfigDir()
	r, err := s.resolver(env)
	if err != nil {
		return nil, err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return nil, err
	}
	res, err := builder.BuildAll(ctx, inst, jobs, opts)
	var rejected *builder.RejectedError
	if errors.As(err, &rejected) && mode != progressui.RawJSONMode {
		fmt.Fprintln(env.Stderr, "[+] Building 0.0s (0/0)")
	}
	if grpcerrors.Code(err) == codes.Unavailable && ctx.Err() == nil {
		// The connection to the daemon broke mid-build: say which builder,
		// since BuildKit's own words ("error reading from server: EOF") do
		// not. Inside the target's error, which build prints alone.
		err = namingBuilder(err, inst.Name)
	}
	return res, err
}

func namingBuilder(err error, name string) error {
	wrap := func(err error) error {
		return fmt.Errorf("builder %q stopped answering (its BuildKit daemon died or was removed; the next build starts it again): %w", name, err)
	}
	var te *builder.TargetError
	if errors.As(err, &te) {
		te.Err = wrap(te.Err)
		return err
	}
	return wrap(err)
}
