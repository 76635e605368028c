package builder

import (
	"context"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
)

// buildKitSBOMGenerator is the generator BuildKit's Dockerfile frontend uses
// when none is named: an image on Docker Hub, which offline machines cannot
// pull, hence xbuild's own default (XBUILD_SBOM_GENERATOR, or per builder).
const buildKitSBOMGenerator = "docker.io/docker/buildkit-syft-scanner:stable-1"

// ValidateSBOMGenerator checks that ref names an image.
func ValidateSBOMGenerator(ref string) error {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("%q is not an image reference: %w", ref, err)
	}
	return nil
}

// sbomParams adds the default generator to the frontend's SBOM parameters
// when they name none, and returns the generator the build will run with
// (normalized, as BuildKit reports it) and where that choice came from.
func sbomParams(params, generator, from string) (newParams, used, source string, err error) {
	for _, f := range strings.Split(params, ",") {
		if v, ok := strings.CutPrefix(f, "generator="); ok {
			if err := ValidateSBOMGenerator(v); err != nil {
				return "", "", "", fmt.Errorf("SBOM generator from --sbom generator=: %w", err)
			}
			return params, normalizedRef(v), "--sbom generator=", nil
		}
	}
	if generator == "" {
		return params, buildKitSBOMGenerator, "BuildKit's default", nil
	}
	if err := ValidateSBOMGenerator(generator); err != nil {
		return "", "", "", fmt.Errorf("SBOM generator from %s: %w", from, err)
	}
	if params != "" {
		params += ","
	}
	return params + "generator=" + generator, normalizedRef(generator), from, nil
}

func normalizedRef(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.TagNameOnly(named).String()
}

// checkSBOMGenerator resolves the build's SBOM generator on its node before
// the solve. BuildKit reports a generator it cannot pull only as a failed
// image lookup midway through the build; asked first, the failure is known
// to be the generator's, without reading it out of the error's text.
func checkSBOMGenerator(ctx context.Context, c *bkclient.Client, p *Plan, attachables []session.Attachable) error {
	if p.SBOMGenerator == "" {
		return nil
	}
	_, err := c.Build(ctx, bkclient.SolveOpt{Session: attachables}, "", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		_, _, _, err := gw.ResolveImageConfig(ctx, p.SBOMGenerator, sourceresolver.Opt{
			LogName: "[internal] load metadata for SBOM generator " + p.SBOMGenerator,
		})
		return nil, err
	}, nil)
	if err != nil && ctx.Err() == nil {
		return sbomGeneratorError(err, p)
	}
	return err
}

// sbomGeneratorError explains a build that could not use its SBOM
// generator: which one, where the choice came from, how to choose another.
func sbomGeneratorError(err error, p *Plan) error {
	return fmt.Errorf("SBOM generator %s (from %s) could not be used: %w; name a reachable one with --sbom=generator=REF, XBUILD_SBOM_GENERATOR or `xbuild create --sbom-generator`, or build without --sbom",
		p.SBOMGenerator, p.SBOMGeneratorFrom, err)
}
