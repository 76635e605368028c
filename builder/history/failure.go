package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/stack"
	digest "github.com/opencontainers/go-digest"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ErrorDetails say why a build failed.
type ErrorDetails struct {
	// Code is the gRPC code, Message BuildKit's message.
	Code    int    `json:",omitempty"`
	Message string `json:",omitempty"`
	// Name is the failing step and Logs its last lines, when the error
	// names a step.
	Name string   `json:",omitempty"`
	Logs []string `json:",omitempty"`
	// Sources are the lines of the build definition that failed, as
	// BuildKit prints them; Stack the daemon's stack trace.
	Sources []byte `json:",omitempty"`
	Stack   []byte `json:",omitempty"`
}

// CodeName is the error's gRPC code by name ("Unknown", "Canceled").
func (e *ErrorDetails) CodeName() string { return codes.Code(e.Code).String() }

// errorLogLines is how many of the failing step's last log lines are kept.
const errorLogLines = 16

// readError reads why rec failed: the status in the record and, when the
// node stored it, the full error with its sources and failing step.
func readError(ctx context.Context, rec *Record) (*ErrorDetails, error) {
	if rec.Error == nil && rec.ExternalError == nil {
		return nil, nil
	}
	out := &ErrorDetails{}
	if rec.Error != nil {
		out.Code, out.Message = int(rec.Error.Code), rec.Error.Message
	}
	if rec.ExternalError == nil {
		return out, nil
	}
	dt, err := ReadBlob(ctx, rec, Descriptor(rec.ExternalError))
	if err != nil {
		return nil, fmt.Errorf("reading the error of build %s: %w", rec.Ref, err)
	}
	var st spb.Status
	if err := proto.Unmarshal(dt, &st); err != nil {
		return nil, fmt.Errorf("reading the error of build %s: %w", rec.Ref, err)
	}
	full := grpcerrors.FromGRPC(status.ErrorProto(&st))
	var src bytes.Buffer
	for _, s := range errdefs.Sources(full) {
		_ = s.Print(&src) // a bytes.Buffer does not fail
		src.WriteString("\n")
	}
	out.Sources = src.Bytes()
	var ve *errdefs.VertexError
	if errors.As(full, &ve) {
		dgst, err := digest.Parse(ve.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the failing step of build %s: %w", rec.Ref, err)
		}
		if out.Name, out.Logs, err = stepLogs(ctx, rec, dgst, errorLogLines); err != nil {
			return nil, fmt.Errorf("reading the logs of the failing step of build %s: %w", rec.Ref, err)
		}
	}
	out.Stack = fmt.Appendf(nil, "%+v", stack.Formatter(full))
	return out, nil
}

// stepLogs replays rec's progress and keeps the name and the last limit
// log lines of one step.
func stepLogs(ctx context.Context, rec *Record, dgst digest.Digest, limit int) (string, []string, error) {
	var name string
	var lines logLines
	err := Replay(ctx, rec, func(s *bkclient.SolveStatus) {
		for _, v := range s.Vertexes {
			if v.Digest == dgst {
				name = v.Name
			}
		}
		for _, l := range s.Logs {
			if l.Vertex == dgst {
				lines.add(l.Stream, l.Data)
			}
		}
	})
	if err != nil {
		return "", nil, err
	}
	out := lines.lines
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return name, out, nil
}

// logLines joins log chunks into lines, per stream: a chunk may end in
// the middle of a line, which the stream's next chunk continues.
type logLines struct {
	lines []string
	// open is, per stream, the index of its unfinished last line.
	open map[int]int
}

func (l *logLines) add(stream int, data []byte) {
	if l.open == nil {
		l.open = map[int]int{}
	}
	parts := strings.Split(string(data), "\n")
	for i, p := range parts {
		if idx, ok := l.open[stream]; ok && i == 0 {
			l.lines[idx] += p
		} else if p != "" {
			l.lines = append(l.lines, p)
			l.open[stream] = len(l.lines) - 1
		}
		if i < len(parts)-1 {
			delete(l.open, stream)
		}
	}
}

// Replay sends every progress update BuildKit kept for rec to f, in
// order, until the record's end.
func Replay(ctx context.Context, rec *Record, f func(*bkclient.SolveStatus)) error {
	stream, err := rec.Node.client.ControlClient().Status(ctx, &controlapi.StatusRequest{Ref: rec.Ref})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		f(bkclient.NewSolveStatus(ev))
	}
}

// materials are the resolved dependencies of the first provenance among
// atts, in SLSA v1 terms whatever version was attached.
func materials(ctx context.Context, rec *Record, atts []Attachment) ([]Material, error) {
	for _, a := range atts {
		t := a.Type()
		if !strings.HasPrefix(t, "https://slsa.dev/provenance/") {
			continue
		}
		dt, err := ReadBlob(ctx, rec, a.Descriptor)
		if err != nil {
			return nil, fmt.Errorf("reading provenance %s: %w", a.Descriptor.Digest, err)
		}
		var pred *provenancetypes.ProvenancePredicateSLSA1
		if t == "https://slsa.dev/provenance/v0.2" {
			var v02 *provenancetypes.ProvenancePredicateSLSA02
			if err := json.Unmarshal(dt, &v02); err != nil {
				return nil, fmt.Errorf("reading provenance %s: %w", a.Descriptor.Digest, err)
			}
			pred = v02.ConvertToSLSA1()
		} else if err := json.Unmarshal(dt, &pred); err != nil {
			return nil, fmt.Errorf("reading provenance %s: %w", a.Descriptor.Digest, err)
		}
		if pred == nil {
			return nil, nil
		}
		var out []Material
		for _, m := range pred.BuildDefinition.ResolvedDependencies {
			out = append(out, Material{URI: m.URI, Digests: sortedDigests(m.Digest)})
		}
		return out, nil
	}
	return nil, nil
}
