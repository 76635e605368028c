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
	"github.com/docker/buildx/util/confutil"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// withBuildx runs fn on dir with buildx's own store code, the reader every
// file xbuild writes must satisfy, holding buildx's lock meanwhile.
func withBuildx(t *testing.T, dir string, fn func(*bxstore.Txn)) {
	t.Helper()
	s, err := bxstore.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	txn, release, err := s.Txn()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	fn(txn)
}

func newStore(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testdata/buildx-instance.json is the file buildx v0.38.2 wrote for
// `buildx create --name bx --driver docker-container --platform
// linux/arm/v7,linux/amd64 --driver-opt network=host --buildkitd-flags
// --debug --buildkitd-config bk.toml`, its endpoint made neutral, Dynamic
// set and two keys no buildx knows added.
func TestBuildxFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	fixture, err := os.ReadFile(filepath.Join("testdata", "buildx-instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, instancesDir, "bx"), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	// What create --append does: read, add a node, write back.
	err = s.Update(func(tx *Txn) error {
		b, err := tx.Get("bx")
		if err != nil {
			return err
		}
		checkFixture(t, b)
		b.Nodes = append(b.Nodes, Node{Name: "bx1", Driver: "remote", Endpoint: "tcp://10.0.0.2:1234",
			Platforms: []ocispecs.Platform{{OS: "linux", Architecture: "arm64"}}})
		return tx.Put(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		FutureGroupField string
		Dynamic          bool
		Nodes            []map[string]json.RawMessage
	}
	data, _ := os.ReadFile(filepath.Join(dir, instancesDir, "bx"))
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.FutureGroupField != "kept as written" || !got.Dynamic || len(got.Nodes) != 2 ||
		string(got.Nodes[0]["FutureNodeField"]) != `{"kept":[1,2]}` {
		t.Errorf("rewritten file lost keys xbuild does not know:\n%s", data)
	}
	for _, k := range []string{"Name", "Endpoint", "Platforms", "DriverOpts", "Flags", "Files"} {
		if _, ok := got.Nodes[1][k]; !ok {
			t.Errorf("the new node lacks buildx's key %q:\n%s", k, data)
		}
	}
	var ng *bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ng, err = txn.NodeGroupByName("bx") })
	if err != nil {
		t.Fatalf("buildx reading the rewritten file: %v", err)
	}
	if ng.Driver != "docker-container" || len(ng.Nodes) != 2 || ng.Nodes[1].Endpoint != "tcp://10.0.0.2:1234" ||
		ng.Nodes[0].BuildkitdFlags[0] != "--debug" || string(ng.Nodes[0].Files[BuildkitdConfigFile]) == "" {
		t.Errorf("buildx reads %+v", ng)
	}
	if ng.LastActivity.IsZero() {
		t.Errorf("Put recorded no activity buildx reads")
	}
}

func checkFixture(t *testing.T, b *Builder) {
	t.Helper()
	n := b.Nodes[0]
	want := []ocispecs.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "amd64"}}
	if b.Name != "bx" || b.Driver != "docker-container" || len(b.Nodes) != 1 || n.Name != "bx0" ||
		n.Endpoint != "unix:///var/run/docker.sock" || n.DriverOpts["network"] != "host" || !reflect.DeepEqual(n.Platforms, want) ||
		len(n.Flags) != 2 || !strings.Contains(string(n.Files[BuildkitdConfigFile]), "max-parallelism = 2") {
		t.Errorf("Get(bx) = %+v", b)
	}
}

