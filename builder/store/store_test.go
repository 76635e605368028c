package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCreateGetRemove(t *testing.T) {
	t.Parallel()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Name: "b1", Driver: "remote", Nodes: []Node{{Name: "b10", Endpoint: "tcp://127.0.0.1:1234"}}}
	err = s.Update(func(tx *Txn) error {
		if err := tx.Create(b); err != nil {
			return err
		}
		return tx.SetCurrent("b1")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Txn) error { return tx.Create(b) })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create(existing) = %v, want ErrExists", err)
	}
	err = s.View(func(tx *Txn) error {
		got, err := tx.Get("b1")
		if err != nil {
			return err
		}
		if got.Nodes[0].Endpoint != "tcp://127.0.0.1:1234" {
			t.Errorf("Get(b1).Nodes[0].Endpoint = %q", got.Nodes[0].Endpoint)
		}
		cur, err := tx.Current()
		if cur != "b1" {
			t.Errorf("Current() = %q, want b1", cur)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Txn) error { return tx.Remove("b1") }); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Txn) error {
		if _, err := tx.Get("b1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(removed) = %v, want ErrNotFound", err)
		}
		if cur, _ := tx.Current(); cur != "" {
			t.Errorf("Current() after removing it = %q, want empty", cur)
		}
		return nil
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr bool
	}{
		{in: "mybuilder"}, {in: "a.b-c_d1"}, {in: "", wantErr: true}, {in: "../x", wantErr: true},
		{in: "-x", wantErr: true}, {in: "a/b", wantErr: true}, {in: "MyBuilder"},
		{in: "1x", wantErr: true}, {in: strings.Repeat("a", 64), wantErr: true},
	}
	for _, tt := range tests {
		if err := ValidateName(tt.in); (err != nil) != tt.wantErr {
			t.Errorf("ValidateName(%q) = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
	}
}

// Many writers at once must leave every builder readable and none lost.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(dir)
			if err != nil {
				t.Error(err)
				return
			}
			name := fmt.Sprintf("b%d", i)
			if err := s.Update(func(tx *Txn) error {
				if err := tx.Create(&Builder{Name: name, Driver: "remote"}); err != nil {
					return err
				}
				return tx.SetCurrent(name)
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, _ := New(dir)
	_ = s.View(func(tx *Txn) error {
		all, err := tx.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 20 {
			t.Errorf("List() has %d builders, want 20", len(all))
		}
		return nil
	})
	left, _ := filepath.Glob(filepath.Join(dir, instancesDir, ".*"))
	staged, _ := filepath.Glob(filepath.Join(dir, ".instance-*"))
	if left = append(left, staged...); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "current")); err != nil {
		t.Errorf("current: %v", err)
	}
}
