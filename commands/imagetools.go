package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/containerd/log"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/engine"
	"github.com/xbuild/xbuild/imagestore"
	"github.com/xbuild/xbuild/imagetools"
)

func newImagetoolsCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "imagetools",
		Short: "Inspect images, and assemble indexes from images in registries",
	}
	var raw, local bool
	var format string
	inspect := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME",
		Short: "Show an image's index, platforms and attestations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagetoolsInspect(cmd.Context(), env, args[0], raw, local, format)
		},
	}
	f := inspect.Flags()
	f.BoolVar(&raw, "raw", false, "Print the index or manifest as stored")
	f.BoolVar(&local, "local", false, "Read the image from the local image store (containerd store) instead of its registry")
	f.StringVar(&format, "format", "", "Go template over the result ({{json .}}, {{json .Provenance}}, {{json .SBOM}})")
	cmd.AddCommand(inspect, newImagetoolsCreateCommand(env))
	return cmd
}

type imagetoolsCreateOptions struct {
	tags        []string
	annotations []string
	dryRun      bool
}

func newImagetoolsCreateCommand(env *Env) *cobra.Command {
	var o imagetoolsCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] SOURCE [SOURCE...]",
		Short: "Create an image index from existing images and push it",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagetoolsCreate(cmd.Context(), env, args, &o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "Name to push the index under (repeatable)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "Annotation for the index: KEY=VALUE or index:KEY=VALUE (repeatable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the index instead of pushing it")
	return cmd
}

// runImagetoolsCreate checks every argument and reads every source before
// it pushes anything.
func runImagetoolsCreate(ctx context.Context, env *Env, sources []string, o *imagetoolsCreateOptions) error {
	if len(sources) == 0 {
		return errors.New("at least one source image is required")
	}
	if len(o.tags) == 0 && !o.dryRun {
		return errors.New("at least one -t/--tag is required (or --dry-run)")
	}
	tags := make([]reference.NamedTagged, 0, len(o.tags))
	for _, t := range o.tags {
		tag, err := imagetools.ParseTag(t)
		if err != nil {
			return err
		}
		tags = append(tags, tag)
	}
	annotations, err := parseIndexAnnotations(o.annotations)
	if err != nil {
		return err
	}
	ctx = quietRegistryLog(ctx, env.Stderr)
	creds := registryCreds(env)
	inputs := make([]imagetools.Input, len(sources))
	for i, s := range sources {
		inputs[i] = imagetools.Input{Ref: s, Source: imagetools.NewRegistry(creds)}
	}
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: annotations})
	if err != nil {
		return err
	}
	if o.dryRun {
		_, err := fmt.Fprintln(env.Stdout, string(idx.Raw))
		return err
	}
	if err := imagetools.Push(ctx, idx, tags, creds); err != nil {
		return err
	}
	for _, t := range tags {
		fmt.Fprintf(env.Stderr, "pushed %s@%s\n", reference.FamiliarString(t), idx.Desc.Digest)
	}
	return nil
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

// parseIndexAnnotations reads --annotation values. Only the index is
// annotated: annotating a manifest would rewrite a source image.
func parseIndexAnnotations(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		key, value, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("invalid --annotation %q: want KEY=VALUE", v)
		}
		if kind, k, typed := strings.Cut(key, ":"); typed {
			if kind != "index" {
				return nil, fmt.Errorf("invalid --annotation %q: only index annotations can be set on a created index", v)
			}
			key = k
		}
		if key == "" {
			return nil, fmt.Errorf("invalid --annotation %q: empty key", v)
		}
		out[key] = value
	}
	return out, nil
}

func runImagetoolsInspect(ctx context.Context, env *Env, ref string, raw, local bool, format string) error {
	var tmpl *template.Template
	if format != "" {
		var err error
		tmpl, err = template.New("format").Funcs(template.FuncMap{"json": toJSON}).Parse(format)
		if err != nil {
			return fmt.Errorf("invalid --format: %w", err)
		}
	}
	var res *imagetools.Result
	var err error
	if !local {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err = imagetools.Inspect(rctx, imagetools.NewRegistry(registryCreds(env)), ref)
		cancel()
		if err != nil {
			// A name only the local store knows is read from there.
			lres, lerr := inspectLocal(ctx, env, ref)
			if lerr != nil {
				return err
			}
			res, err = lres, nil
		}
	} else {
		res, err = inspectLocal(ctx, env, ref)
	}
	if err != nil {
		return err
	}
	switch {
	case raw:
		_, err = fmt.Fprintln(env.Stdout, string(res.Raw))
		return err
	case tmpl != nil:
		if err := tmpl.Execute(env.Stdout, res); err != nil {
			return fmt.Errorf("applying --format: %w", err)
		}
		_, err = fmt.Fprintln(env.Stdout)
		return err
	}
	return printInspection(env.Stdout, res)
}

func inspectLocal(ctx context.Context, env *Env, ref string) (*imagetools.Result, error) {
	ep, err := engine.Current(env.Getenv)
	if err != nil {
		return nil, err
	}
	api, err := ep.Client()
	if err != nil {
		return nil, err
	}
	defer api.Close()
	d, err := imagestore.Describe(ctx, api)
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %w", ep.Host, err)
	}
	if d.Kind != imagestore.Containerd {
		return nil, fmt.Errorf("the docker engine at %s keeps the classic image store, which holds no index or attestations: inspect the image in its registry instead", ep.Host)
	}
	if _, err := os.Stat(d.Location.Address); err != nil {
		return nil, fmt.Errorf("the engine's containerd socket %s is not on this host", d.Location.Address)
	}
	src, err := imagetools.NewLocal(d.Location.Address, d.Location.Namespace)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return imagetools.Inspect(ctx, src, ref)
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
