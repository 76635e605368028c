package exporter

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/distribution/reference"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/imagestore"
	"github.com/xbuild/xbuild/imagetools"
)

// JoinOptions say where a Join puts the index it makes.
type JoinOptions struct {
	// Shares is how many shares the build has; the index lists their
	// images in share order.
	Shares int
	// Load, when set, is the load into a containerd store (one JoinsLoad
	// accepts) that every share writes into and the index is named in;
	// nil joins the shares in the registry, each pushed by digest.
	Load *Output
	// Archive, when set, is an OCI or Docker archive (one JoinsArchive
	// accepts) that Finish writes from every share; Stdout receives it
	// when its dest is "-".
	Archive *Output
	Stdout  io.Writer
	// Files, when set, is a type=local folder or type=tar file (one
	// JoinsFiles accepts) that Finish assembles from every share's
	// files, a folder per platform.
	Files *Output
	// Loader takes a Load's joined archive through the engine's image
	// load endpoint when this host cannot reach the engine's containerd;
	// nil uses the engine API.
	Loader Loader
	// Destination is where Load goes, with every platform of the build.
	Destination Destination
	// Names name the image of a Load without a name of its own.
	Names []string
	// Tags name the index a registry join pushes.
	Tags []reference.NamedTagged
	// IndexAnnotations go on the joined index.
	IndexAnnotations map[string]string
	// RegistryCreds authenticates a registry join's reads and pushes; nil
	// is anonymous.
	RegistryCreds func(host string) (user, secret string, err error)
	// PlainHTTP names the registries, besides loopback, a registry join
	// speaks plain HTTP to: those the nodes' buildkitd configs mark http.
	PlainHTTP []string
}

// Join makes one image of a build whose platforms several nodes export,
// each a share, in two phases: Share prepares each node's export, whose
// Finish (after that node's solve, as for any Export) hands the share's
// image to the join; then Finish assembles the index of all shares and
// names it. Until then a share in a registry is known by digest only, and
// one in a containerd store is held by a lease, so a failed build leaves
// no name behind.
//
// Share is safe to call concurrently. Finish must be called exactly once,
// after every share's Export has finished, also when one failed: only
// Finish releases what the shares hold.
type Join struct {
	opts JoinOptions
	// load is the containerd store the shares write into; nil for a
	// registry join.
	load *containerdLoad
	// archive keeps the shares until they are written as one archive.
	archive *archiveJoin
	// files stages the shares' files until they are put in place.
	files *filesJoin
	// note tells the user how the shares are joined, when it is not the
	// obvious way.
	note string

	mu     sync.Mutex
	shares []joinedShare
}

// joinedShare is one share's image once its node exported it.
type joinedShare struct {
	node string
	root ocispecs.Descriptor
}

// JoinsLoad reports whether out loads into a containerd store that a Join
// can write every share into: an engine load into the containerd store
// from a node that is not the engine, or type=containerd.
func JoinsLoad(out Output, dst Destination) bool {
	return out.Type == TypeContainerd || out.Loads() && !dst.Native && dst.Store == imagestore.Containerd
}

