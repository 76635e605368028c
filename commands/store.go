package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

func newStoreCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Inspect a Docker Engine's image stores",
	}
	var host, format string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show which image store is active, what it holds, and what the inactive one still holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("invalid --format %q: use table or json", format)
			}
			ep, err := engine.Current(env.Getenv)
			if host != "" {
				ep, err = engine.Endpoint{Context: engine.DefaultContext, Host: host}, nil
			}
			if err != nil {
				return err
			}
			api, err := ep.Client()
			if err != nil {
				return err
			}
			defer api.Close()
			st, err := imagestore.Inspect(cmd.Context(), api, ep.Host)
			if err != nil {
				return fmt.Errorf("docker engine at %s: %w", ep.Host, err)
			}
			if format == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStoreStatus(env.Stdout, st)
		},
	}
	status.Flags().StringVar(&host, "engine", "", "Engine address (default: the current Docker context)")
	status.Flags().StringVar(&format, "format", "table", `Output format ("table" or "json")`)
	cmd.AddCommand(status, newMigrateCommand(env))
	return cmd
}

func printStoreStatus(w io.Writer, st *imagestore.Status) error {
	fmt.Fprintf(w, "Engine:    %s\nData root: %s\n\n", st.Engine, st.DataDir)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "STORE\tSTATE\tIMAGES\tCONTAINERS\tSIZE")
	fmt.Fprintf(tw, "%s\tactive\t%d\t%d\t%s\n", st.Active.Kind, st.Active.Images, st.Active.Containers, humanSize(st.Active.Bytes))
	if in := st.Inactive; in != nil {
		fmt.Fprintf(tw, "%s\tinactive\t%d\t%d\t%s\n", in.Kind, in.Images, in.Containers, humanSize(in.Bytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case st.Inactive == nil:
		fmt.Fprintf(w, "\nThe inactive store could not be read: %s\n", st.InactiveError)
	case st.Inactive.Images > 0 || st.Inactive.Containers > 0:
		names := st.Inactive.Names
		more := ""
		if len(names) > 10 {
			names, more = names[:10], fmt.Sprintf(" and %d more", len(st.Inactive.Names)-10)
		}
		fmt.Fprintf(w, "\nThe %s store is hidden while %s is active, and still takes %s: %s%s\n",
			st.Inactive.Kind, st.Active.Kind, humanSize(st.Inactive.Bytes), strings.Join(names, ", "), more)
	}
	return nil
}

func humanSize(n int64) string { return units.HumanSize(float64(n)) }
