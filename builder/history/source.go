package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/content/proxy"
	cerrdefs "github.com/containerd/errdefs"
	controlapi "github.com/moby/buildkit/api/services/control"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/xbuild/xbuild/builder"
)

// ErrNoRecord is returned when no record matches a reference.
var ErrNoRecord = cerrdefs.ErrNotFound.WithMessage("no build record")

// listLimit is how many records a listing asks each node for, as buildx
// does: the newest ones.
const listLimit = 50

// timestampHeader is the gRPC header in which BuildKit sends its clock,
// which a running build's duration is measured against.
const timestampHeader = "buildkit-current-timestamp"

// Node is one node of a builder with an open client.
type Node struct {
	Name string
	// Platforms are those the node was created for; the first is the
	// default platform of its records in a bundle.
	Platforms []ocispecs.Platform
	client    *bkclient.Client
}

// Client is the node's BuildKit client, open until the Source closes.
func (n *Node) Client() *bkclient.Client { return n.client }

// Store is the node's content store, where its records' blobs are.
func (n *Node) Store() content.Store { return proxy.NewContentStore(n.client.ContentClient()) }

// Source reads the records of every node of one builder. It holds a client
// per node: Close releases them.
type Source struct {
	Builder string
	Nodes   []*Node
	local   localState
}

