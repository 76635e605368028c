package exporter

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// folderOutput has BuildKit write a type=local output into a folder next
// to dest, and moves it into dest only when the solve succeeded: a failed
// or interrupted build leaves dest as it was. As BuildKit's local exporter
// does, the files go into dest beside what it holds already, replacing
// those of the same path; with mode=delete dest becomes exactly the output.
func folderOutput(ex *Export, dest string, replace bool) (string, error) {
	return stagedFolder(ex, dest, func(staged string) error { return moveInto(staged, dest, replace) })
}

// stagedFolder makes a folder next to dest for BuildKit to write into and,
// once the solve succeeded, has install put it in place; a failed solve
// leaves dest as it was, and the staged folder is removed either way.
func stagedFolder(ex *Export, dest string, install func(staged string) error) (string, error) {
	parent := filepath.Dir(filepath.Clean(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating folder for %s: %w", dest, err)
	}
	staged, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", dest, err)
	}
	ex.onFinish(func(_ context.Context, _ map[string]string, solveErr error, _ Progress) error {
		defer os.RemoveAll(staged)
		if solveErr != nil {
			if fullDisk(staged) {
				return &CauseError{What: "writing " + dest, Err: syscall.ENOSPC}
			}
			return nil
		}
		if err := install(staged); err != nil {
			return fmt.Errorf("writing %s: %w", dest, err)
		}
		return nil
	})
	return staged, nil
}

// moveInto moves the tree at src into dst: whole when dst does not exist
// or replace is set, else entry by entry.
func moveInto(src, dst string, replace bool) error {
	if replace {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(dst); os.IsNotExist(err) {
		return os.Rename(src, dst)
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				if err := os.Remove(target); err != nil {
					return err
				}
			}
			return os.MkdirAll(target, info.Mode().Perm())
		}
		if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
		return os.Rename(path, target)
	})
}