// StartJoin begins a join. A load join reaches the store's containerd
// now; when this host cannot, and the load goes to an engine, the shares
// are joined here and streamed to the engine's load endpoint as one OCI
// archive instead.
func StartJoin(ctx context.Context, opts JoinOptions) (*Join, error) {
	j := &Join{opts: opts, shares: make([]joinedShare, opts.Shares)}
	var err error
	switch {
	case opts.Files != nil:
		j.files, err = startFilesJoin(*opts.Files, opts.Stdout)
	case opts.Archive != nil:
		j.archive, err = startArchiveJoin(*opts.Archive, opts.Names, opts.Stdout)
	case opts.Load != nil:
		err = j.startLoad(ctx)
	case len(opts.Tags) == 0:
		err = errors.New("joining the nodes' images: the joined index needs a name; add -t/--tag")
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// startLoad reaches the containerd a load join writes into, or falls back
// to the engine's load endpoint when this host cannot reach it; a
// type=containerd load has no engine to fall back to.
func (j *Join) startLoad(ctx context.Context) error {
	if j.opts.Load.Type != TypeContainerd {
		c, err := dialContainerd(ctx, j.opts.Destination.Containerd)
		if err != nil {
			return j.startEngineLoad(err)
		}
		c.Close()
	}
	l, err := startJoinedLoad(ctx, *j.opts.Load, j.opts.Destination, j.opts.Names)
	if err != nil {
		return fmt.Errorf("loading the images of several nodes as one: %w", err)
	}
	j.load = l
	return nil
}

// startEngineLoad joins the shares here, for the engine's load endpoint;
// why says why its containerd is out of reach.
func (j *Join) startEngineLoad(why error) error {
	names, err := normalizedNames(cmp.Or(j.opts.Load.Attrs["name"], strings.Join(j.opts.Names, ",")))
	if err != nil {
		return err
	}
	if j.archive, err = startEngineArchiveJoin(j.opts.Destination.Engine, j.opts.Loader, names); err != nil {
		return err
	}
	j.note = fmt.Sprintf("loading through the engine's image load endpoint, not incrementally: %s", why)
	return nil
}

// Share is one node's part of a joined build.
type Share struct {
	// Index is the share's place in the index, from 0.
	Index int
	// Node names the node that builds it.
	Node string
	// Outputs and Destination are the share's own exports in a registry
	// join: pushes by digest. A load join writes into its store instead.
	Outputs     []Output
	Destination Destination
}

// Share prepares the export of one share, the first phase. The Export's
// Finish records the share's image for the join; it fails when the
// builder's response describes none.
func (j *Join) Share(ctx context.Context, s Share, opts PrepareOptions) (*Export, error) {
	if s.Index < 0 || s.Index >= len(j.shares) {
		return nil, fmt.Errorf("exporting share %d of node %s: the join has %d shares", s.Index, s.Node, len(j.shares))
	}
	ex := &Export{}
	if s.Index == 0 && j.note != "" {
		ex.Notes = append(ex.Notes, j.note)
	}
	switch {
	case j.files != nil:
		entry, err := j.files.shareEntry(s.Index, ex)
		if err != nil {
			return nil, err
		}
		ex.Entries = []bkclient.ExportEntry{entry}
		j.recordNode(s)
		return ex, nil
	case j.archive != nil:
		ex.Entries = []bkclient.ExportEntry{j.archive.shareEntry()}
	case j.load != nil:
		ex.Entries = []bkclient.ExportEntry{j.load.shareEntry()}
	default:
		var err error
		if ex, err = Prepare(ctx, s.Outputs, s.Destination, opts); err != nil {
			return nil, err
		}
	}
	ex.onFinish(func(_ context.Context, resp map[string]string, solveErr error, _ Progress) error {
		if solveErr != nil {
			return nil
		}
		root, err := DescriptorFrom(resp)
		if err != nil {
			return err
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		j.shares[s.Index] = joinedShare{node: s.Node, root: root}
		return nil
	})
	return ex, nil
}

// recordNode records which node builds share s, for files, which have no
// image to record.
func (j *Join) recordNode(s Share) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.shares[s.Index] = joinedShare{node: s.Node}
}

// Joined is the image a Join made; files have none.
type Joined struct {
	// Index describes the joined index.
	Index ocispecs.Descriptor
	// Names are the image's names; none for an untagged load, which the
	// store keeps as dangling.
	Names []string
}

// Metadata is what the metadata file records of the joined image.
func (jd *Joined) Metadata() (map[string]any, error) {
	if jd.Index.Digest == "" {
		return map[string]any{}, nil
	}
	desc, err := json.Marshal(jd.Index)
	if err != nil {
		return nil, fmt.Errorf("recording the joined index: %w", err)
	}
	md := map[string]any{KeyDigest: jd.Index.Digest.String(), KeyDescriptor: json.RawMessage(desc)}
	if len(jd.Names) > 0 {
		md[KeyImageName] = strings.Join(jd.Names, ",")
	}
	return md, nil
}

// Finish assembles the shares' images into one index and names it, the
// second phase. With sharesErr, the error of a share's build or export, it
// only releases what the shares hold and returns sharesErr.
func (j *Join) Finish(ctx context.Context, sharesErr error, pr Progress) (*Joined, error) {
	if j.files != nil {
		return j.files.finish(j.shares, sharesErr, pr)
	}
	if j.archive != nil {
		return j.archive.finish(ctx, j.shares, j.opts.IndexAnnotations, sharesErr, pr)
	}
	if j.load != nil {
		return j.finishLoad(ctx, sharesErr, pr)
	}
	if sharesErr != nil {
		return nil, sharesErr
	}
	return j.finishPush(ctx, pr)
}

// finishPush pushes the index of the shares' images, which they pushed by
// digest, under the tags.
func (j *Join) finishPush(ctx context.Context, pr Progress) (*Joined, error) {
	repo := reference.TrimNamed(j.opts.Tags[0]).String()
	inputs := make([]imagetools.Input, len(j.shares))
	for i, s := range j.shares {
		inputs[i] = imagetools.Input{Ref: repo + "@" + s.root.Digest.String(), Source: imagetools.NewRegistry(j.opts.RegistryCreds, j.opts.PlainHTTP...)}
	}
	names := make([]string, len(j.opts.Tags))
	for i, t := range j.opts.Tags {
		names[i] = t.String()
	}
	st := pr.Step("joining the nodes' images into one index for " + strings.Join(names, ", "))
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: j.opts.IndexAnnotations})
	if err == nil {
		err = imagetools.Push(ctx, idx, j.opts.Tags, j.opts.RegistryCreds, imagetools.WithPlainHTTP(j.opts.PlainHTTP))
	}
	st.Done(err)
	if err != nil {
		return nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	return &Joined{Index: idx.Desc, Names: names}, nil
}

// finishLoad assembles the index of the images the shares wrote into the
// load's store, stores it and has the load name it.
func (j *Join) finishLoad(ctx context.Context, sharesErr error, pr Progress) (*Joined, error) {
	if sharesErr != nil {
		_ = j.load.complete(ctx, sharesErr, pr, nil)
		return nil, sharesErr
	}
	inputs := make([]imagetools.Input, len(j.shares))
	for i, s := range j.shares {
		inputs[i] = imagetools.Input{Ref: "node " + s.node, Source: storeSource{root: s.root, p: j.load.store}}
	}
	idx, err := imagetools.Assemble(ctx, inputs, imagetools.AssembleOptions{Annotations: j.opts.IndexAnnotations})
	if err != nil {
		_ = j.load.complete(ctx, err, pr, nil)
		return nil, fmt.Errorf("joining the nodes' images: %w", err)
	}
	err = j.load.complete(ctx, nil, pr, func(ctx context.Context) (ocispecs.Descriptor, error) {
		if err := content.WriteBlob(ctx, j.load.store, "xbuild-index-"+idx.Desc.Digest.String(), bytes.NewReader(idx.Raw), idx.Desc); err != nil {
			return idx.Desc, fmt.Errorf("storing the joined index: %w", err)
		}
		return idx.Desc, nil
	})
	if err != nil {
		return nil, err
	}
	return &Joined{Index: idx.Desc, Names: j.load.names}, nil
}

// storeSource shows Assemble one image a share wrote into a content store.
type storeSource struct {
	root ocispecs.Descriptor
	p    content.Provider
}

var _ imagetools.Source = storeSource{}

func (s storeSource) Resolve(_ context.Context, ref string) (string, ocispecs.Descriptor, error) {
	return ref, s.root, nil
}

func (s storeSource) Fetch(ctx context.Context, desc ocispecs.Descriptor) ([]byte, error) {
	return content.ReadBlob(ctx, s.p, desc)
}
