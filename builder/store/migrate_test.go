package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bxstore "github.com/docker/buildx/store"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// oldLayout writes xbuild's former state folder: builders/<name>.json and
// current holding a name.
func oldLayout(t *testing.T, dir string, current string, builders map[string]string) {
	t.Helper()
	for name, content := range builders {
		writeFile(t, filepath.Join(dir, "builders", name+".json"), content)
	}
	if current != "" {
		writeFile(t, filepath.Join(dir, "current"), current+"\n")
	}
}

const oldRemote = `{"name":"Rem","driver":"remote","created":"2025-01-02T03:04:05Z","sbomGenerator":"example.com/gen:1",
	"nodes":[{"name":"amd","endpoint":"tcp://10.0.0.1:1234","platforms":["linux/amd64"],"driverOpts":{"cacert":"/ca.pem"}},
	{"name":"arm","driver":"docker-container","endpoint":"","platforms":["linux/arm/v7"],"flags":["--debug"],"files":{"buildkitd.toml":"ZGVidWcgPSB0cnVl"}}]}`

func TestMigrateFrom(t *testing.T) {
	t.Parallel()
	old, dir := t.TempDir(), t.TempDir()
	s := newStore(t, dir, WithEndpointKey("ctx"))
	if err := s.Update(func(tx *Txn) error { return tx.Create(&Builder{Name: "both", Driver: "docker-container"}) }); err != nil {
		t.Fatal(err)
	}
	oldLayout(t, old, "rem", map[string]string{
		"Rem":    oldRemote,
		"loc":    `{"name":"loc","driver":"local","nodes":[{"name":"loc0","endpoint":""}]}`,
		"both":   `{"name":"both","driver":"remote","nodes":[{"name":"both0","endpoint":"tcp://10.0.0.9:1234"}]}`,
		"1st":    `{"name":"1st","driver":"remote","nodes":[{"name":"n","endpoint":"tcp://10.0.0.9:1234"}]}`,
		"broken": `{"name":`,
	})
	writeFile(t, filepath.Join(old, "local", "loc", "buildkitd.pid"), "1")
	m, err := s.MigrateFrom(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Moved, []string{"rem", "loc"}) && !reflect.DeepEqual(m.Moved, []string{"loc", "rem"}) {
		t.Errorf("MigrateFrom().Moved = %v, want loc and rem", m.Moved)
	}
	if !reflect.DeepEqual(m.Kept, []string{"both"}) || len(m.Skipped) != 2 || m.Current != "rem" {
		t.Errorf("MigrateFrom() = %+v, want both kept, two skipped, rem current", m)
	}
	for _, err := range m.Skipped {
		if !strings.Contains(err.Error(), filepath.Join(old, "builders")) {
			t.Errorf("skipped %v: the error does not name the file", err)
		}
	}
	checkMigrated(t, s, old)
	if again, err := s.MigrateFrom(old); again != nil || err != nil {
		t.Errorf("second MigrateFrom() = %+v, %v; want nothing", again, err)
	}
	if _, err := os.Stat(filepath.Join(old, "builders", "Rem.json")); err != nil {
		t.Errorf("the old file went: %v", err)
	}
	if _, err := os.Stat(filepath.Join(old, MigratedMarker)); err != nil {
		t.Errorf("no marker: %v", err)
	}
	var ngs []*bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ngs, err = txn.List() })
	if err != nil || len(ngs) != 3 {
		t.Errorf("buildx lists %v, %v; want both, loc and rem", ngs, err)
	}
}

func checkMigrated(t *testing.T, s *Store, old string) {
	t.Helper()
	_ = s.View(func(tx *Txn) error {
		b, err := tx.Get("rem")
		if err != nil {
			t.Fatal(err)
		}
		want := []ocispecs.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}}
		if b.SBOMGenerator != "example.com/gen:1" || !b.Created.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) ||
			len(b.Nodes) != 2 || b.Nodes[0].DriverOpts["cacert"] != "/ca.pem" || b.Nodes[1].Driver != "docker-container" ||
			!reflect.DeepEqual(b.Nodes[1].Platforms, want) || string(b.Nodes[1].Files[BuildkitdConfigFile]) != "debug = true" {
			t.Errorf("Get(rem) after migration = %+v", b)
		}
		loc, err := tx.Get("loc")
		if err != nil || loc.Nodes[0].DriverOpts["root"] != filepath.Join(old, "local", "loc") {
			t.Errorf("Get(loc) = %+v, %v; want its root kept in the old folder", loc, err)
		}
		both, err := tx.Get("both")
		if err != nil || both.Driver != "docker-container" {
			t.Errorf("Get(both) = %+v, %v; want the store's own", both, err)
		}
		if cur, err := tx.Current(); cur != "rem" || err != nil {
			t.Errorf("Current() = %q, %v; want rem", cur, err)
		}
		return nil
	})
}

// A folder given as XBUILD_CONFIG held the old layout: it moves in place,
// and its current file becomes buildx's.
func TestMigrateInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldLayout(t, dir, "rem", map[string]string{"Rem": oldRemote})
	s := newStore(t, dir, WithEndpointKey("ctx"))
	m, err := s.MigrateFrom(dir)
	if err != nil || m == nil || len(m.Moved) != 1 || m.Current != "rem" {
		t.Fatalf("MigrateFrom(own folder) = %+v, %v", m, err)
	}
	var c current
	data, _ := os.ReadFile(filepath.Join(dir, "current"))
	if err := json.Unmarshal(data, &c); err != nil || c.Name != "rem" {
		t.Errorf("current = %s (%v), want buildx's JSON naming rem", data, err)
	}
	var ng *bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ng, err = txn.Current("another") })
	if err != nil || ng == nil || ng.Name != "rem" {
		t.Errorf("buildx Current() = %+v, %v", ng, err)
	}
}

// A store with a current builder of its own keeps it.
func TestMigrateKeepsBuildxCurrent(t *testing.T) {
	t.Parallel()
	old, dir := t.TempDir(), t.TempDir()
	oldLayout(t, old, "rem", map[string]string{"Rem": oldRemote})
	writeFile(t, filepath.Join(dir, "current"), `{"Key":"ctx","Name":"bx","Global":false}`)
	s := newStore(t, dir, WithEndpointKey("ctx"))
	m, err := s.MigrateFrom(old)
	if err != nil || m.Current != "" {
		t.Errorf("MigrateFrom() = %+v, %v; want buildx's current kept", m, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "current")); !strings.Contains(string(data), `"Name":"bx"`) {
		t.Errorf("current = %s", data)
	}
	if !strings.Contains(m.String(), "moved builders rem from "+old) {
		t.Errorf("the notice says %q", m.String())
	}
}

func TestMigrateNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir())
	for _, old := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		if m, err := s.MigrateFrom(old); m != nil || err != nil {
			t.Errorf("MigrateFrom(%s) = %+v, %v; want nothing", old, m, err)
		}
	}
}

func TestFormerDir(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	if got := FormerDir(env("XBUILD_CONFIG", "/x", "HOME", "/h")); got != "/x" {
		t.Errorf("FormerDir(XBUILD_CONFIG=/x) = %q", got)
	}
	if got := FormerDir(env("HOME", "/h", "BUILDX_CONFIG", "/b")); got != "/h/.xbuild" {
		t.Errorf("FormerDir(HOME=/h) = %q", got)
	}
}
