package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
	"github.com/xbuild/xbuild/internal/atomicfile"
)

type historyExportOptions struct {
	output   string
	all      bool
	finalize bool
}

func newHistoryExportCommand(env *Env, builderName *string) *cobra.Command {
	var o historyExportOptions
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] [REF...]",
		Short: "Export build records into Docker Desktop bundle",
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all && len(args) > 0 {
				return errors.New("give either --all or build references, not both")
			}
			return runHistoryExport(cmd, env, *builderName, args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Output file path")
	f.BoolVar(&o.all, "all", false, "Export all build records for the builder")
	f.BoolVar(&o.finalize, "finalize", false, "Ensure build records are finalized before exporting")
	return cmd
}

func runHistoryExport(cmd *cobra.Command, env *Env, builderName string, refs []string, o *historyExportOptions) error {
	if err := checkHistoryRefs(refs); err != nil {
		return err
	}
	if o.output == "" && historyIsTerminal(env.Stdout) {
		return errors.New("refusing to write a build bundle to the terminal: give -o FILE or redirect stdout")
	}
	ctx := cmd.Context()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	recs, err := historyExportRecords(cmd, src, refs, o)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := history.Export(ctx, recs, &buf); err != nil {
		return err
	}
	if o.output == "" {
		_, err := buf.WriteTo(env.Stdout)
		return err
	}
	// Written whole and renamed, so a failed export leaves no half file.
	if err := atomicfile.Write(o.output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing build bundle %s: %w", o.output, err)
	}
	return nil
}

// historyExportRecords finds the completed records to export: those named,
// every one with --all, else the newest.
func historyExportRecords(cmd *cobra.Command, src *history.Source, refs []string, o *historyExportOptions) ([]*history.Record, error) {
	ctx := cmd.Context()
	var recs []*history.Record
	if o.all {
		var err error
		if recs, err = src.List(ctx, history.Query{CompletedOnly: true, All: true}); err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%w on builder %q", history.ErrNoRecord, src.Builder)
		}
	}
	if len(refs) == 0 && !o.all {
		refs = []string{""}
	}
	for _, ref := range refs {
		rec, err := findHistoryRecord(ctx, cmd, src, ref, true)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	recs = uniqueHistoryRecords(recs)
	if o.finalize {
		return finalizeHistoryRecords(ctx, src, recs)
	}
	return recs, nil
}

// finalizeHistoryRecords has every record without a trace written out, so
// the bundle carries its trace.
func finalizeHistoryRecords(ctx context.Context, src *history.Source, recs []*history.Record) ([]*history.Record, error) {
	for i, rec := range recs {
		if rec.Trace != nil {
			continue
		}
		var err error
		if recs[i], err = src.Finalize(ctx, rec); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func newHistoryImportCommand(env *Env) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] [-]",
		Short: "Import build records into Docker Desktop",
		Long: `Import build records from .dockerbuild bundles into Docker Desktop.

BuildKit has no API that adds records to a builder's history, so, as with
buildx, Docker Desktop's build backend is the one place records are imported
into. The bundle is checked before it is sent.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "-") {
				return fmt.Errorf("import takes no arguments but - (stdin): give bundles with -f FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistoryImport(cmd.Context(), env, files)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "Import from a file path (- for stdin)")
	return cmd
}

// runHistoryImport reads and checks every bundle before it sends any.
func runHistoryImport(ctx context.Context, env *Env, files []string) error {
	if len(files) == 0 {
		files = []string{"-"}
	}
	bundles := make([][]byte, len(files))
	for i, name := range files {
		dt, err := readHistoryBundle(env, name)
		if err != nil {
			return err
		}
		bundles[i] = dt
	}
	for i, dt := range bundles {
		links, err := history.Import(ctx, dt)
		if errors.Is(err, history.ErrNoDesktop) {
			return fmt.Errorf("importing %s: %w; BuildKit cannot add records to a builder's history, so records are imported into Docker Desktop only", historyBundleName(files[i]), err)
		}
		if err != nil {
			return fmt.Errorf("importing %s: %w", historyBundleName(files[i]), err)
		}
		for _, l := range links {
			fmt.Fprintln(env.Stderr, l)
		}
	}
	return nil
}

func historyBundleName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// readHistoryBundle reads a bundle from a file or stdin, and checks it.
func readHistoryBundle(env *Env, name string) ([]byte, error) {
	var dt []byte
	var err error
	if name == "-" {
		if f, ok := env.Stdin.(*os.File); ok && historyIsTerminal(f) {
			return nil, errors.New("import reads a bundle from stdin, which is a terminal: give -f FILE or redirect stdin")
		}
		dt, err = io.ReadAll(env.Stdin)
	} else {
		dt, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading build bundle %s: %w", historyBundleName(name), err)
	}
	if _, err := history.ReadBundle(bytes.NewReader(dt)); err != nil {
		return nil, fmt.Errorf("reading build bundle %s: %w", historyBundleName(name), err)
	}
	return dt, nil
}
