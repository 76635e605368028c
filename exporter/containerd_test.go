package exporter

import (
	"context"
	"testing"
	"time"
)

// A second writer of a ref waits for the first instead of meeting
// containerd's "locked" error; other refs do not wait, and a cancelled
// wait gives up.
func TestCountingStoreClaim(t *testing.T) {
	t.Parallel()
	s := &countingStore{}
	ctx := context.Background()
	release, err := s.claim(ctx, "layer-a")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.claim(ctx, "layer-b"); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
	got := make(chan error, 1)
	go func() {
		r, err := s.claim(ctx, "layer-a")
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the second writer of layer-a did not wait (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	release, _ = s.claim(ctx, "layer-a")
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.claim(cctx, "layer-a"); err == nil {
		t.Error("a cancelled wait claimed the ref")
	}
}
