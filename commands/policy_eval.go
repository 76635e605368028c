package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/buildx/util/sourcemeta"
	"github.com/moby/buildkit/frontend/dockerui"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/xbuild/xbuild/builder"
)

// policyEvalOptions are the flags of `xbuild policy eval`.
type policyEvalOptions struct {
	file     string
	print    bool
	fields   []string
	platform string
}

// maxPolicyRounds bounds the rounds of metadata a policy may ask for.
const maxPolicyRounds = 5

func newPolicyEvalCommand(env *Env, builderName *string) *cobra.Command {
	var o policyEvalOptions
	cmd := &cobra.Command{
		Use:   "eval [OPTIONS] source",
		Short: "Evaluate policy for a source",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyEval(cmd.Context(), env, *builderName, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "Dockerfile", "Policy filename to evaluate")
	f.BoolVar(&o.print, "print", false, "Print policy output")
	f.StringSliceVar(&o.fields, "fields", nil, "Fields to evaluate")
	f.StringVar(&o.platform, "platform", "", "Target platform for policy evaluation")
	// buildx's former name of --file.
	f.StringVar(&o.file, "filename", "Dockerfile", "Policy filename to evaluate")
	_ = f.MarkHidden("filename")
	return cmd
}

// runPolicyEval checks the source and the policy file before it connects
// to the builder.
func runPolicyEval(ctx context.Context, env *Env, builderName, source string, o policyEvalOptions) error {
	src, err := parsePolicySource(source)
	if err != nil {
		return err
	}
	var plat *ocispecs.Platform
	if o.platform != "" {
		p, err := platforms.Parse(o.platform)
		if err != nil {
			return fmt.Errorf("invalid platform %q: %w", o.platform, err)
		}
		p = platforms.Normalize(p)
		plat = &p
	}
	var file builder.PolicyFile
	if !o.print {
		if file, err = readEvalPolicy(env.Stdin, o.file); err != nil {
			return err
		}
	}
	r, err := newPolicyResolver(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer r.close()
	if plat == nil {
		plat = &r.platform
	}
	verifier := policy.SignatureVerifier(confutil.NewConfig(nil, confutil.WithDir(env.ConfigDir())))
	if o.print {
		return printPolicyInput(ctx, env.Stdout, r.meta, verifier, src, plat, o.fields)
	}
	p := policy.NewPolicy(policy.Opt{
		Files:            []policy.File{{Filename: filepath.Base(file.Name), Data: file.Data}},
		Env:              policy.Env{Filename: filepath.Base(strings.TrimSuffix(file.Name, ".rego"))},
		Log:              func(_ logrus.Level, msg string) { logrus.Debug(msg) },
		FS:               builder.PolicyFS("."),
		VerifierProvider: verifier,
		DefaultPlatform:  plat,
		SourceResolver:   r.meta,
	})
	decision, err := decide(ctx, p.CheckPolicy, r.meta, src, plat)
	if err != nil {
		return err
	}
	return decisionError(decision)
}

// readEvalPolicy reads NAME.rego, or the policy from stdin for "-".
func readEvalPolicy(stdin io.Reader, name string) (builder.PolicyFile, error) {
	if name == "" {
		return builder.PolicyFile{}, errors.New("filename is required")
	}
	if name == "-" {
		dt, err := io.ReadAll(stdin)
		if err != nil {
			return builder.PolicyFile{}, fmt.Errorf("reading policy from stdin: %w", err)
		}
		return builder.PolicyFile{Name: "stdin", Data: dt}, builder.ParsePolicyFile("stdin", dt)
	}
	path := name + ".rego"
	dt, err := os.ReadFile(path)
	if err != nil {
		return builder.PolicyFile{}, fmt.Errorf("failed to read policy file %s: %w", path, errors.Unwrap(err))
	}
	return builder.PolicyFile{Name: path, Data: dt}, builder.ParsePolicyFile(path, dt)
}

// decide asks check about src, resolving the metadata it asks for, as the
// daemon does during a build.
func decide(ctx context.Context, check policysession.PolicyCallback, meta *sourcemeta.Resolver, src *pb.SourceOp, plat *ocispecs.Platform) (*policysession.DecisionResponse, error) {
	pbPlat := &pb.Platform{OS: plat.OS, Architecture: plat.Architecture, Variant: plat.Variant}
	req := &gwpb.ResolveSourceMetaResponse{Source: src}
	for range maxPolicyRounds {
		decision, next, err := check(ctx, &policysession.CheckPolicyRequest{Platform: pbPlat, Source: req})
		if err != nil {
			return nil, err
		}
		if next == nil {
			return decision, nil
		}
		target := src
		if next.Source != nil {
			target = next.Source
		}
		resp, err := meta.ResolveSourceMetadata(ctx, target, sourcemeta.ToResolverOpt(next, plat))
		if err != nil {
			return nil, fmt.Errorf("resolving metadata of %s: %w", target.Identifier, err)
		}
		req = sourcemeta.ToGatewayMetaResponse(resp)
	}
	return nil, errors.New("maximum attempts reached for resolving policy metadata")
}

// decisionError is nil for a source allowed (or converted), and buildx's
// "policy denied" error with the policy's messages otherwise.
func decisionError(d *policysession.DecisionResponse) error {
	if d == nil {
		return errors.New("policy returned no decision")
	}
	switch d.Action {
	case spb.PolicyAction_ALLOW, spb.PolicyAction_CONVERT:
		return nil
	case spb.PolicyAction_DENY:
		var msgs []string
		for _, m := range d.DenyMessages {
			if m.GetMessage() != "" {
				msgs = append(msgs, m.GetMessage())
			}
		}
		if len(msgs) == 0 {
			return errors.New("policy denied")
		}
		return fmt.Errorf("policy denied: %s", strings.Join(msgs, "; "))
	}
	return fmt.Errorf("unknown policy action %s", d.Action)
}

// parsePolicySource reads a source as buildx's policy eval does: an image
// (docker-image://REF), a Git or HTTP URL, or a local path.
func parsePolicySource(in string) (*pb.SourceOp, error) {
	if ref, ok := strings.CutPrefix(in, "docker-image://"); ok {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, fmt.Errorf("failed to parse image source reference: %w", err)
		}
		return &pb.SourceOp{Identifier: "docker-image://" + reference.TagNameOnly(named).String()}, nil
	}
	if strings.HasPrefix(in, "git://") {
		if _, ok, err := dockerui.DetectGitContext(in, nil); !ok || err != nil {
			return nil, fmt.Errorf("invalid git context %s", in)
		}
		return &pb.SourceOp{Identifier: in}, nil
	}
	if strings.HasPrefix(in, "http://") || strings.HasPrefix(in, "https://") {
		if _, ok, _ := dockerui.DetectGitContext(in, nil); ok {
			return &pb.SourceOp{Identifier: "git://" + in, Attrs: map[string]string{"git.fullurl": in}}, nil
		}
		return &pb.SourceOp{Identifier: in}, nil
	}
	if _, err := os.Stat(in); err != nil {
		return nil, fmt.Errorf("invalid local path %s: %w", in, errors.Unwrap(err))
	}
	return &pb.SourceOp{Identifier: "local://context"}, nil
}

// printPolicyInput prints the input a policy sees for src, with the
// metadata --fields names resolved.
func printPolicyInput(ctx context.Context, w io.Writer, meta *sourcemeta.Resolver, verifier policy.PolicyVerifierProvider, src *pb.SourceOp, plat *ocispecs.Platform, fields []string) error {
	input, err := policy.SourceToInput(ctx, verifier, &gwpb.ResolveSourceMetaResponse{Source: src}, plat, nil)
	if err != nil {
		return err
	}
	pbPlat := &pb.Platform{OS: plat.OS, Architecture: plat.Architecture, Variant: plat.Variant}
	var unresolved []string
	asked := map[string]bool{}
	for range maxPolicyRounds {
		unknowns := trimInputPrefix(input.Unknowns())
		reload, invalid := partitionFields(fields, unknowns)
		unresolved = slices.DeleteFunc(invalid, func(f string) bool { return asked[f] })
		for _, f := range fields {
			asked[f] = asked[f] || !slices.Contains(invalid, f)
		}
		if len(reload) == 0 {
			break
		}
		retry, next, err := policy.ResolveInputUnknowns(ctx, &input, src, reload, pbPlat, plat, meta, verifier, nil)
		if err != nil {
			return err
		}
		if next != nil {
			resp, err := meta.ResolveSourceMetadata(ctx, src, sourcemeta.ToResolverOpt(next, plat))
			if err != nil {
				return fmt.Errorf("resolving metadata of %s: %w", src.Identifier, err)
			}
			if input, err = policy.SourceToInput(ctx, verifier, sourcemeta.ToGatewayMetaResponse(resp), plat, nil); err != nil {
				return err
			}
			continue
		}
		if !retry {
			break
		}
	}
	if len(unresolved) > 0 {
		logrus.Warnf("invalid fields: %v", strings.Join(unresolved, ", "))
	}
	input.Env.Depth = 0
	dt, err := json.MarshalIndent(input, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to marshal policy input: %w", err)
	}
	_, err = fmt.Fprintln(w, string(dt))
	return err
}

func trimInputPrefix(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.TrimPrefix(s, "input.")
	}
	return out
}

// partitionFields splits the fields asked for into those still unknown
// (or below an unknown field), to resolve, and those that are not.
func partitionFields(fields, unknowns []string) (reload, invalid []string) {
	for _, f := range fields {
		i := slices.IndexFunc(unknowns, func(u string) bool {
			return f == u || strings.HasPrefix(f, u+".") || strings.HasPrefix(f, u+"[")
		})
		if i < 0 {
			invalid = append(invalid, f)
			continue
		}
		if !slices.Contains(reload, unknowns[i]) {
			reload = append(reload, unknowns[i])
		}
	}
	return reload, invalid
}
