package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/buildx/util/sourcemeta"
	"github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newPolicyCommand(env *Env, builderName *string) *cobra.Command {
	var debug bool
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Commands for working with build policies",
	}
	cmd.PersistentFlags().BoolVarP(&debug, "debug", "D", false, "Enable debug logging")
	cmd.PersistentPreRun = func(*cobra.Command, []string) {
		if debug {
			logrus.SetOutput(env.Stderr)
			logrus.SetLevel(logrus.DebugLevel)
		}
	}
	cmd.AddCommand(
		newPolicyEvalCommand(env, builderName),
		newPolicyTestCommand(env, builderName),
		newPolicyJSONSchemaCommand(env),
	)
	return cmd
}

// policyResolver is what the policy commands need from a builder: the
// platform its first worker builds for and a resolver of source
// metadata (image configs, Git commits, HTTP checksums) on its first node.
type policyResolver struct {
	platform ocispecs.Platform
	meta     *sourcemeta.Resolver
	close    func()
}

func newPolicyResolver(ctx context.Context, env *Env, builderName string) (*policyResolver, error) {
	_, inst, err := resolveArg(ctx, env.resolver, builderName, nil)
	if err != nil {
		return nil, err
	}
	if len(inst.Nodes) == 0 {
		return nil, fmt.Errorf("builder %q has no nodes", inst.Name)
	}
	c, err := inst.Nodes[0].Driver.Client(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to builder %q: %w", inst.Name, err)
	}
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("listing workers of builder %q: %w", inst.Name, err)
	}
	if len(workers) == 0 || len(workers[0].Platforms) == 0 {
		c.Close()
		return nil, errors.New("no workers available in the builder")
	}
	cfg := config.LoadDefaultConfigFile(io.Discard)
	auth := authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})
	meta := sourcemeta.NewResolver(c, sourcemeta.WithSession([]session.Attachable{auth}))
	return &policyResolver{
		platform: workers[0].Platforms[0],
		meta:     meta,
		close: func() {
			_ = meta.Close()
			_ = c.Close()
		},
	}, nil
}
