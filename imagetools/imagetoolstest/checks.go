package imagetoolstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/imagetools"
)

const (
	// cancelBound is how long a call may take to return once its context
	// is cancelled: a ^C must end the command promptly.
	cancelBound = 5 * time.Second
	// readers is how many goroutines share one Source in checkConcurrent.
	readers = 8
)

// checkResolveIndex: the image resolves, under its normalized name, to an
// index naming both platforms; the name Resolve returned, and the name
// without its tag when the tag is latest, resolve to the same root.
func checkResolveIndex(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	want := normalize(t, b.Image)
	name, root, idx := resolveIndex(ctx, t, src, b.Image)
	if name != want.String() {
		t.Errorf("Resolve(%q) name = %q, want %q", b.Image, name, want)
	}
	var got []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			got = append(got, platforms.Format(*m.Platform))
		}
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(got, p) {
			t.Errorf("the index of %s names platforms %v, want %s among them", b.Image, got, p)
		}
	}
	again := []string{name}
	if tagged, ok := want.(reference.Tagged); ok && tagged.Tag() == "latest" {
		again = append(again, reference.TrimNamed(want).String())
	}
	for _, ref := range again {
		n, d, err := src.Resolve(ctx, ref)
		if err != nil || n != name || d.Digest != root.Digest {
			t.Errorf("Resolve(%q) = %q, %s, %v; want %q, %s", ref, n, d.Digest, err, name, root.Digest)
		}
	}
}

// checkResolveMissing: an image the backend does not hold, by tag or in a
// repository that does not exist, is NotFound, and the error names it.
func checkResolveMissing(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	named := normalize(t, b.Image)
	nonce := fmt.Sprint(time.Now().UnixNano())
	tag, err := reference.WithTag(reference.TrimNamed(named), "imagetoolstest-missing-"+nonce)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{tag.String(), reference.Domain(named) + "/imagetoolstest/missing-" + nonce + ":latest"} {
		_, _, err := src.Resolve(ctx, ref)
		if !cerrdefs.IsNotFound(err) {
			t.Errorf("Resolve(%q) = %v, want an error for which errdefs.IsNotFound holds", ref, err)
			continue
		}
		if want := normalize(t, ref).String(); !contains(err, want) {
			t.Errorf("Resolve(%q) = %q, want it to name %s", ref, err, want)
		}
	}
}

// checkResolveInvalid: a ref that is no image name is InvalidArgument.
func checkResolveInvalid(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	for _, ref := range []string{"", "Upper/Case", "busybox:not a tag", "busybox@sha256:short"} {
		if _, _, err := src.Resolve(ctx, ref); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("Resolve(%q) = %v, want an error for which errdefs.IsInvalidArgument holds", ref, err)
		}
	}
}

// checkFetchMissing: a blob the backend does not hold is NotFound.
func checkFetchMissing(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	resolveIndex(ctx, t, src, b.Image)
	desc := ocispecs.Descriptor{
		MediaType: ocispecs.MediaTypeImageLayerGzip,
		Digest:    digest.FromString(fmt.Sprint("imagetoolstest missing blob ", time.Now().UnixNano())),
		Size:      42,
	}
	data, err := src.Fetch(ctx, desc)
	if !cerrdefs.IsNotFound(err) || data != nil {
		t.Errorf("Fetch(%s) = %d bytes, %v; want nil and an error for which errdefs.IsNotFound holds", desc.Digest, len(data), err)
	}
}

// checkBlobsMatch: every blob the image reaches (index, manifests,
// configurations, layers) reads back with its descriptor's size and digest.
func checkBlobsMatch(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	_, root, _ := resolveIndex(ctx, t, src, b.Image)
	blobs := walk(ctx, t, src, root)
	// an index, and per platform a manifest, a configuration and a layer
	if len(blobs) < 7 {
		t.Errorf("the image reaches %d blobs, want at least 7", len(blobs))
	}
	for _, bl := range blobs {
		if got := bl.desc.Digest.Algorithm().FromBytes(bl.data); got != bl.desc.Digest || int64(len(bl.data)) != bl.desc.Size {
			t.Errorf("Fetch(%s) = %d bytes of digest %s, want %d bytes", bl.desc.Digest, len(bl.data), got, bl.desc.Size)
		}
	}
}

// checkFetchWrongSize: a descriptor whose size is not its blob's gives
// DataLoss and no bytes, never content that does not match it.
func checkFetchWrongSize(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	_, root, _ := resolveIndex(ctx, t, src, b.Image)
	for _, delta := range []int64{-1, 1} {
		desc := root
		desc.Size += delta
		data, err := src.Fetch(ctx, desc)
		if !cerrdefs.IsDataLoss(err) || data != nil {
			t.Errorf("Fetch(%s) with size %d, not %d = %d bytes, %v; want nil and an error for which errdefs.IsDataLoss holds",
				desc.Digest, desc.Size, root.Size, len(data), err)
		}
	}
}

