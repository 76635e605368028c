package history

import (
	"bytes"
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/buildx/util/otelutil"
	"github.com/docker/buildx/util/otelutil/jaeger"
)

// ErrNoTrace is returned for a record its node kept no trace for.
var ErrNoTrace = cerrdefs.ErrNotFound.WithMessage("no trace")

// Trace reads rec's OpenTelemetry trace as a Jaeger trace, the form
// Jaeger UI imports. A completed record without a trace yet is finalized
// first: BuildKit writes a trace when the record is finalized.
func Trace(ctx context.Context, s *Source, rec *Record) (jaeger.Trace, error) {
	if rec.CompletedAt == nil {
		return jaeger.Trace{}, fmt.Errorf("build %s is still running: only completed builds have a trace", rec.Ref)
	}
	if rec.Trace == nil {
		var err error
		if rec, err = s.Finalize(ctx, rec); err != nil {
			return jaeger.Trace{}, err
		}
	}
	if rec.Trace == nil {
		return jaeger.Trace{}, fmt.Errorf("%w for build %s on node %q", ErrNoTrace, rec.Ref, rec.Node.Name)
	}
	dt, err := ReadBlob(ctx, rec, Descriptor(rec.Trace))
	if err != nil {
		return jaeger.Trace{}, fmt.Errorf("reading the trace of build %s: %w", rec.Ref, err)
	}
	// buildx's span reader and Jaeger conversion, so the trace matches
	// what buildx shows for the same record.
	spans, err := otelutil.ParseSpanStubs(bytes.NewReader(dt))
	if err != nil {
		return jaeger.Trace{}, fmt.Errorf("reading the trace of build %s: %w", rec.Ref, err)
	}
	if spans.Len() == 0 {
		return jaeger.Trace{}, fmt.Errorf("%w for build %s: its trace has no spans", ErrNoTrace, rec.Ref)
	}
	data := spans.JaegerData().Data
	if len(data) == 0 {
		return jaeger.Trace{}, fmt.Errorf("%w for build %s: its trace has no spans", ErrNoTrace, rec.Ref)
	}
	return data[0], nil
}
