package exporter

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
)

// CauseError is a failure on this side of an export that explains why the
// solve failed: a file that could not be written, an engine that refused
// the image. BuildKit only sees its end of the stream close ("EOF", "read/
// write on closed pipe"), so Finish returns a CauseError even when the
// solve failed, and the caller reports it in place of the solve's error.
type CauseError struct {
	// What names the output: "writing /out/image.tar".
	What string
	Err  error
}

func (e *CauseError) Error() string { return fmt.Sprintf("%s: %v", e.What, e.Err) }
func (e *CauseError) Unwrap() error { return e.Err }

// IsCause reports whether err holds a CauseError.
func IsCause(err error) bool {
	var ce *CauseError
	return errors.As(err, &ce)
}

// recordingWriter keeps the first error its writer returned: the cause
// when BuildKit's copy into it then fails.
type recordingWriter struct {
	io.WriteCloser
	mu  sync.Mutex
	err error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	n, err := w.WriteCloser.Write(p)
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	return n, err
}

func (w *recordingWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// fullDisk tells whether the filesystem holding path has no room left,
// in bytes or in inodes. BuildKit writes a local output through its
// session, whose write errors reach neither the daemon's answer nor this
// side; a disk found full when the export failed is why it failed.
func fullDisk(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return false
	}
	const room = 1 << 20
	return st.Bavail*uint64(st.Bsize) < room || (st.Files > 0 && st.Ffree == 0)
}
