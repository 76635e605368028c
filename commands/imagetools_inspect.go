package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
	"github.com/xbuild/xbuild/imagetools"
)

type imagetoolsInspectOptions struct {
	raw    bool
	local  bool
	format string
}

func newImagetoolsInspectCommand(env *Env) *cobra.Command {
	var o imagetoolsInspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME",
		Short: "Show an image's index, platforms and attestations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagetoolsInspect(cmd.Context(), env, args[0], &o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "Print the index or manifest exactly as stored")
	f.BoolVar(&o.local, "local", false, "Read the image from the local image store (containerd store) instead of its registry")
	f.StringVar(&o.format, "format", "", "Go template, with buildx's fields: {{json .Manifest}}, {{json .Image}}, {{json .Provenance}}, {{json .SBOM}}, {{.Name}}")
	return cmd
}

// wholeManifest is the template buildx prints as text rather than runs.
var wholeManifest = regexp.MustCompile(`^\{\{\s*\.Manifest\s*\}\}$`)

func runImagetoolsInspect(ctx context.Context, env *Env, ref string, o *imagetoolsInspectOptions) error {
	if o.raw && o.format != "" {
		return errors.New("--raw and --format cannot be used together: keep one")
	}
	var tmpl *template.Template
	asText := wholeManifest.MatchString(strings.TrimSpace(o.format))
	if o.format != "" && !asText {
		var err error
		tmpl, err = template.New("format").Funcs(template.FuncMap{"json": toJSON}).Parse(o.format)
		if err != nil {
			return fmt.Errorf("invalid --format: %w", err)
		}
	}
	if o.raw {
		raw, err := inspectFrom(ctx, env, o.local, func(ctx context.Context, src imagetools.Source) ([]byte, error) {
			_, root, err := src.Resolve(ctx, ref)
			if err != nil {
				return nil, err
			}
			return src.Fetch(ctx, root)
		})
		if err != nil {
			return err
		}
		// Exactly as stored, no newline added: the output hashes to the
		// digest, as buildx's does.
		_, err = env.Stdout.Write(raw)
		return err
	}
	res, err := inspectFrom(ctx, env, o.local, func(ctx context.Context, src imagetools.Source) (*imagetools.Result, error) {
		return imagetools.Inspect(ctx, src, ref)
	})
	if err != nil {
		return err
	}
	switch {
	case asText:
		return printManifestText(env.Stdout, res)
	case tmpl != nil:
		if err := tmpl.Execute(env.Stdout, res.View(ref)); err != nil {
			return fmt.Errorf("applying --format: %w", err)
		}
		_, err = fmt.Fprintln(env.Stdout)
		return err
	}
	return printInspection(env.Stdout, res)
}

