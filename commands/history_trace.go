package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/docker/buildx/util/otelutil/jaeger"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

func newHistoryOpenCommand(env *Env, builderName *string) *cobra.Command {
	return &cobra.Command{
		Use:   "open [OPTIONS] [REF]",
		Short: "Open a build record in Docker Desktop",
		Long: `Print the Docker Desktop link of a build record, and open it where
Docker Desktop's build backend is installed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := historyRefArg(args)
			if err := checkHistoryRefs([]string{ref}); err != nil {
				return err
			}
			ctx := cmd.Context()
			src, err := openHistory(ctx, env, *builderName)
			if err != nil {
				return err
			}
			defer src.Close()
			rec, err := findHistoryRecord(ctx, cmd, src, ref, false)
			if err != nil {
				return err
			}
			link := history.Link(rec.FullRef())
			fmt.Fprintln(env.Stdout, link)
			if history.DesktopRunning() {
				openHistoryLink(link)
			}
			return nil
		},
	}
}

// openHistoryLink hands link to the desktop's opener; the link is printed
// already, so an opener that fails costs nothing.
func openHistoryLink(link string) {
	name, args := "xdg-open", []string{link}
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", link}
	}
	_ = exec.Command(name, args...).Start()
}

type historyTraceOptions struct {
	addr    string
	compare string
}

func newHistoryTraceCommand(env *Env, builderName *string) *cobra.Command {
	var o historyTraceOptions
	cmd := &cobra.Command{
		Use:   "trace [OPTIONS] [REF]",
		Short: "Show the OpenTelemetry trace of a build record",
		Long: `Write the OpenTelemetry trace of a build record to stdout, as the Jaeger
JSON that Jaeger UI's "JSON File" upload reads. With --compare, both traces
are written, the compared one second.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("addr") {
				return errors.New("xbuild serves no trace viewer on --addr: it writes the trace to stdout as Jaeger JSON, which Jaeger UI opens")
			}
			return runHistoryTrace(cmd, env, *builderName, historyRefArg(args), &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:0", "Accepted for buildx compatibility; xbuild writes the trace to stdout")
	f.StringVar(&o.compare, "compare", "", "Compare with another build record")
	return cmd
}

func runHistoryTrace(cmd *cobra.Command, env *Env, builderName, ref string, o *historyTraceOptions) error {
	refs := []string{ref}
	if o.compare != "" {
		refs = append(refs, o.compare)
	}
	if err := checkHistoryRefs(refs); err != nil {
		return err
	}
	ctx := cmd.Context()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	var out struct {
		Data []jaeger.Trace `json:"data"`
	}
	for _, r := range refs {
		rec, err := findHistoryRecord(ctx, cmd, src, r, true)
		if err != nil {
			return err
		}
		t, err := history.Trace(ctx, src, rec)
		if errors.Is(err, history.ErrNoTrace) {
			return fmt.Errorf("%w: builder %q records traces only when its BuildKit daemon has a span recorder (tracing enabled)", err, src.Builder)
		}
		if err != nil {
			return err
		}
		out.Data = append(out.Data, t)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
