package commands

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/buildx/replay"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// printReplayPlan prints a dry run's plan as buildx's pretty format lays
// it out: per subject its platform and digest, the build configuration,
// the verified signer if any, and the materials.
func printReplayPlan(out io.Writer, plan *replay.BuildPlan) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Replay plan")
	for i, s := range plan.Subjects {
		fmt.Fprintf(tw, "\nSubject %d/%d\n", i+1, len(plan.Subjects))
		planField(tw, "Platform", planPlatform(s.Descriptor.Platform))
		planField(tw, "Digest", s.Descriptor.Digest.String())
		fmt.Fprintln(tw, "\nBuild configuration")
		cfg := s.BuildConfig
		planField(tw, "Frontend", cfg.Frontend)
		planField(tw, "Context", cfg.Context)
		planField(tw, "Dockerfile", cfg.Filename)
		planField(tw, "Target", cfg.Target)
		planField(tw, "Network", cfg.NetworkMode)
		planMap(tw, "Build args", cfg.BuildArgs)
		if len(cfg.Secrets) > 0 {
			ids := make([]string, len(cfg.Secrets))
			for i, sec := range cfg.Secrets {
				ids[i] = sec.ID
				if sec.Optional {
					ids[i] += " (optional)"
				}
			}
			planField(tw, "Secrets", "["+strings.Join(ids, " ")+"]")
		}
		planSignature(tw, s.Signature)
		fmt.Fprintf(tw, "\nMaterials (%d)\n", len(s.Materials))
		for _, m := range s.Materials {
			p := planPlatform(m.Platform)
			if p != "" {
				p = " [" + p + "]"
			}
			fmt.Fprintf(tw, "  %s%s\t%s\n", m.Kind, p, m.URI)
			if m.Digest != "" {
				fmt.Fprintf(tw, "  \t%s\n", m.Digest)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printing the replay plan: %w", err)
	}
	return nil
}

// planSignature prints who signed the provenance, when it was verified.
func planSignature(w io.Writer, sig *replay.SignatureVerification) {
	if sig == nil {
		return
	}
	fmt.Fprintf(w, "\n%s\n", sig.Type)
	planField(w, "Verified signer", sig.Identity)
	planField(w, "Signer identity", sig.SubjectAlternativeName)
	planField(w, "Certificate issuer", sig.CertificateIssuer)
	planField(w, "OIDC issuer", sig.Issuer)
	planField(w, "Runner environment", sig.RunnerEnvironment)
	planField(w, "Source repository", sig.SourceRepositoryURI)
	planField(w, "Source ref", sig.SourceRepositoryRef)
	if sig.BuildSignerURI != sig.SubjectAlternativeName {
		planField(w, "Build signer", sig.BuildSignerURI)
	}
	if len(sig.Timestamps) > 0 {
		fmt.Fprintln(w, "    TYPE\tTIME\tSOURCE")
	}
	names := map[string]string{"Tlog": "Transparency log", "TimestampAuthority": "Timestamp authority"}
	for _, ts := range sig.Timestamps {
		name := ts.Type
		if n, ok := names[ts.Type]; ok {
			name = n
		}
		fmt.Fprintf(w, "    %s\t%s\t%s\n", name, ts.Timestamp.Format(time.RFC3339), ts.URI)
	}
	planField(w, "Trust root warning", sig.TrustRootWarning)
}

func planField(w io.Writer, name, value string) {
	if value != "" {
		fmt.Fprintf(w, "  %s:\t%s\n", name, value)
	}
}

// planMap prints a map sorted by key, its name on the first line only.
func planMap(w io.Writer, name string, values map[string]string) {
	label := name + ":"
	for _, k := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(w, "  %s\t%s=%s\n", label, k, values[k])
		label = ""
	}
}

func planPlatform(p *ocispecs.Platform) string {
	if p == nil {
		return ""
	}
	return platforms.Format(*p)
}