// xbuild's own settings survive xbuild and never stop buildx reading the
// builder.
func TestXBuildSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &Builder{Name: "mixed", Driver: "remote", Created: created, SBOMGenerator: "example.com/gen:1", Nodes: []Node{
		{Name: "mixed0", Endpoint: "tcp://10.0.0.1:1234"},
		{Name: "mixed1", Driver: "docker-container", DriverOpts: map[string]string{"network": "host"}},
	}}
	var out *Builder
	err := s.Update(func(tx *Txn) error {
		if err := tx.Create(in); err != nil {
			return err
		}
		var err error
		out, err = tx.Get("mixed")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Created.Equal(created) || out.SBOMGenerator != in.SBOMGenerator || out.Nodes[0].Driver != "" || out.Nodes[1].Driver != "docker-container" {
		t.Errorf("Get(mixed) = %+v, want the settings of %+v", out, in)
	}
	var ng *bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ng, err = txn.NodeGroupByName("mixed") })
	if err != nil || ng.Driver != "remote" || len(ng.Nodes) != 2 || ng.Nodes[1].DriverOpts["network"] != "host" {
		t.Errorf("buildx reads %+v, %v", ng, err)
	}
}

// A file that cannot be read names itself and leaves the others listed.
func TestListBrokenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	if err := s.Update(func(tx *Txn) error { return tx.Create(&Builder{Name: "good", Driver: "remote"}) }); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"bad": "{bad", "Upper": "{}", ".tmp-bx123": "{"} {
		if err := os.WriteFile(filepath.Join(dir, instancesDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.View(func(tx *Txn) error {
		all, err := tx.List()
		if err != nil {
			t.Fatalf("List() = %v", err)
		}
		got := map[string]error{}
		for _, b := range all {
			got[b.Name] = b.Err
		}
		if len(got) != 3 || got["good"] != nil || got["bad"] == nil || got["Upper"] == nil {
			t.Fatalf("List() = %v, want good, and bad and Upper with errors", got)
		}
		for _, name := range []string{"bad", "Upper"} {
			if p := filepath.Join(dir, instancesDir, name); !strings.Contains(got[name].Error(), p) {
				t.Errorf("List() error for %s = %q, want it to name %s", name, got[name], p)
			}
		}
		if _, err := tx.Get("bad"); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, instancesDir, "bad")) {
			t.Errorf("Get(bad) = %v, want an error naming the file", err)
		}
		return nil
	})
}

// buildx lowercases names and deletes files named otherwise: the store
// writes lowercase only, and finds a builder in any case.
func TestNamesAreLowercase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	err := s.Update(func(tx *Txn) error {
		if err := tx.Create(&Builder{Name: "MyB", Driver: "remote"}); err != nil {
			return err
		}
		if err := tx.Create(&Builder{Name: "myb", Driver: "remote"}); err == nil {
			t.Errorf("Create(myb) after MyB = nil, want ErrExists")
		}
		b, err := tx.Get("MYB")
		if err == nil && b.Name != "myb" {
			t.Errorf("Get(MYB).Name = %q, want myb", b.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var ngs []*bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ngs, err = txn.List() })
	if err != nil || len(ngs) != 1 || ngs[0].Name != "myb" {
		t.Errorf("buildx lists %v, %v", ngs, err)
	}
}

// buildx drives a stored builder only when its Driver is empty; xbuild
// reads that as the docker driver it stands for.
func TestDockerDriverIsEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	var got *Builder
	err := s.Update(func(tx *Txn) error {
		if err := tx.Create(&Builder{Name: "xd", Driver: "docker", Nodes: []Node{{Name: "xd0", Endpoint: "unix:///var/run/docker.sock"}}}); err != nil {
			return err
		}
		var err error
		got, err = tx.Get("xd")
		return err
	})
	if err != nil || got.Driver != "docker" {
		t.Fatalf("Get(xd) = %+v, %v; want the docker driver", got, err)
	}
	var ng *bxstore.NodeGroup
	withBuildx(t, dir, func(txn *bxstore.Txn) { ng, err = txn.NodeGroupByName("xd") })
	if err != nil || ng.Driver != "" || ng.Nodes[0].Endpoint != "unix:///var/run/docker.sock" {
		t.Errorf("buildx reads %+v, %v; want no driver, the endpoint kept", ng, err)
	}
}
