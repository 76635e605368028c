package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/xbuild/xbuild/driver"
)

// hangingFactory makes drivers whose daemon never answers: Bootstrap
// returns only when its context ends.
type hangingFactory struct{}

func (hangingFactory) Name() string { return "hanging" }

func (hangingFactory) New(context.Context, driver.Config) (driver.Driver, error) {
	return hangingDriver{}, nil
}

type hangingDriver struct{}

func (hangingDriver) Bootstrap(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hangingDriver) Info(context.Context) driver.Info {
	return driver.Info{Status: driver.StatusRunning}
}

func (hangingDriver) Client(context.Context) (*bkclient.Client, error) { return nil, context.Canceled }

func (hangingDriver) Remove(context.Context, driver.RemoveOptions) error { return nil }

func TestCreateTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "expires", args: []string{"--timeout", "50ms"},
			wantErr: `builder "slow": the daemons did not finish within --timeout 50ms (give more time with --timeout, or 0 for no limit): booting builder "slow": context deadline exceeded`},
		{name: "negative", args: []string{"--timeout", "-1s"}, wantErr: "invalid --timeout -1s: give a duration such as 1m, or 0 for no limit"},
		{name: "not a duration", args: []string{"--timeout", "soon"}, wantErr: `invalid argument "soon" for "--timeout" flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := t.TempDir()
			env := &Env{
				Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
				Getenv:  func(k string) string { return map[string]string{"XBUILD_CONFIG": cfg, "HOME": cfg}[k] },
				Drivers: driver.NewRegistry(hangingFactory{}),
			}
			cmd := newCreateCommand(env)
			cmd.SetArgs(append([]string{"--name", "slow", "--driver", "hanging", "--bootstrap"}, tt.args...))
			cmd.SetOut(env.Stdout)
			cmd.SetErr(env.Stderr)
			started := time.Now()
			err := cmd.ExecuteContext(t.Context())
			if err == nil || err.Error() != tt.wantErr && !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("create %v = %v, want %q", tt.args, err, tt.wantErr)
			}
			if took := time.Since(started); took > 5*time.Second {
				t.Errorf("create %v took %s", tt.args, took)
			}
			if _, err := os.Stat(filepath.Join(cfg, "instances", "slow")); err == nil {
				t.Errorf("create %v saved the builder that did not boot", tt.args)
			}
		})
	}
}
