package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	dockerclient "github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
)

type migrateOptions struct {
	to, from, bundle, step string
	daemonJSON, restartCmd string
	containers, pause      bool
	pruneSource, yes       bool
	dryRun                 bool
}

func newMigrateCommand(env *Env) *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate --to containerd|classic|ENGINE",
		Short: "Move images (and containers, as images) to the other image store without losing any",
		Long: `Moves every tagged image, and with --containers every container committed to an
image named xbuild-migrated/NAME, into the other image store, through a bundle
folder: export, switch (in place: daemon.json and a restart), import, verify,
report. --to containerd|classic switches the engine in place; --to ENGINE moves
to another running engine (give the source with --from). Each step can run
alone (--step) and the whole can run again after an interruption. Volumes and
networks are never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrate(cmd.Context(), env, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", `Target: "containerd" or "classic" (this engine, switched in place), or another engine's address`)
	f.StringVar(&o.from, "from", "", "Source engine (default: the current Docker context)")
	f.StringVar(&o.bundle, "bundle", "", "Bundle folder (default: $XBUILD_CONFIG/migrate/bundle)")
	f.StringVar(&o.step, "step", "all", `Step to run: "export", "switch", "import", "report" or "all"`)
	f.StringVar(&o.daemonJSON, "daemon-json", "/etc/docker/daemon.json", "The engine's daemon.json (in-place switch)")
	f.StringVar(&o.restartCmd, "restart-cmd", "", "Command that restarts the engine (default: systemctl restart docker when systemd runs it)")
	f.BoolVar(&o.containers, "containers", false, "Also commit every container to an image and move it")
	f.BoolVar(&o.pause, "pause", false, "Pause running containers while committing them")
	f.BoolVar(&o.pruneSource, "prune-source", false, "Remove the moved items from the source once every one verified")
	f.BoolVarP(&o.yes, "yes", "y", false, "Do not ask before pruning")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the plan and the disk space it needs, change nothing")
	return cmd
}

func runMigrate(ctx context.Context, env *Env, o *migrateOptions) error {
	target, inPlace, err := o.check()
	if err != nil {
		return err
	}
	if o.bundle == "" {
		o.bundle = filepath.Join(env.ConfigDir(), "migrate", "bundle")
	}
	src, err := engineClient(env, o.from)
	if err != nil {
		return err
	}
	defer src.api.Close()
	fmt.Fprintln(env.Stderr, "volumes and networks are not touched")

	step := func(s string) bool { return o.step == "all" || o.step == s }
	if step("export") {
		if done, err := migrateExport(ctx, env, src, target, inPlace, o); done || err != nil {
			return err
		}
	}
	dst := src
	if inPlace && step("switch") {
		if err := switchStore(ctx, env, src, target, o); err != nil {
			return err
		}
	}
	if !inPlace {
		if dst, err = engineClient(env, o.to); err != nil {
			return err
		}
		defer dst.api.Close()
	}
	if !step("import") && !step("report") {
		return nil
	}
	return migrateImport(ctx, env, src, dst, inPlace, o)
}

// check reads --to and --step: the store to switch to in place, or
// another engine to move to.
func (o *migrateOptions) check() (target imagestore.Kind, inPlace bool, err error) {
	inPlace = true
	switch o.to {
	case "containerd", "classic":
		target = imagestore.Kind(o.to)
	case "":
		return "", false, errors.New("--to is required: containerd, classic, or another engine's address")
	default:
		if !strings.Contains(o.to, "://") {
			return "", false, fmt.Errorf("invalid --to %q: containerd, classic, or an engine address such as unix:///run/other.sock", o.to)
		}
		inPlace = false
		if o.from == "" {
			return "", false, errors.New("moving to another engine needs --from, the source engine's address")
		}
	}
	switch o.step {
	case "all", "export", "switch", "import", "report":
	default:
		return "", false, fmt.Errorf("invalid --step %q: export, switch, import, report or all", o.step)
	}
	return target, inPlace, nil
}

// migrateExport writes the bundle; done says the command ends there (a
// dry run).
func migrateExport(ctx context.Context, env *Env, src engineConn, target imagestore.Kind, inPlace bool, o *migrateOptions) (done bool, err error) {
	m, err := imagestore.Export(ctx, src.api, src.host, o.bundle, imagestore.ExportOptions{
		Containers: o.containers, Pause: o.pause, DryRun: o.dryRun, Warn: env.Stderr})
	if err != nil {
		return false, fmt.Errorf("exporting from %s: %w", src.host, err)
	}
	fmt.Fprintf(env.Stdout, "export: %d items from the %s store of %s into %s (about %s)\n",
		len(m.Items), m.SourceStore, src.host, o.bundle, humanSize(m.NeededBytes()))
	if o.dryRun {
		for _, it := range m.Items {
			fmt.Fprintf(env.Stdout, "  %s\n", it.Name)
		}
		return true, nil
	}
	if inPlace && m.SourceStore == target && o.step == "all" {
		return false, fmt.Errorf("the engine at %s already uses the %s store", src.host, target)
	}
	return false, nil
}

