package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bxstore "github.com/docker/buildx/store"
)

// Current reads buildx's current file as buildx does.
func TestCurrent(t *testing.T) {
	t.Parallel()
	const here, there = "unix:///var/run/docker.sock", "ctx2"
	tests := []struct {
		name     string
		current  string
		defaults string // defaults/ entry of this endpoint
		key      string
		want     string
	}{
		{name: "this endpoint", current: `{"Key":"` + here + `","Name":"bx","Global":false}`, key: here, want: "bx"},
		{name: "another endpoint", current: `{"Key":"` + here + `","Name":"bx","Global":false}`, key: there, want: ""},
		{name: "global", current: `{"Key":"` + here + `","Name":"bx","Global":true}`, key: there, want: "bx"},
		{name: "as typed", current: `{"Key":"` + here + `","Name":"BX","Global":false}`, key: here, want: "bx"},
		{name: "gone", current: `{"Key":"` + here + `","Name":"gone","Global":true}`, key: here, want: ""},
		{name: "default of the endpoint", current: `{"Key":"` + here + `","Name":"other"}`, defaults: "bx", key: there, want: "bx"},
		{name: "reset", current: `{"Key":"` + here + `","Name":"","Global":false}`, key: here, want: ""},
		{name: "none", key: here, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := newStore(t, dir, WithEndpointKey(tt.key))
			for _, n := range []string{"bx", "other"} {
				if err := s.Update(func(tx *Txn) error { return tx.Create(&Builder{Name: n, Driver: "remote"}) }); err != nil {
					t.Fatal(err)
				}
			}
			if tt.current != "" {
				writeFile(t, filepath.Join(dir, "current"), tt.current)
			}
			if tt.defaults != "" {
				writeFile(t, filepath.Join(dir, defaultsDir, defaultFile(tt.key)), tt.defaults)
			}
			var got string
			err := s.View(func(tx *Txn) error {
				var err error
				got, err = tx.Current()
				return err
			})
			if err != nil || got != tt.want {
				t.Errorf("Current() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// What SetCurrent writes, buildx reads: the builder on every endpoint, or
// none.
func TestSetCurrentReadByBuildx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir, WithEndpointKey("ctx1"))
	writeFile(t, filepath.Join(dir, defaultsDir, defaultFile("ctx1")), "bx")
	err := s.Update(func(tx *Txn) error {
		if err := tx.Create(&Builder{Name: "bx", Driver: "remote", Nodes: []Node{{Name: "bx0", Endpoint: "tcp://10.0.0.1:1234"}}}); err != nil {
			return err
		}
		return tx.SetCurrent("bx")
	})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "current")); string(data) != `{"Key":"ctx1","Name":"bx","Global":true}` {
		t.Errorf("current = %s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, defaultsDir, defaultFile("ctx1"))); err == nil {
		t.Errorf("SetCurrent kept the endpoint's default, as buildx's use does not")
	}
	var ng *bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ng, err = txn.Current("another-endpoint") })
	if err != nil || ng == nil || ng.Name != "bx" {
		t.Errorf("buildx Current() = %+v, %v; want bx", ng, err)
	}
	// Removing it forgets it, keeping the endpoint.
	if err := s.Update(func(tx *Txn) error { return tx.Remove("bx") }); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "current")); string(data) != `{"Key":"ctx1","Name":"","Global":false}` {
		t.Errorf("current after Remove = %s", data)
	}
}

func TestEndpointKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ context, host, want string }{
		{context: "default", host: "unix:///var/run/docker.sock", want: "unix:///var/run/docker.sock"},
		{context: "", host: "tcp://1.2.3.4:2375", want: "tcp://1.2.3.4:2375"},
		{context: "remote-box", host: "ssh://me@box", want: "remote-box"},
	}
	for _, tt := range tests {
		if got := EndpointKey(tt.context, tt.host); got != tt.want {
			t.Errorf("EndpointKey(%q, %q) = %q, want %q", tt.context, tt.host, got, tt.want)
		}
	}
}

// Remove takes with it what buildx keeps beside a builder.
func TestRemoveTakesActivityAndRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	writeFile(t, filepath.Join(dir, "refs", "bx", "bx0", "ref1"), `{"Target":"default"}`)
	writeFile(t, filepath.Join(dir, "refs", "keep", "keep0", "ref2"), `{"Target":"default"}`)
	err := s.Update(func(tx *Txn) error {
		if err := tx.Create(&Builder{Name: "bx", Driver: "remote"}); err != nil {
			return err
		}
		return tx.Remove("bx")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(instancesDir, "bx"), filepath.Join(activityDir, "bx"), filepath.Join("refs", "bx")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("Remove(bx) left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "refs", "keep", "keep0", "ref2")); err != nil {
		t.Errorf("Remove(bx) took another builder's records: %v", err)
	}
}

// xbuild waits while buildx holds the store: both flock the same file.
func TestLockSharedWithBuildx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	done := make(chan error)
	withBuildx(t, dir, func(*bxstore.Txn) {
		go func() { done <- s.View(func(*Txn) error { return nil }) }()
		select {
		case <-done:
			t.Fatal("View ran while buildx held the lock")
		case <-time.After(300 * time.Millisecond):
		}
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("View still waits after buildx released the lock")
	}
}
