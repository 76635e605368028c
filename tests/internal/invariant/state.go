package invariant

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// State is what a builder state folder held at one moment: each file's
// content by its path in the folder. The checks read no layout: they work
// on whatever files the folder holds.
type State map[string][]byte

// maxStateFile bounds what Snapshot keeps of one file; builder state is
// small, and anything bigger is not state the checks can judge.
const maxStateFile = 1 << 20

// Snapshot reads every file under dir.
func Snapshot(dir string) (State, error) {
	st := State{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > maxStateFile {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		st[rel] = data
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	return st, err
}

// CheckState checks I3 on dir, which held before when all was well (nil
// when only the rules below apply): no lock file is held by anyone, no
// temporary file of an interrupted write is left, and every file is its
// old content or a whole new one: a JSON document that was valid is still
// valid or gone, a new one is valid, and no file that had content is now
// empty. damaged lists the files (paths in dir) a test broke on purpose.
func CheckState(dir string, before State, damaged ...string) []Violation {
	now, err := Snapshot(dir)
	if err != nil {
		return []Violation{violation(StateWhole, "reading %s: %v", dir, err)}
	}
	var out []Violation
	for _, rel := range slices.Sorted(maps.Keys(now)) {
		path := filepath.Join(dir, rel)
		data, old := now[rel], before[rel]
		switch {
		case isLockFile(rel):
			if err := lockFree(path); err != nil {
				out = append(out, violation(StateWhole, "lock %s is held: %v", path, err))
			}
		case isTempFile(rel):
			out = append(out, violation(StateWhole, "%s is left from a write that never finished", path))
		case slices.Contains(damaged, rel) || bytes.Equal(data, old):
		case len(data) == 0 && len(old) > 0:
			out = append(out, violation(StateWhole, "%s is empty; it held %d bytes", path, len(old)))
		case looksJSON(data) && !json.Valid(data), looksJSON(old) && json.Valid(old) && !json.Valid(data):
			out = append(out, violation(StateWhole, "%s is not a whole JSON document: %q", path, clip(data)))
		}
	}
	return out
}

func isLockFile(rel string) bool {
	return strings.Contains(strings.ToLower(filepath.Base(rel)), "lock")
}

// isTempFile matches the names atomic writers give a file before renaming
// it into place (".NAME.tmp-123", ".NAME.partial-123").
func isTempFile(rel string) bool {
	b := filepath.Base(rel)
	return strings.HasPrefix(b, ".") && (strings.Contains(b, ".tmp-") || strings.Contains(b, ".partial-"))
}

// lockFree tries the lock without waiting, as flock(1) -n would, and
// lets go of it at once.
func lockFree(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return err
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func looksJSON(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func clip(data []byte) string {
	if len(data) > 80 {
		return string(data[:80]) + "..."
	}
	return string(data)
}