// checkConcurrent: goroutines sharing one Source resolve and read every
// blob at once, and each reads what a lone reader does.
func checkConcurrent(ctx context.Context, t *testing.T, b Backend) {
	lone := b.New(t)
	_, root, _ := resolveIndex(ctx, t, lone, b.Image)
	want := walk(ctx, t, lone, root)

	src := b.New(t)
	errs := make([]error, readers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			<-start
			if _, d, err := src.Resolve(ctx, b.Image); err != nil || d.Digest != root.Digest {
				errs[i] = fmt.Errorf("Resolve(%q) = %s, %v; want %s", b.Image, d.Digest, err, root.Digest)
				return
			}
			// each reader starts at another blob, so the reads overlap
			for j := range want {
				bl := want[(i+j)%len(want)]
				data, err := src.Fetch(ctx, bl.desc)
				if err != nil {
					errs[i] = fmt.Errorf("Fetch(%s): %w", bl.desc.Digest, err)
					return
				}
				if string(data) != string(bl.data) {
					errs[i] = fmt.Errorf("Fetch(%s) read other bytes than a lone reader", bl.desc.Digest)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("%d readers sharing one Source: %v", readers, err)
	}
}

// checkCancelled: with a cancelled context, Resolve and Fetch return
// within cancelBound with the context's error; reads cancelled while they
// run return as promptly, done or with that error.
func checkCancelled(ctx context.Context, t *testing.T, b Backend) {
	src := b.New(t)
	_, root, _ := resolveIndex(ctx, t, src, b.Image)
	blobs := walk(ctx, t, src, root)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]func() error{
		fmt.Sprintf("Resolve(%q)", b.Image):   func() error { _, _, err := src.Resolve(cctx, b.Image); return err },
		fmt.Sprintf("Fetch(%s)", root.Digest): func() error { _, err := src.Fetch(cctx, root); return err },
	}
	for name, call := range calls {
		done, err := within(cancelBound, call)
		switch {
		case !done:
			t.Errorf("%s with a cancelled context did not return within %v", name, cancelBound)
		case !cerrdefs.IsCanceled(err):
			t.Errorf("%s with a cancelled context = %v, want an error for which errdefs.IsCanceled holds", name, err)
		}
	}

	mctx, mcancel := context.WithCancel(ctx)
	results := make(chan error, len(blobs))
	for _, bl := range blobs {
		go func() {
			_, err := src.Fetch(mctx, bl.desc)
			results <- err
		}()
	}
	time.Sleep(time.Millisecond)
	mcancel()
	deadline := time.After(cancelBound)
	for range blobs {
		select {
		case err := <-results:
			if err != nil && !cerrdefs.IsCanceled(err) {
				t.Errorf("Fetch cancelled while it ran = %v, want nil or an error for which errdefs.IsCanceled holds", err)
			}
		case <-deadline:
			t.Fatalf("Fetch cancelled while it ran did not return within %v", cancelBound)
		}
	}
}

// within runs call and waits at most d for it; done is false when it did
// not return in time.
func within(d time.Duration, call func() error) (done bool, err error) {
	ch := make(chan error, 1)
	go func() { ch <- call() }()
	select {
	case err := <-ch:
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// blob is one blob of the image under test, as read.
type blob struct {
	desc ocispecs.Descriptor
	data []byte
}

// resolveIndex resolves ref and reads its root, which must be an index.
func resolveIndex(ctx context.Context, t *testing.T, src imagetools.Source, ref string) (string, ocispecs.Descriptor, ocispecs.Index) {
	t.Helper()
	name, root, err := src.Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("Resolve(%q) = %v", ref, err)
	}
	if !images.IsIndexType(root.MediaType) {
		t.Fatalf("Resolve(%q) root media type = %s, want an index", ref, root.MediaType)
	}
	data, err := src.Fetch(ctx, root)
	if err != nil {
		t.Fatalf("Fetch(%s), the root of %s: %v", root.Digest, ref, err)
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("the index of %s: %v", ref, err)
	}
	return name, root, idx
}

// walk reads every blob desc reaches, desc first, each once.
func walk(ctx context.Context, t *testing.T, src imagetools.Source, desc ocispecs.Descriptor) []blob {
	t.Helper()
	var out []blob
	seen := map[digest.Digest]bool{}
	var visit func(d ocispecs.Descriptor)
	visit = func(d ocispecs.Descriptor) {
		if seen[d.Digest] {
			return
		}
		seen[d.Digest] = true
		data, err := src.Fetch(ctx, d)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", d.Digest, err)
		}
		out = append(out, blob{desc: d, data: data})
		switch {
		case images.IsIndexType(d.MediaType):
			var idx ocispecs.Index
			if err := json.Unmarshal(data, &idx); err != nil {
				t.Fatalf("index %s: %v", d.Digest, err)
			}
			for _, m := range idx.Manifests {
				visit(m)
			}
		case images.IsManifestType(d.MediaType):
			var m ocispecs.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("manifest %s: %v", d.Digest, err)
			}
			visit(m.Config)
			for _, l := range m.Layers {
				visit(l)
			}
		}
	}
	visit(desc)
	return out
}

func normalize(t *testing.T, ref string) reference.Named {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		t.Fatalf("%q is no image name: %v", ref, err)
	}
	return reference.TagNameOnly(named)
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
