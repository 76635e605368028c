package builder

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBarrier(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		n       int
		arrive  int
		fail    error
		wantErr error
	}{
		{name: "all arrive", n: 3, arrive: 3},
		{name: "one fails", n: 3, arrive: 2, fail: boom, wantErr: boom},
		{name: "fail after all arrived", n: 2, arrive: 2, wantErr: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBarrier(tt.n)
			errs := make([]error, tt.arrive)
			var wg sync.WaitGroup
			for i := range tt.arrive {
				wg.Go(func() { errs[i] = b.Arrive(context.Background()) })
			}
			if tt.fail != nil {
				time.Sleep(10 * time.Millisecond)
				b.Fail(tt.fail)
			}
			wg.Wait()
			b.Fail(errors.New("too late"))
			for i, err := range errs {
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Errorf("Arrive() #%d = %v, want %v", i, err, tt.wantErr)
				}
			}
		})
	}
}

func TestBarrierWaits(t *testing.T) {
	t.Parallel()
	b := newBarrier(2)
	done := make(chan error, 1)
	go func() { done <- b.Arrive(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Arrive() = %v before the second solve arrived, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := b.Arrive(context.Background()); err != nil {
		t.Errorf("last Arrive() = %v, want nil", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first Arrive() = %v, want nil", err)
	}
}

func TestBarrierContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stopped")
	cancel(stop)
	if err := newBarrier(2).Arrive(ctx); !errors.Is(err, stop) {
		t.Errorf("Arrive(cancelled) = %v, want %v", err, stop)
	}
	if err := newBarrier(0).Arrive(context.Background()); err != nil {
		t.Errorf("Arrive() on an empty barrier = %v, want nil", err)
	}
}
