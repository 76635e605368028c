package builder

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/content/proxy"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// MetadataProvenance is how much of a build's provenance the metadata file
// carries under buildx.build.provenance, as buildx users set it with
// BUILDX_METADATA_PROVENANCE.
type MetadataProvenance string

const (
	MetadataProvenanceDisabled MetadataProvenance = "disabled"
	// MetadataProvenanceMin leaves out the build steps and the timing,
	// which make the file large and change on every build.
	MetadataProvenanceMin MetadataProvenance = "min"
	MetadataProvenanceMax MetadataProvenance = "max"
)

// provenanceKey is the metadata key of one platform's provenance; a
// single-platform build has one without a platform.
const provenanceKey = "buildx.build.provenance"

// metadataProvenance adds the solve's provenance to resp, as much as the
// run asks for, and reports whether it did. The image is out already: a
// record that cannot be read costs the metadata file its provenance, not
// the build.
func (rn *runner) metadataProvenance(ctx context.Context, s *solve, resp map[string]string) bool {
	m := rn.opts.MetadataProvenance
	if m == "" || m == MetadataProvenanceDisabled {
		return false
	}
	st := rn.disp.progress().Step("resolving provenance for metadata file")
	defer st.Done(nil)
	records, err := readProvenance(ctx, s.part.conn.client, s.so.Ref, m)
	if err != nil {
		if rn.plan.split() {
			st.Log("warning: the metadata file has no provenance for %s: %v", s.part, err)
		} else {
			st.Log("warning: the metadata file has no provenance: %v", err)
		}
		return false
	}
	maps.Copy(resp, records)
	return true
}

// readProvenance reads the provenance BuildKit recorded for the build ref
// in its build history, by metadata key, as base64 JSON like the
// exporter's own values, so the metadata file embeds it as JSON.
func readProvenance(ctx context.Context, c *bkclient.Client, ref string, mode MetadataProvenance) (map[string]string, error) {
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{Ref: ref, EarlyExit: true})
	if err != nil {
		return nil, fmt.Errorf("reading the build record: %w", err)
	}
	store := proxy.NewContentStore(c.ContentClient())
	found := map[string]*controlapi.BuildResultInfo{}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the build record: %w", err)
		}
		if ev.Record == nil {
			continue
		}
		for platform, res := range ev.Record.Results {
			found[provenanceKey+"/"+platform] = res
		}
		if len(ev.Record.Results) == 0 && ev.Record.Result != nil {
			found[provenanceKey] = ev.Record.Result
		}
	}
	records := map[string]string{}
	for key, res := range found {
		desc, predicateType, ok := provenanceDescriptor(res)
		if !ok {
			continue
		}
		dt, err := content.ReadBlob(ctx, store, desc)
		if err != nil {
			return nil, fmt.Errorf("reading provenance %s: %w", desc.Digest, err)
		}
		v, err := provenanceForMetadata(dt, predicateType, mode)
		if err != nil {
			return nil, err
		}
		records[key] = base64.StdEncoding.EncodeToString(v)
	}
	return records, nil
}

func provenanceDescriptor(res *controlapi.BuildResultInfo) (ocispecs.Descriptor, string, bool) {
	for _, a := range res.Attestations {
		pt := a.Annotations["in-toto.io/predicate-type"]
		if a.MediaType == "application/vnd.in-toto+json" && strings.HasPrefix(pt, "https://slsa.dev/provenance/") {
			return ocispecs.Descriptor{MediaType: a.MediaType, Digest: digest.Digest(a.Digest), Size: a.Size}, pt, true
		}
	}
	return ocispecs.Descriptor{}, "", false
}

// provenanceForMetadata gives the predicate in SLSA v0.2 form, the one
// buildx writes to metadata files and tools reading them expect, whatever
// version BuildKit attached to the image.
func provenanceForMetadata(dt []byte, predicateType string, mode MetadataProvenance) ([]byte, error) {
	var pred *provenancetypes.ProvenancePredicateSLSA02
	if predicateType == "https://slsa.dev/provenance/v1" {
		var v1 *provenancetypes.ProvenancePredicateSLSA1
		if err := json.Unmarshal(dt, &v1); err != nil {
			return nil, fmt.Errorf("reading provenance: %w", err)
		}
		pred = v1.ConvertToSLSA02()
	} else if err := json.Unmarshal(dt, &pred); err != nil {
		return nil, fmt.Errorf("reading provenance: %w", err)
	}
	if mode == MetadataProvenanceMin {
		pred.BuildConfig = nil
		pred.Metadata = nil
		scrubArgs(&pred.Invocation.Parameters)
	}
	return json.Marshal(pred)
}

// scrubArgs drops the build args and labels of a request and of the
// requests it forwarded, as BuildKit's own min provenance does: their
// values are the user's (a token passed as a build arg) and min is the
// record meant to be safe to share.
func scrubArgs(p *provenancetypes.Parameters) {
	if p == nil {
		return
	}
	maps.DeleteFunc(p.Args, func(k, _ string) bool {
		return strings.HasPrefix(k, "build-arg:") || strings.HasPrefix(k, "label:")
	})
	for _, in := range p.Inputs {
		if in != nil {
			scrubArgs(in.Request)
		}
	}
	if p.Root != nil {
		scrubArgs(p.Root.Request)
	}
}
