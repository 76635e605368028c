package commands

import (
	"context"
	"encoding/json"
	"io"

	"github.com/containerd/log"
	"github.com/docker/cli/cli/config"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func newImagetoolsCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "imagetools",
		Short: "Inspect images, and assemble indexes from images in registries",
	}
	cmd.AddCommand(newImagetoolsInspectCommand(env), newImagetoolsCreateCommand(env))
	return cmd
}

// quietRegistryLog keeps containerd's notes on each failed request ("fetch
// failed after status: 404") off the terminal: the error that follows
// tells the user once. Warnings still show.
func quietRegistryLog(ctx context.Context, w io.Writer) context.Context {
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(logrus.WarnLevel)
	return log.WithLogger(ctx, logrus.NewEntry(l))
}

func registryCreds(env *Env) func(string) (string, string, error) {
	cfg := config.LoadDefaultConfigFile(io.Discard)
	return func(host string) (string, string, error) {
		if host == "registry-1.docker.io" {
			host = "https://index.docker.io/v1/"
		}
		ac, err := cfg.GetAuthConfig(host)
		if err != nil {
			return "", "", err
		}
		if ac.IdentityToken != "" {
			return "", ac.IdentityToken, nil
		}
		return ac.Username, ac.Password, nil
	}
}

func toJSON(v any) (string, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	return string(data), err
}
