package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/internal/progressstep"
)

// dialer is a driver that hands out a raw connection to its BuildKit API.
type dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

type dialStdioOptions struct {
	platform string
	progress string
}

func newDialStdioCommand(env *Env, builderName *string) *cobra.Command {
	var o dialStdioOptions
	cmd := &cobra.Command{
		Use:   "dial-stdio",
		Short: "Proxy the builder's BuildKit API over standard input and output",
		Long: "Proxy the builder's BuildKit API over standard input and output, for tools that\n" +
			"run their own BuildKit client: what they write is the API's stream.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDialStdio(cmd.Context(), env, *builderName, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.platform, "platform", env.Getenv("DOCKER_DEFAULT_PLATFORM"), "Platform whose node to reach, as a build picks it")
	f.StringVar(&o.progress, "progress", "none", `Progress output on standard error ("none", "auto", "plain", "tty", "rawjson")`)
	return cmd
}

func runDialStdio(ctx context.Context, env *Env, builderName string, o dialStdioOptions) error {
	var p *ocispecs.Platform
	if o.platform != "" {
		pl, err := builder.ParsePlatform(o.platform)
		if err != nil {
			return fmt.Errorf("invalid --platform %q: %w", o.platform, err)
		}
		p = &pl
	}
	show, err := dialDisplay(env, o.progress)
	if err != nil {
		return err
	}
	r, err := env.resolver()
	if err != nil {
		return err
	}
	inst, err := r.Resolve(ctx, builderName)
	if err != nil {
		return err
	}
	steps := show.start(ctx)
	defer steps.close()
	st := steps.step("[internal] dialing builder " + inst.Name)
	conn, err := dialNode(ctx, inst, p)
	st.Done(err)
	if err != nil {
		return err
	}
	st = steps.step("[internal] proxying to builder " + inst.Name)
	err = proxy(ctx, conn, env.Stdin, env.Stdout)
	st.Done(err)
	return err
}

// dialNode boots the node a build for p would use and connects to it.
func dialNode(ctx context.Context, inst *builder.Instance, p *ocispecs.Platform) (net.Conn, error) {
	n, err := builder.BootNodeFor(ctx, inst, p)
	if err != nil {
		return nil, err
	}
	d, ok := n.Driver.(dialer)
	if !ok {
		return nil, fmt.Errorf("builder %q: its %s driver gives no raw connection to BuildKit; dial-stdio works with remote and docker-container builders", inst.Name, inst.Driver)
	}
	conn, err := d.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialing builder %q node %s: %w", inst.Name, n.Name, err)
	}
	return conn, nil
}

// proxy copies in to conn and conn to out until the daemon's side ends.
// The end of in only half-closes conn, so the answers still in flight
// arrive.
func proxy(ctx context.Context, conn net.Conn, in io.Reader, out io.Writer) error {
	defer conn.Close()
	inDone, outDone := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, in)
		closeWrite(conn)
		inDone <- err
	}()
	go func() {
		_, err := io.Copy(out, conn)
		outDone <- err
	}()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err := <-inDone:
			if err != nil && !closed(err) {
				return fmt.Errorf("reading standard input: %w", err)
			}
		case err := <-outDone:
			if err != nil && !closed(err) {
				return fmt.Errorf("proxying the builder's answers: %w", err)
			}
			return nil
		}
	}
}

func closed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)
}

func closeWrite(conn net.Conn) {
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite()
		return
	}
	_ = conn.Close()
}

// dialSteps shows dial-stdio's own steps; with --progress=none (the
// default, as buildx) it shows nothing, so standard error stays quiet.
type dialSteps struct {
	display *progressui.Display
	ch      chan *bkclient.SolveStatus
	done    chan struct{}
}

func dialDisplay(env *Env, flag string) (dialSteps, error) {
	if flag == "none" || flag == string(progressui.QuietMode) {
		return dialSteps{}, nil
	}
	s, err := readSettings(env.Getenv)
	if err != nil {
		return dialSteps{}, err
	}
	mode, err := s.progressMode(flag, false)
	if err != nil {
		return dialSteps{}, err
	}
	d, err := progressui.NewDisplay(env.Stderr, mode)
	if err != nil {
		return dialSteps{}, fmt.Errorf("--progress=%s: %w", mode, err)
	}
	return dialSteps{display: &d}, nil
}

func (s dialSteps) start(ctx context.Context) dialSteps {
	if s.display == nil {
		return s
	}
	s.ch, s.done = make(chan *bkclient.SolveStatus), make(chan struct{})
	go func() {
		defer close(s.done)
		_, _ = s.display.UpdateFrom(context.WithoutCancel(ctx), s.ch)
	}()
	return s
}

// step starts a step; its Done does nothing when nothing is shown.
func (s dialSteps) step(name string) interface{ Done(error) } {
	if s.ch == nil {
		return noStep{}
	}
	return progressstep.Start(s.ch, name, time.Now())
}

func (s dialSteps) close() {
	if s.ch != nil {
		close(s.ch)
		<-s.done
	}
}

type noStep struct{}

func (noStep) Done(error) {}
