package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// holdStateLock takes dir's state lock on a descriptor of its own, as
// another process would (flocks of two descriptors conflict).
func holdStateLock(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
}

func TestHeldLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var notices bytes.Buffer
	s, err := New(dir, WithLockTimeout(1500*time.Millisecond), WithNotices(&notices))
	if err != nil {
		t.Fatal(err)
	}
	holdStateLock(t, dir)
	lock := filepath.Join(dir, ".lock")

	start := time.Now()
	err = s.View(func(*Txn) error { t.Error("View ran with the lock held elsewhere"); return nil })
	if !errors.Is(err, ErrLocked) || !cerrdefs.IsUnavailable(err) || !strings.Contains(err.Error(), lock) {
		t.Errorf("View() = %v, want ErrLocked naming %s", err, lock)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("View() waited %s, want about the 1.5s timeout", d)
	}
	if !strings.Contains(notices.String(), lock) {
		t.Errorf("notices = %q, want the wait reported, naming %s", notices.String(), lock)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted")
	time.AfterFunc(200*time.Millisecond, func() { cancel(cause) })
	err = s.UpdateContext(ctx, func(*Txn) error { t.Error("Update ran with the lock held elsewhere"); return nil })
	if !errors.Is(err, cause) {
		t.Errorf("UpdateContext(cancelled) = %v, want %v", err, cause)
	}
}

func TestCorruptBuilder(t *testing.T) {
	t.Parallel()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir(), instancesDir, "cut")
	if err := os.WriteFile(p, []byte(`{"Name":"cut","Dri`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Txn) error { _, err := tx.Get("cut"); return err })
	if !errors.Is(err, ErrCorrupt) || !cerrdefs.IsDataLoss(err) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Get(cut) = %v, want ErrCorrupt naming %s", err, p)
	}
	if err := s.Update(func(tx *Txn) error { return tx.Remove("cut") }); err != nil {
		t.Fatalf("Remove(cut) = %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove(cut) left %s: %v", p, err)
	}
}
