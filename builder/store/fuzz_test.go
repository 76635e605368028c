package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzBuilderFile puts any bytes, under any file name, in instances/ the
// way a crashed, hand-edited or newer tool might leave them, and reads the
// folder back. Reading must not panic; List must still list the folder,
// flagging the file rather than failing; Get and List must agree; an error
// is one non-empty line naming the file; and a builder read, once saved,
// reads back as the same bytes.
func FuzzBuilderFile(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "buildx-instance.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("bx", fixture)
	f.Add("bx", []byte(`{"Name":"bx","Driver":"docker","Nodes":[{"Name":"bx0","Endpoint":"default"}],"XBuild":{"Created":"2025-01-02T03:04:05+01:00","SBOMGenerator":"docker/buildkit-syft-scanner"}}`))
	f.Add("bx", []byte(`{"Nodes":[{"Platforms":[{"os":"linux"}],"XBuild":{"Driver":"remote"}}],"name":"Other"}`))
	f.Add("bx", []byte(`{"Name":"bx","name":"b2","NODES":[],"Dynamic":false}`))
	f.Add("bx", []byte(`null`))
	f.Add("bx", []byte(`{"Nodes":{}}`))
	f.Add("bx", []byte(`{"Name":"bx"`))
	f.Add("bx", []byte(``))
	f.Add("Capital", []byte(`{}`))
	f.Add("0digit", []byte(`{}`))
	f.Add(".hidden", []byte(`{}`))
	f.Add("line\nbreak", []byte(`{}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name == "" || name == "." || name == ".." || len(name) > 200 || strings.ContainsAny(name, "/\x00") {
			t.Skip("not a file name")
		}
		dir := t.TempDir()
		s, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, instancesDir, name), data, 0o600); err != nil {
			t.Skip(err) // a name this file system refuses
		}
		var listed []*Builder
		var got *Builder
		var getErr error
		err = s.View(func(tx *Txn) error {
			var err error
			if listed, err = tx.List(); err != nil {
				return err
			}
			got, getErr = tx.Get(name)
			return nil
		})
		if err != nil {
			t.Fatalf("List() with instances/%q holding %q: %v", name, data, err)
		}
		if strings.HasPrefix(name, ".") {
			if len(listed) != 0 {
				t.Fatalf("List() = %d builders, want none for the hidden file %q", len(listed), name)
			}
			return
		}
		if len(listed) != 1 {
			t.Fatalf("List() = %d builders, want the one in instances/%q", len(listed), name)
		}
		l := listed[0]
		if l.Err != nil {
			checkFileError(t, "List()", l.Err, name)
		}
		if file, ok := fileName(name); !ok || file != name {
			if l.Err == nil {
				t.Fatalf("List() = %+v for instances/%q, want it flagged: no builder has that name", l, name)
			}
			return
		}
		if (getErr == nil) != (l.Err == nil) {
			t.Fatalf("Get(%q) error = %v, but List() error = %v", name, getErr, l.Err)
		}
		if getErr != nil {
			checkFileError(t, "Get()", getErr, name)
			if !errors.Is(getErr, ErrNotFound) && !strings.Contains(getErr.Error(), "corrupt") {
				t.Fatalf("Get(%q) error = %v, want it to say the file is corrupt", name, getErr)
			}
			return
		}
		if got.Name == "" {
			t.Fatalf("Get(%q) = a builder without a name", name)
		}
		checkSaved(t, got)
	})
}

// checkFileError holds a store error to one non-empty line naming the file.
func checkFileError(t *testing.T, call string, err error, file string) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s error = %q, want one non-empty line", call, msg)
	}
	if !strings.Contains(msg, file) && !strings.Contains(msg, fmt.Sprintf("%q", file)) {
		t.Fatalf("%s error = %q, want it to name the file %q", call, msg, file)
	}
}

// checkSaved saves b in a fresh store and reads it back: what is written is
// what is read, and writing it again gives the same bytes. A name Put
// refuses must come with an error instead.
func checkSaved(t *testing.T, b *Builder) {
	t.Helper()
	want, err := encodeBuilder(b)
	if err != nil {
		t.Fatalf("encodeBuilder(%+v): %v", b, err)
	}
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Txn) error {
		saved := *b
		if err := tx.Put(&saved); err != nil {
			if ValidateName(b.Name) == nil {
				t.Fatalf("Put(%q) of a builder read from a file: %v", b.Name, err)
			}
			return nil
		}
		again, err := tx.Get(saved.Name)
		if err != nil {
			t.Fatalf("Get(%q) after Put: %v", saved.Name, err)
		}
		got, err := encodeBuilder(again)
		if err != nil {
			t.Fatalf("encodeBuilder(%+v): %v", again, err)
		}
		if b.Name == saved.Name && !bytes.Equal(got, want) {
			t.Fatalf("builder saved as\n%s\nreads back as\n%s", want, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