// migrateImport loads the bundle into dst, reports, and prunes the source
// when asked and everything came through.
func migrateImport(ctx context.Context, env *Env, src, dst engineConn, inPlace bool, o *migrateOptions) error {
	m, err := imagestore.ReadManifest(o.bundle)
	if err != nil {
		return err
	}
	outcomes, importErr := imagestore.Import(ctx, dst.api, o.bundle, m)
	printReport(env, outcomes)
	if importErr != nil {
		return fmt.Errorf("importing into %s: %w; nothing was pruned", dst.host, importErr)
	}
	if o.pruneSource {
		return pruneSource(ctx, env, src, m, inPlace, o.yes)
	}
	return nil
}

type engineConn struct {
	api  *dockerclient.Client
	host string
}

func engineClient(env *Env, host string) (engineConn, error) {
	ep, err := engine.Current(env.Getenv)
	if host != "" {
		ep, err = engine.Endpoint{Context: engine.DefaultContext, Host: host}, nil
	}
	if err != nil {
		return engineConn{}, err
	}
	api, err := ep.Client()
	return engineConn{api: api, host: ep.Host}, err
}

// switchStore flips the store in daemon.json and restarts the engine when
// it knows how; otherwise it says exactly what to do and stops.
func switchStore(ctx context.Context, env *Env, e engineConn, target imagestore.Kind, o *migrateOptions) error {
	if k, err := imagestore.Detect(ctx, e.api); err == nil && k == target {
		fmt.Fprintf(env.Stdout, "switch: %s already uses the %s store\n", e.host, target)
		return nil
	}
	if err := imagestore.SetContainerdSnapshotter(o.daemonJSON, target == imagestore.Containerd); err != nil {
		return fmt.Errorf("switching the store in %s: %w", o.daemonJSON, err)
	}
	restart := o.restartCmd
	if restart == "" && exec.Command("systemctl", "is-active", "--quiet", "docker").Run() == nil {
		restart = "systemctl restart docker"
	}
	if restart == "" {
		return fmt.Errorf("%s now selects the %s store; restart the engine, then run: xbuild store migrate --to %s --step import --bundle %s",
			o.daemonJSON, target, target, o.bundle)
	}
	fmt.Fprintf(env.Stdout, "switch: %s set to the %s store; restarting with: %s\n", o.daemonJSON, target, restart)
	cmd := exec.CommandContext(ctx, "sh", "-c", restart)
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("restarting the engine (%s): %w", restart, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if k, err := imagestore.Detect(ctx, e.api); err == nil {
			if k != target {
				return fmt.Errorf("the engine came back with the %s store, not %s: check %s", k, target, o.daemonJSON)
			}
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the engine at %s did not answer within 2 minutes of the restart", e.host)
}

func printReport(env *Env, outcomes []imagestore.Outcome) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFROM CONTAINER\tSTATUS\tREASON")
	moved, present, failed := 0, 0, 0
	for _, o := range outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Item.Name, o.Item.Container, o.Status, o.Reason)
		switch o.Status {
		case "moved":
			moved++
		case "present":
			present++
		default:
			failed++
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(env.Stdout, "%d moved, %d already present, %d failed\n", moved, present, failed)
}

func pruneSource(ctx context.Context, env *Env, src engineConn, m *imagestore.Manifest, inPlace, yes bool) error {
	what := fmt.Sprintf("remove %d migrated items from %s", len(m.Items), src.host)
	if inPlace {
		what = fmt.Sprintf("free the %s store %s no longer uses (all %d items verified in the new one)", m.SourceStore, src.host, len(m.Items))
	}
	if !yes {
		fmt.Fprintf(env.Stderr, "%s? [y/N] ", what)
		line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("pruning not confirmed: nothing removed")
		}
	}
	if inPlace {
		done, err := imagestore.PruneInactive(ctx, src.api)
		if err != nil {
			return fmt.Errorf("freeing the old store: %w", err)
		}
		fmt.Fprintln(env.Stdout, done)
		return nil
	}
	if err := imagestore.Prune(ctx, src.api, m); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "pruned %d items from %s\n", len(m.Items), src.host)
	return nil
}
