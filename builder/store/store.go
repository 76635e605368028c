package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/xbuild/xbuild/internal/atomicfile"
)

// Node is one BuildKit daemon of a builder.
type Node struct {
	Name string `json:"name"`
	// Driver is the node's driver when it differs from the builder's.
	Driver     string            `json:"driver,omitempty"`
	Endpoint   string            `json:"endpoint"`
	DriverOpts map[string]string `json:"driverOpts,omitempty"`
	Platforms  []string          `json:"platforms,omitempty"`
	// Flags are extra buildkitd flags and Files the files given to the
	// daemon (buildkitd.toml), for drivers that start it.
	Flags []string          `json:"flags,omitempty"`
	Files map[string][]byte `json:"files,omitempty"`
}

// BuildkitdConfigFile is the key of a node's buildkitd.toml in Files.
const BuildkitdConfigFile = "buildkitd.toml"

// Builder is a named set of nodes driven by one driver.
type Builder struct {
	Name    string    `json:"name"`
	Driver  string    `json:"driver"`
	Nodes   []Node    `json:"nodes"`
	Created time.Time `json:"created"`
	// SBOMGenerator is the image that makes SBOMs for this builder's
	// builds when --sbom names none.
	SBOMGenerator string `json:"sbomGenerator,omitempty"`
}

// ErrNotFound is returned for a builder name the store does not hold.
var ErrNotFound = cerrdefs.ErrNotFound.WithMessage("no such builder")

// ErrExists is returned when creating a builder whose name is taken.
var ErrExists = cerrdefs.ErrAlreadyExists.WithMessage("builder already exists")

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ValidateName checks a builder name: letters, digits, '_', '.', '-',
// starting with a letter or digit.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid builder name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// Store is the builder state folder.
type Store struct {
	dir string
}

// New opens (creating when needed) the state folder dir.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "builders"), 0o700); err != nil {
		return nil, fmt.Errorf("creating builder state folder: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the state folder.
func (s *Store) Dir() string { return s.dir }

// Txn is a view of the store with the lock held; it is only valid inside
// the function given to Update or View.
type Txn struct {
	s *Store
}

// Update runs fn with the exclusive lock held. Writes inside fn are atomic
// one by one; the lock makes the sequence atomic for other xbuild processes.
func (s *Store) Update(fn func(*Txn) error) error { return s.locked(syscall.LOCK_EX, fn) }

// View runs fn with a shared lock held.
func (s *Store) View(fn func(*Txn) error) error { return s.locked(syscall.LOCK_SH, fn) }

func (s *Store) locked(how int, fn func(*Txn) error) error {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening builder state lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		return fmt.Errorf("locking builder state: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	return fn(&Txn{s: s})
}

func (s *Store) builderPath(name string) string {
	return filepath.Join(s.dir, "builders", name+".json")
}

// Get reads one builder.
func (t *Txn) Get(name string) (*Builder, error) {
	data, err := os.ReadFile(t.s.builderPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading builder %q: %w", name, err)
	}
	var b Builder
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("reading builder %q: %s is corrupt: %w", name, t.s.builderPath(name), err)
	}
	return &b, nil
}

// List reads every builder, sorted by name.
func (t *Txn) List() ([]*Builder, error) {
	entries, err := os.ReadDir(filepath.Join(t.s.dir, "builders"))
	if err != nil {
		return nil, fmt.Errorf("listing builders: %w", err)
	}
	var out []*Builder
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := t.Get(name)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Create writes a new builder; ErrExists when the name is taken.
func (t *Txn) Create(b *Builder) error {
	if err := ValidateName(b.Name); err != nil {
		return err
	}
	if _, err := os.Stat(t.s.builderPath(b.Name)); err == nil {
		return fmt.Errorf("%w: %q", ErrExists, b.Name)
	}
	return t.Put(b)
}

// Put writes a builder, replacing one of the same name.
func (t *Txn) Put(b *Builder) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(t.s.builderPath(b.Name), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving builder %q: %w", b.Name, err)
	}
	return nil
}

// Remove deletes a builder, and forgets it as the current one.
func (t *Txn) Remove(name string) error {
	err := os.Remove(t.s.builderPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("removing builder %q: %w", name, err)
	}
	if cur, _ := t.Current(); cur == name {
		return t.SetCurrent("")
	}
	return nil
}

// Current is the builder `xbuild use` selected; empty for the default.
func (t *Txn) Current() (string, error) {
	data, err := os.ReadFile(filepath.Join(t.s.dir, "current"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading current builder: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// SetCurrent selects a builder; empty selects the default.
func (t *Txn) SetCurrent(name string) error {
	p := filepath.Join(t.s.dir, "current")
	if name == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("resetting current builder: %w", err)
		}
		return nil
	}
	return atomicfile.Write(p, []byte(name+"\n"), 0o600)
}
