package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/internal/atomicfile"
)

// MigratedMarker is the file MigrateFrom leaves in the former folder, so
// that its builders move only once.
const MigratedMarker = "MIGRATED"

// localDriver keeps its daemon's state in the state folder, unlike every
// other driver: a builder that moves must keep pointing at that state.
const localDriver = "local"

// Migration is what MigrateFrom did, for a one-time notice.
type Migration struct {
	From, To string
	Moved    []string
	// Kept are names both folders held: the store's builder (buildx's)
	// stays and the old file is left where it is.
	Kept []string
	// Skipped are old builders that could not move, each error naming its
	// file, which stays.
	Skipped []error
	// Current is the old current builder, now the store's; empty when it
	// did not move or the store had a current builder of its own.
	Current string
}

// oldBuilder is a builders/<name>.json file of xbuild's former layout.
type oldBuilder struct {
	Name          string    `json:"name"`
	Driver        string    `json:"driver"`
	Nodes         []oldNode `json:"nodes"`
	Created       time.Time `json:"created"`
	SBOMGenerator string    `json:"sbomGenerator"`
}

type oldNode struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Endpoint   string            `json:"endpoint"`
	DriverOpts map[string]string `json:"driverOpts"`
	Platforms  []string          `json:"platforms"`
	Flags      []string          `json:"flags"`
	Files      map[string][]byte `json:"files"`
}

// MigrateFrom moves the builders of xbuild's former state folder old
// (builders/<name>.json, and current holding a name) into the store, once:
// it then leaves MigratedMarker in old. Nothing in old is removed or
// renamed, since local builders keep their daemon's state there. old may
// be the store's own folder. nil when there was nothing to move. An error
// leaves no marker, so a later call tries again.
func (s *Store) MigrateFrom(old string) (*Migration, error) {
	if !needsMigration(old) {
		return nil, nil
	}
	var m *Migration
	err := s.Update(func(t *Txn) error {
		if !needsMigration(old) {
			return nil // another process moved them meanwhile
		}
		var err error
		m, err = t.migrate(old)
		return err
	})
	return m, err
}

func needsMigration(old string) bool {
	if _, err := os.Stat(filepath.Join(old, MigratedMarker)); err == nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(old, "builders"))
	return err == nil && fi.IsDir()
}

func (t *Txn) migrate(old string) (*Migration, error) {
	m := &Migration{From: old, To: t.s.dir}
	dir := filepath.Join(old, "builders")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("migrating builders from %s: %w", dir, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if err := t.migrateOne(m, filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	if err := t.migrateCurrent(m, old); err != nil {
		return nil, err
	}
	note := fmt.Sprintf("xbuild moved the builders of this folder into %s on %s and no longer reads them here.\n",
		t.s.dir, time.Now().UTC().Format(time.RFC3339))
	if err := atomicfile.Write(filepath.Join(old, MigratedMarker), []byte(note), 0o600); err != nil {
		return nil, fmt.Errorf("marking %s as migrated: %w", old, err)
	}
	return m, nil
}

// migrateOne moves one old file. What cannot move is recorded in m; only
// a failed write is an error.
func (t *Txn) migrateOne(m *Migration, p string) error {
	b, err := readOldBuilder(p)
	if err == nil {
		err = ValidateName(b.Name)
	}
	if err != nil {
		m.Skipped = append(m.Skipped, fmt.Errorf("not moving builder file %s: %w", p, err))
		return nil
	}
	if t.exists(b.Name) {
		m.Kept = append(m.Kept, strings.ToLower(b.Name))
		return nil
	}
	keepLocalRoot(b, filepath.Dir(filepath.Dir(p)), t.s.dir)
	if err := t.Put(b); err != nil {
		return fmt.Errorf("moving builder file %s: %w", p, err)
	}
	m.Moved = append(m.Moved, b.Name)
	return nil
}

func readOldBuilder(p string) (*Builder, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var ob oldBuilder
	if err := json.Unmarshal(data, &ob); err != nil {
		return nil, fmt.Errorf("corrupt: %w", err)
	}
	if ob.Name == "" {
		ob.Name = strings.TrimSuffix(filepath.Base(p), ".json")
	}
	b := &Builder{Name: ob.Name, Driver: ob.Driver, Created: ob.Created, SBOMGenerator: ob.SBOMGenerator}
	for _, on := range ob.Nodes {
		plats, err := parsePlatforms(on.Platforms)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", on.Name, err)
		}
		b.Nodes = append(b.Nodes, Node{
			Name: on.Name, Driver: on.Driver, Endpoint: on.Endpoint, DriverOpts: on.DriverOpts,
			Platforms: plats, Flags: on.Flags, Files: on.Files,
		})
	}
	return b, nil
}

func parsePlatforms(in []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, s := range in {
		p, err := platforms.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, platforms.Normalize(p))
	}
	return out, nil
}

// keepLocalRoot points a local node that moves out of old at the daemon
// state it has there (old/local/<builder>), which it would otherwise look
// for under the new folder.
func keepLocalRoot(b *Builder, old, dir string) {
	if filepath.Clean(old) == filepath.Clean(dir) && b.Name == strings.ToLower(b.Name) {
		return // the same folder, the same name: the driver finds it
	}
	root := filepath.Join(old, localDriver, b.Name)
	if _, err := os.Stat(root); err != nil {
		return
	}
	for i, n := range b.Nodes {
		if (n.Driver == localDriver || n.Driver == "" && b.Driver == localDriver) && n.DriverOpts["root"] == "" {
			opts := map[string]string{"root": root}
			for k, v := range n.DriverOpts {
				opts[k] = v
			}
			b.Nodes[i].DriverOpts = opts
		}
	}
}

// migrateCurrent makes the old current builder the store's, unless the
// store has its own (buildx's choice stays) or that builder did not move.
func (t *Txn) migrateCurrent(m *Migration, old string) error {
	data, err := os.ReadFile(filepath.Join(old, "current"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrating current builder: %w", err)
	}
	name := strings.ToLower(strings.TrimSpace(string(data)))
	if name == "" || strings.HasPrefix(name, "{") || !contains(m.Moved, name) {
		return nil
	}
	// In place, current still holds the bare name, which reads as corrupt:
	// it is replaced.
	if c, err := t.readCurrent(); err == nil && c.Name != "" {
		return nil
	}
	if err := t.SetCurrent(name); err != nil {
		return err
	}
	m.Current = name
	return nil
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// String is the notice for the user: one line per fact, empty when the
// old folder held no builder.
func (m *Migration) String() string {
	var b strings.Builder
	if len(m.Moved) > 0 {
		fmt.Fprintf(&b, "moved builders %s from %s into %s, where buildx keeps its builders\n", strings.Join(m.Moved, ", "), m.From, m.To)
	}
	for _, name := range m.Kept {
		fmt.Fprintf(&b, "builder %q is in both %s and %s: kept the one in %s; the other stays in %s\n",
			name, m.From, m.To, m.To, filepath.Join(m.From, "builders"))
	}
	for _, err := range m.Skipped {
		fmt.Fprintf(&b, "%v (it stays where it is)\n", err)
	}
	if m.Current != "" {
		fmt.Fprintf(&b, "builder %q stays the current one\n", m.Current)
	}
	return b.String()
}