// Open boots every node of inst, as any command using a builder does, and
// opens a client to each. configDir is where build state of this side is
// kept, read for the names of local builds.
func Open(ctx context.Context, inst *builder.Instance, configDir string) (_ *Source, err error) {
	s := &Source{Builder: inst.Name, local: openLocalState(configDir)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, n := range inst.Nodes {
		if err := n.Driver.Bootstrap(ctx); err != nil {
			return nil, fmt.Errorf("booting node %q of builder %q: %w", n.Name, inst.Name, err)
		}
		c, err := n.Driver.Client(ctx)
		if err != nil {
			return nil, fmt.Errorf("connecting to node %q of builder %q: %w", n.Name, inst.Name, err)
		}
		s.Nodes = append(s.Nodes, &Node{Name: n.Name, Platforms: n.Platforms, client: c})
	}
	return s, nil
}

// Close closes every node's client.
func (s *Source) Close() {
	for _, n := range s.Nodes {
		n.client.Close()
	}
}

// Query says which records List returns.
type Query struct {
	// Filters, when not nil, must all match.
	Filters *Filters
	// CompletedOnly leaves out running builds.
	CompletedOnly bool
	// All lists every record, not only each node's newest 50 (as buildx
	// lists them).
	All bool
}

// List returns the records of every node that q matches, newest first.
func (s *Source) List(ctx context.Context, q Query) ([]*Record, error) {
	return s.list(ctx, s.Nodes, q)
}

func (s *Source) list(ctx context.Context, nodes []*Node, q Query) ([]*Record, error) {
	var mu sync.Mutex
	var out []*Record
	eg, ctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		eg.Go(func() error {
			recs, err := s.listNode(ctx, n, q)
			if err != nil {
				return fmt.Errorf("reading the build history of node %q: %w", n.Name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, recs...)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	sortNewestFirst(out)
	return out, nil
}

func (s *Source) listNode(ctx context.Context, n *Node, q Query) ([]*Record, error) {
	// Records are found with filters, never by the request's Ref: a
	// daemon remembers a ref listened for, and then only marks the
	// record deleted when asked to remove it, keeping its blobs until
	// it restarts.
	req := &controlapi.BuildHistoryRequest{EarlyExit: true, Filter: q.Filters.request()}
	if !q.All {
		req.Limit = listLimit
	}
	stream, err := n.client.ControlClient().ListenBuildHistory(ctx, req)
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend() //nolint:errcheck // the stream ends with EOF already
	now := daemonClock(stream)
	var out []*Record
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Record == nil || ev.Type == controlapi.BuildHistoryEventType_DELETED {
			continue
		}
		if q.CompletedOnly && ev.Type != controlapi.BuildHistoryEventType_COMPLETE {
			continue
		}
		if !q.Filters.Match(ev.Record) {
			continue
		}
		out = append(out, &Record{
			BuildHistoryRecord: ev.Record, Builder: s.Builder, Node: n, Now: now,
			Local: s.local.read(s.Builder, n.Name, ev.Record.Ref),
		})
	}
}

// daemonClock reads the daemon's time from the stream's header; nil when
// the daemon does not send it.
func daemonClock(stream controlapi.Control_ListenBuildHistoryClient) *time.Time {
	md, err := stream.Header()
	if err != nil || len(md.Get(timestampHeader)) == 0 {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, md.Get(timestampHeader)[0])
	if err != nil {
		return nil
	}
	return &t
}

func sortNewestFirst(recs []*Record) {
	slices.SortStableFunc(recs, func(a, b *Record) int {
		return b.CreatedAt.AsTime().Compare(a.CreatedAt.AsTime())
	})
}

// Find returns the record ref names (see ParseRef). completedOnly skips
// running builds, for commands that need a record's final state.
func (s *Source) Find(ctx context.Context, ref string, completedOnly bool) (*Record, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if r.ID == "" {
		recs, err := s.List(ctx, Query{CompletedOnly: completedOnly})
		if err != nil {
			return nil, err
		}
		if r.Offset >= len(recs) {
			if len(recs) == 0 {
				return nil, fmt.Errorf("%w on builder %q", ErrNoRecord, s.Builder)
			}
			return nil, fmt.Errorf("%w at offset ^%d: the records of builder %q go back to ^%d", ErrNoRecord, r.Offset, s.Builder, len(recs)-1)
		}
		return recs[r.Offset], nil
	}
	nodes, err := s.nodesFor(r)
	if err != nil {
		return nil, err
	}
	recs, err := s.list(ctx, nodes, Query{Filters: refFilter(r.ID), CompletedOnly: completedOnly, All: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w %q on builder %q", ErrNoRecord, ref, s.Builder)
	}
	return recs[0], nil
}

// nodesFor is where a reference's record may be: the node it names, else
// every node.
func (s *Source) nodesFor(r Ref) ([]*Node, error) {
	if r.Builder != "" && r.Builder != s.Builder {
		return nil, fmt.Errorf("build %s/%s/%s is not on builder %q: pass --builder %s", r.Builder, r.Node, r.ID, s.Builder, r.Builder)
	}
	if r.Node == "" {
		return s.Nodes, nil
	}
	for _, n := range s.Nodes {
		if n.Name == r.Node {
			return []*Node{n}, nil
		}
	}
	return nil, fmt.Errorf("builder %q has no node %q", s.Builder, r.Node)
}

// Remove deletes rec from its node's history, and its blobs with it.
func (s *Source) Remove(ctx context.Context, rec *Record) error {
	_, err := rec.Node.client.ControlClient().UpdateBuildHistory(ctx, &controlapi.UpdateBuildHistoryRequest{Ref: rec.Ref, Delete: true})
	if err != nil {
		return fmt.Errorf("removing build record %s: %w", rec.Ref, err)
	}
	return nil
}

// Finalize asks rec's node to write what it still holds of the record in
// memory (its trace) and returns the record as stored then.
func (s *Source) Finalize(ctx context.Context, rec *Record) (*Record, error) {
	_, err := rec.Node.client.ControlClient().UpdateBuildHistory(ctx, &controlapi.UpdateBuildHistoryRequest{Ref: rec.Ref, Finalize: true})
	if err != nil {
		return nil, fmt.Errorf("finalizing build record %s: %w", rec.Ref, err)
	}
	recs, err := s.list(ctx, []*Node{rec.Node}, Query{Filters: refFilter(rec.Ref), CompletedOnly: true, All: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w %q: it was removed while being finalized", ErrNoRecord, rec.Ref)
	}
	return recs[0], nil
}
