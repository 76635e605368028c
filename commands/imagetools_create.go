package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/imagetools"
	"github.com/xbuild/xbuild/internal/atomicfile"
)

type imagetoolsCreateOptions struct {
	tags         []string
	files        []string
	annotations  []string
	platforms    []string
	dryRun       bool
	appendTag    bool
	preferIndex  bool
	progress     string
	metadataFile string
}

func newImagetoolsCreateCommand(env *Env) *cobra.Command {
	var o imagetoolsCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SOURCE...]",
		Short: "Create an image index from existing images and push it",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagetoolsCreate(cmd.Context(), env, args, &o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "Name to push the index under (repeatable)")
	f.StringArrayVarP(&o.files, "file", "f", nil, "Read a source from a file: a name, a digest or an OCI descriptor in JSON (repeatable)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "Annotation: KEY=VALUE or TYPE[PLATFORM]:KEY=VALUE with TYPE index, manifest or manifest-descriptor (repeatable)")
	f.StringArrayVarP(&o.platforms, "platform", "p", nil, "Keep only the images for these platforms (repeatable, or a comma list)")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the index instead of pushing it")
	f.BoolVar(&o.appendTag, "append", false, "Add the sources to the image already under the first tag")
	f.BoolVar(&o.preferIndex, "prefer-index", true, "With a single source manifest, push an index holding it rather than the manifest as it is")
	f.StringVar(&o.progress, "progress", "auto", `Set type of progress output ("auto", "none", "plain", "quiet", "rawjson", "tty")`)
	f.StringVar(&o.metadataFile, "metadata-file", "", "Write the pushed index's descriptor and name to a file")
	return cmd
}

// createRequest is create's flags and arguments, every one checked.
type createRequest struct {
	tags     []reference.NamedTagged
	inputs   []imagetools.Input
	assemble imagetools.AssembleOptions
	display  progressui.Display
	// announce: print a line per pushed tag when the display is for
	// people (not quiet, not rawjson).
	announce     bool
	metadataFile string
	dryRun       bool
}

// runImagetoolsCreate checks every argument and reads every source before
// it pushes anything.
func runImagetoolsCreate(ctx context.Context, env *Env, args []string, o *imagetoolsCreateOptions) error {
	req, err := o.request(env, args)
	if err != nil {
		return err
	}
	ctx = quietRegistryLog(ctx, env.Stderr)
	creds := registryCreds(env)
	for i := range req.inputs {
		req.inputs[i].Source = imagetools.NewRegistry(creds)
	}
	idx, err := imagetools.Assemble(ctx, req.inputs, req.assemble)
	if err != nil {
		return err
	}
	if req.dryRun {
		_, err := fmt.Fprintln(env.Stdout, string(idx.Raw))
		return err
	}
	disp := startPushDisplay(ctx, req.display)
	err = imagetools.Push(ctx, idx, req.tags, creds, imagetools.WithProgress(disp))
	disp.close()
	if err != nil {
		return err
	}
	if req.metadataFile != "" {
		if err := writeCreateMetadata(req.metadataFile, idx, req.tags); err != nil {
			return err
		}
	}
	if req.announce {
		for _, t := range req.tags {
			fmt.Fprintf(env.Stderr, "pushed %s@%s\n", reference.FamiliarString(t), idx.Desc.Digest)
		}
	}
	return nil
}

// request reads and checks everything create was given, before anything
// is read from a registry.
func (o *imagetoolsCreateOptions) request(env *Env, args []string) (*createRequest, error) {
	if len(args) == 0 && len(o.files) == 0 {
		return nil, errors.New("at least one source image is required")
	}
	if len(o.tags) == 0 && !o.dryRun {
		return nil, errors.New("at least one -t/--tag is required (or --dry-run)")
	}
	if o.appendTag && len(o.tags) == 0 {
		return nil, errors.New("--append adds the sources to the image under the first -t/--tag: name one")
	}
	req := &createRequest{metadataFile: o.metadataFile, dryRun: o.dryRun}
	for _, t := range o.tags {
		tag, err := imagetools.ParseTag(t)
		if err != nil {
			return nil, err
		}
		req.tags = append(req.tags, tag)
	}
	var err error
	if req.inputs, err = o.sources(args, req.tags); err != nil {
		return nil, err
	}
	if req.assemble, err = o.assembleOptions(); err != nil {
		return nil, err
	}
	if err := checkMetadataFile(o.metadataFile); err != nil {
		return nil, err
	}
	if req.display, req.announce, err = o.display(env); err != nil {
		return nil, err
	}
	return req, nil
}

