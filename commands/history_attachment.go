package commands

import (
	"fmt"
	"slices"

	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder/history"
)

type historyAttachmentOptions struct {
	typ      string
	platform string
}

// historyAttachmentTypes are the short names --type takes, each standing
// for the types it matches; any other value is matched as it is.
var historyAttachmentTypes = map[string][]string{
	"index":      {ocispecs.MediaTypeImageIndex},
	"manifest":   {ocispecs.MediaTypeImageManifest},
	"image":      {ocispecs.MediaTypeImageConfig},
	"provenance": {"https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"},
	"sbom":       {"https://spdx.dev/Document"},
}

func newHistoryAttachmentCommand(env *Env, builderName *string) *cobra.Command {
	var o historyAttachmentOptions
	cmd := &cobra.Command{
		Use:   "attachment [OPTIONS] [REF [DIGEST]]",
		Short: "Inspect a build record attachment",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistoryAttachment(cmd, env, *builderName, args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.typ, "type", "", "Type of attachment: index, manifest, image, provenance, sbom, or a media or predicate type")
	f.StringVar(&o.platform, "platform", "", "Platform of attachment")
	return cmd
}

func runHistoryAttachment(cmd *cobra.Command, env *Env, builderName string, args []string, o *historyAttachmentOptions) error {
	ref := historyRefArg(args)
	if err := checkHistoryRefs([]string{ref}); err != nil {
		return err
	}
	var dgst digest.Digest
	if len(args) > 1 {
		var err error
		if dgst, err = digest.Parse(args[1]); err != nil {
			return fmt.Errorf("invalid digest %q: want ALGORITHM:HEX, as inspect lists them", args[1])
		}
	}
	var plat string
	if o.platform != "" {
		p, err := platforms.Parse(o.platform)
		if err != nil {
			return fmt.Errorf("invalid --platform %q: %w", o.platform, err)
		}
		plat = platforms.FormatAll(platforms.Normalize(p))
	}
	if dgst == "" && o.typ == "" && plat == "" {
		return fmt.Errorf("name the attachment: give --type, --platform or a DIGEST (see `%s history inspect`)", historyProg(cmd))
	}
	ctx := cmd.Context()
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	rec, err := findHistoryRecord(ctx, cmd, src, ref, false)
	if err != nil {
		return err
	}
	if dgst == "" {
		if dgst, err = pickHistoryAttachment(cmd, rec, o.typ, plat); err != nil {
			return err
		}
	}
	return history.WriteBlob(ctx, rec, dgst, env.Stdout)
}

// pickHistoryAttachment is the first of rec's attachments of the type and
// platform asked for.
func pickHistoryAttachment(cmd *cobra.Command, rec *history.Record, typ, plat string) (digest.Digest, error) {
	atts, err := history.Attachments(cmd.Context(), rec)
	if err != nil {
		return "", err
	}
	types, ok := historyAttachmentTypes[typ]
	if !ok && typ != "" {
		types = []string{typ}
	}
	for _, a := range atts {
		if plat != "" && (a.Platform == nil || platforms.FormatAll(platforms.Normalize(*a.Platform)) != plat) {
			continue
		}
		if typ != "" && !slices.Contains(types, a.Type()) {
			continue
		}
		return a.Descriptor.Digest, nil
	}
	what := "attachment"
	if typ != "" {
		what += " of type " + typ
	}
	if plat != "" {
		what += " for " + plat
	}
	return "", fmt.Errorf("build %s has no %s: list its attachments with `%s history inspect %s`", rec.Ref, what, historyProg(cmd), rec.Ref)
}
