package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// ErrLocked is returned when the state lock stays held past the store's
// lock timeout. An flock ends with the process holding it, so a held
// lock means a live xbuild or buildx command, not a stale file.
var ErrLocked = cerrdefs.ErrUnavailable.WithMessage("held by another xbuild or buildx command")

const (
	// defaultLockTimeout bounds the wait for the state lock: commands hold
	// it for file operations only, so a longer hold is a stuck process.
	defaultLockTimeout = 30 * time.Second
	// lockNoticeAfter is how long a wait lasts before it is reported: a
	// short one is two commands crossing and not worth a line.
	lockNoticeAfter = time.Second
	lockPoll        = 100 * time.Millisecond
)

// WithLockTimeout bounds the wait for the state lock; ErrLocked after it.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("lock timeout %s: must be positive", d)
		}
		o.lockTimeout = d
		return nil
	}
}

// WithNotices is where the store says that it waits for the state lock,
// held by another process; os.Stderr by default, so that a waiting
// command never looks hung.
func WithNotices(w io.Writer) Option {
	return func(o *options) error {
		o.notices = w
		return nil
	}
}

// UpdateContext is Update whose wait for the lock ends with ctx.
func (s *Store) UpdateContext(ctx context.Context, fn func(*Txn) error) error {
	return s.locked(ctx, syscall.LOCK_EX, fn)
}

// ViewContext is View whose wait for the lock ends with ctx.
func (s *Store) ViewContext(ctx context.Context, fn func(*Txn) error) error {
	return s.locked(ctx, syscall.LOCK_SH, fn)
}

// locked flocks .lock, the file buildx's store flocks (gofrs/flock), so
// that the two tools never interleave their changes. It polls rather than
// blocks, so that the wait is reported, bounded and ended by ctx.
func (s *Store) locked(ctx context.Context, how int, fn func(*Txn) error) error {
	p := filepath.Join(s.dir, ".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening builder state lock %s: %w", p, err)
	}
	defer f.Close()
	if err := s.waitLock(ctx, f, how); err != nil {
		return fmt.Errorf("locking builder state %s: %w", p, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	return fn(&Txn{s: s})
}

func (s *Store) waitLock(ctx context.Context, f *os.File, how int) error {
	start := time.Now()
	noticed := false
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		waited := time.Since(start)
		if waited >= s.lockTimeout {
			return fmt.Errorf("%w (waited %s)", ErrLocked, s.lockTimeout)
		}
		if !noticed && waited >= lockNoticeAfter && s.notices != nil {
			fmt.Fprintf(s.notices, "waiting for the builder state lock %s, held by another xbuild or buildx command\n", f.Name())
			noticed = true
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(lockPoll):
		}
	}
}