// inspectFrom runs fn on the image's registry, or with local on the
// engine's containerd store. A name only the local store knows is read
// from there even without local; when neither has it, the registry's
// error is the one returned.
func inspectFrom[T any](ctx context.Context, env *Env, local bool, fn func(context.Context, imagetools.Source) (T, error)) (T, error) {
	if local {
		return fromLocal(ctx, env, fn)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := fn(rctx, imagetools.NewRegistry(registryCreds(env)))
	cancel()
	if err == nil {
		return v, nil
	}
	if lv, lerr := fromLocal(ctx, env, fn); lerr == nil {
		return lv, nil
	}
	return v, err
}

func fromLocal[T any](ctx context.Context, env *Env, fn func(context.Context, imagetools.Source) (T, error)) (T, error) {
	var zero T
	ep, err := engine.Current(env.Getenv)
	if err != nil {
		return zero, err
	}
	api, err := ep.Client()
	if err != nil {
		return zero, err
	}
	defer api.Close()
	d, err := imagestore.Describe(ctx, api)
	if err != nil {
		return zero, fmt.Errorf("docker engine at %s: %w", ep.Host, err)
	}
	if d.Kind != imagestore.Containerd {
		return zero, fmt.Errorf("the docker engine at %s keeps the classic image store, which holds no index or attestations: inspect the image in its registry instead", ep.Host)
	}
	if _, err := os.Stat(d.Location.Address); err != nil {
		return zero, fmt.Errorf("the engine's containerd socket %s is not on this host", d.Location.Address)
	}
	src, err := imagetools.NewLocal(d.Location.Address, d.Location.Namespace)
	if err != nil {
		return zero, err
	}
	defer src.Close()
	return fn(ctx, src)
}

// printManifestText prints what buildx prints for --format '{{.Manifest}}':
// the root, and for an index each manifest it lists, attestations
// included, by name@digest.
func printManifestText(out io.Writer, res *imagetools.Result) error {
	w := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	fmt.Fprintf(w, "Name:\t%s\nMediaType:\t%s\nDigest:\t%s\n", res.Name, res.Manifest.MediaType, res.Manifest.Digest)
	if res.Index == nil {
		return w.Flush()
	}
	fmt.Fprintf(w, "\t\nManifests:\t\n")
	if err := w.Flush(); err != nil {
		return err
	}
	named, _ := reference.ParseNormalizedNamed(res.Name)
	for i, m := range res.Index.Manifests {
		if i > 0 {
			fmt.Fprintln(out)
		}
		name := res.Name
		if named != nil {
			if d, err := reference.WithDigest(named, m.Digest); err == nil {
				name = d.String()
			}
		}
		if err := printManifestEntry(out, name, m); err != nil {
			return err
		}
	}
	return nil
}

func printManifestEntry(out io.Writer, name string, m ocispecs.Descriptor) error {
	w := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	fmt.Fprintf(w, "  Name:\t%s\n  MediaType:\t%s\n", name, m.MediaType)
	if p := m.Platform; p != nil {
		fmt.Fprintf(w, "  Platform:\t%s\n", platforms.Format(*p))
		if p.OSVersion != "" {
			fmt.Fprintf(w, "  OSVersion:\t%s\n", p.OSVersion)
		}
		if len(p.OSFeatures) > 0 {
			fmt.Fprintf(w, "  OSFeatures:\t%s\n", strings.Join(p.OSFeatures, ", "))
		}
	}
	if len(m.URLs) > 0 {
		fmt.Fprintf(w, "  URLs:\t%s\n", strings.Join(m.URLs, ", "))
	}
	if len(m.Annotations) > 0 {
		fmt.Fprintf(w, "  Annotations:\t\n")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// The annotations align among themselves, as buildx lays them out.
	keys := make([]string, 0, len(m.Annotations))
	for k := range m.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w = tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s:\t%s\n", k, m.Annotations[k])
	}
	return w.Flush()
}

func printInspection(w io.Writer, res *imagetools.Result) error {
	fmt.Fprintf(w, "Name:      %s\nMediaType: %s\nDigest:    %s\n", res.Name, res.Manifest.MediaType, res.Manifest.Digest)
	if len(res.Platforms) == 0 {
		return errors.New("the image has no platform manifest")
	}
	fmt.Fprintln(w, "\nManifests:")
	for i, p := range res.Platforms {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  Platform:     %s\n  Digest:       %s\n", p.Platform, p.Manifest.Digest)
		if p.Attestations != nil {
			fmt.Fprintf(w, "  Attestations: %s\n", p.Attestations.Digest)
		}
		if prov := res.Provenance[p.Platform]; prov != nil {
			fmt.Fprintf(w, "  Provenance:   %s\n", prov.PredicateType)
			if prov.Builder != "" {
				fmt.Fprintf(w, "    Builder:    %s\n", prov.Builder)
			}
			if prov.Source != "" {
				fmt.Fprintf(w, "    Source:     %s\n", prov.Source)
			}
			if len(prov.BuildArgs) > 0 {
				var args []string
				for k, v := range prov.BuildArgs {
					args = append(args, k+"="+v)
				}
				sort.Strings(args)
				fmt.Fprintf(w, "    Build args: %s\n", strings.Join(args, " "))
			}
			for _, m := range prov.Materials {
				fmt.Fprintf(w, "    Material:   %s\n", m)
			}
		}
		if s := res.SBOM[p.Platform]; s != nil {
			fmt.Fprintf(w, "  SBOM:         %s\n", plural(len(s.Packages), "package"))
		}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