// sources reads the sources in buildx's order: the image under the first
// tag with --append, then the files, then the arguments.
func (o *imagetoolsCreateOptions) sources(args []string, tags []reference.NamedTagged) ([]imagetools.Input, error) {
	var inputs []imagetools.Input
	if o.appendTag {
		inputs = append(inputs, imagetools.Input{Ref: tags[0].String()})
	}
	for _, f := range o.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading source file: %w", err)
		}
		in, err := imagetools.ParseSource(string(data))
		if err != nil {
			return nil, fmt.Errorf("reading source file %s: %w", f, err)
		}
		inputs = append(inputs, in)
	}
	for _, a := range args {
		in, err := imagetools.ParseSource(a)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	if err := imagetools.PlaceSources(inputs, tags); err != nil {
		return nil, err
	}
	return inputs, nil
}

func (o *imagetoolsCreateOptions) assembleOptions() (imagetools.AssembleOptions, error) {
	plats, err := imagetools.ParsePlatforms(o.platforms)
	if err != nil {
		return imagetools.AssembleOptions{}, err
	}
	ann, err := imagetools.ParseAnnotations(o.annotations)
	if err != nil {
		return imagetools.AssembleOptions{}, err
	}
	single := imagetools.SingleCopyIndex
	if !o.preferIndex {
		single = imagetools.SingleCopy
	}
	return imagetools.AssembleOptions{
		Annotations:           ann.Index,
		ManifestAnnotations:   ann.Manifest,
		DescriptorAnnotations: ann.ManifestDescriptor,
		Platforms:             plats,
		Single:                single,
	}, nil
}

// display reads --progress as build does (BUILDKIT_PROGRESS for auto),
// none being quiet here too: create prints nothing else to keep.
func (o *imagetoolsCreateOptions) display(env *Env) (progressui.Display, bool, error) {
	s, err := readSettings(env.Getenv)
	if err != nil {
		return progressui.Display{}, false, err
	}
	flag := o.progress
	if flag == "none" {
		flag = string(progressui.QuietMode)
	}
	mode, err := s.progressMode(flag, false)
	if err != nil {
		return progressui.Display{}, false, err
	}
	d, err := progressui.NewDisplay(env.Stderr, mode)
	if err != nil {
		return progressui.Display{}, false, fmt.Errorf("--progress=%s: %w", mode, err)
	}
	return d, mode != progressui.QuietMode && mode != progressui.RawJSONMode, nil
}

// checkMetadataFile refuses a metadata file whose folder is missing
// before anything is pushed, rather than after.
func checkMetadataFile(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--metadata-file %s: the folder %s does not exist", path, dir)
	}
	return nil
}

// writeCreateMetadata writes what buildx writes for create: the pushed
// descriptor and the repositories, sorted and comma-separated.
func writeCreateMetadata(path string, idx *imagetools.Index, tags []reference.NamedTagged) error {
	var repos []string
	for _, t := range tags {
		if !slices.Contains(repos, t.Name()) {
			repos = append(repos, t.Name())
		}
	}
	slices.Sort(repos)
	data, err := json.MarshalIndent(map[string]any{
		exptypes.ExporterImageDescriptorKey: idx.Desc,
		exptypes.ExporterImageNameKey:       strings.Join(repos, ","),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the metadata: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("writing the metadata file: %w", err)
	}
	return nil
}
