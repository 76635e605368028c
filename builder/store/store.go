package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/buildx/localstate"
	"github.com/docker/buildx/util/confutil"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/internal/atomicfile"
)

// Folders of the state folder, named as buildx names them.
const (
	instancesDir = "instances"
	defaultsDir  = "defaults"
	activityDir  = "activity"
)

// Node is one BuildKit daemon of a builder.
type Node struct {
	Name string
	// Driver is the node's driver when it differs from the builder's;
	// xbuild's own setting, which buildx does not read.
	Driver     string
	Endpoint   string
	DriverOpts map[string]string
	Platforms  []ocispecs.Platform
	// Flags are extra buildkitd flags and Files the files given to the
	// daemon (buildkitd.toml), for drivers that start it.
	Flags []string
	Files map[string][]byte

	// extra holds the keys of the node's entry xbuild does not know,
	// written back as read.
	extra map[string]json.RawMessage
}

// BuildkitdConfigFile is the key of a node's buildkitd.toml in Files.
const BuildkitdConfigFile = "buildkitd.toml"

// Builder is a named set of nodes driven by one driver.
type Builder struct {
	Name    string
	Driver  string
	Nodes   []Node
	Created time.Time
	// SBOMGenerator is the image that makes SBOMs for this builder's
	// builds when --sbom names none.
	SBOMGenerator string
	// LastActivity is when the builder was last saved, by either tool;
	// zero when unknown. Put sets it.
	LastActivity time.Time
	// Err is why the builder's file could not be read. Only List returns
	// such builders, named after their file, so that one broken file does
	// not hide the others.
	Err error

	extra map[string]json.RawMessage
}

// ErrNotFound is returned for a builder name the store does not hold.
var ErrNotFound = cerrdefs.ErrNotFound.WithMessage("no such builder")

// ErrExists is returned when creating a builder whose name is taken.
var ErrExists = cerrdefs.ErrAlreadyExists.WithMessage("builder already exists")

// ErrCorrupt is returned for a builder file that cannot be decoded (cut
// short, or not a builder): only removing the builder gets rid of it.
var ErrCorrupt = cerrdefs.ErrDataLoss.WithMessage("corrupt")

// buildxName is the names buildx accepts (store/util.go): a file in
// instances/ that does not match makes every `buildx ls` fail.
var buildxName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]*$`)

// ValidateName checks a builder or node name as buildx does: letters,
// digits, '_', '.', '-', starting with a letter; at most 63 characters
// (container and host names are made of it). Case does not count: the
// store keeps names lowercase, as buildx does.
func ValidateName(name string) error {
	if !buildxName.MatchString(name) || len(name) > 63 {
		return fmt.Errorf("invalid builder name %q: use letters, digits, '_', '.' and '-', starting with a letter", name)
	}
	return nil
}

// fileName is the file a builder name is kept in; false for a name no
// builder can have. buildx lowercases names, and deletes a file whose name
// has capitals, so the store never writes one.
func fileName(name string) (string, bool) {
	if !buildxName.MatchString(name) {
		return "", false
	}
	return strings.ToLower(name), true
}

// Store is the builder state folder.
type Store struct {
	dir         string
	key         string
	lockTimeout time.Duration
	notices     io.Writer
}

type options struct {
	endpointKey string
	lockTimeout time.Duration
	notices     io.Writer
}

// Option configures New.
type Option func(*options) error

// WithEndpointKey names the Docker endpoint the commands run against (see
// EndpointKey): buildx keeps the current builder per endpoint.
func WithEndpointKey(key string) Option {
	return func(o *options) error {
		o.endpointKey = key
		return nil
	}
}

// New opens (creating when needed) the state folder dir.
func New(dir string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: defaultLockTimeout, notices: os.Stderr}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{instancesDir, defaultsDir, activityDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating builder state folder %s: %w", dir, err)
		}
	}
	return &Store{dir: dir, key: o.endpointKey, lockTimeout: o.lockTimeout, notices: o.notices}, nil
}

// Dir is the state folder.
func (s *Store) Dir() string { return s.dir }

// Txn is a view of the store with the lock held; it is only valid inside
// the function given to Update or View.
type Txn struct {
	s *Store
}

// Update runs fn with the exclusive lock held; a wait for it longer than
// the lock timeout is ErrLocked. Writes inside fn are atomic one by one;
// the lock makes the sequence atomic for other xbuild and buildx
// processes.
func (s *Store) Update(fn func(*Txn) error) error {
	return s.UpdateContext(context.Background(), fn)
}

// View runs fn with a shared lock held: buildx's exclusive lock waits for
// it. fn must not write.
func (s *Store) View(fn func(*Txn) error) error {
	return s.ViewContext(context.Background(), fn)
}

func (s *Store) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

// Get reads one builder. A name no builder can have is ErrNotFound, so
// that callers fall back to Docker contexts, whose names are freer.
func (t *Txn) Get(name string) (*Builder, error) {
	file, ok := fileName(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrNotFound, name)
	}
	return t.read(file)
}

func (t *Txn) read(file string) (*Builder, error) {
	p := t.s.path(instancesDir, file)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q", ErrNotFound, file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading builder %q: %w", file, err)
	}
	b, err := decodeBuilder(data)
	if err != nil {
		return nil, fmt.Errorf("reading builder %q: %s is %w: %w", file, p, ErrCorrupt, err)
	}
	if b.Name == "" {
		b.Name = file
	}
	b.LastActivity = t.lastActivity(file)
	return b, nil
}

// lastActivity reads activity/<name>; it only informs, so an unreadable
// one is no time rather than an error.
func (t *Txn) lastActivity(file string) time.Time {
	data, err := os.ReadFile(t.s.path(activityDir, file))
	if err != nil {
		return time.Time{}
	}
	at, _ := time.Parse(time.RFC3339, strings.TrimSpace(string(data)))
	return at
}

// List reads every builder, sorted by name. A file that cannot be read is
// listed as a builder with Err set, naming the file; only an unreadable
// folder fails the listing.
func (t *Txn) List() ([]*Builder, error) {
	entries, err := os.ReadDir(t.s.path(instancesDir))
	if err != nil {
		return nil, fmt.Errorf("listing builders in %s: %w", t.s.path(instancesDir), err)
	}
	var out []*Builder
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // a temporary file, or nothing of buildx's
		}
		if b := t.listed(e.Name()); b != nil {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// listed reads one file of instances/ for List: nil when it is gone, a
// builder with Err when it cannot be read.
func (t *Txn) listed(name string) *Builder {
	if file, ok := fileName(name); !ok || file != name {
		return &Builder{Name: name, Err: fmt.Errorf("builder file %q: %q is not a builder name (buildx lowercases names and starts them with a letter): rename or remove it", t.s.path(instancesDir, name), name)}
	}
	b, err := t.read(name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return &Builder{Name: name, Err: err}
	}
	return b
}

// Create writes a new builder; ErrExists when the name is taken.
func (t *Txn) Create(b *Builder) error {
	if err := ValidateName(b.Name); err != nil {
		return err
	}
	if _, err := os.Stat(t.s.path(instancesDir, strings.ToLower(b.Name))); err == nil {
		return fmt.Errorf("%w: %q", ErrExists, strings.ToLower(b.Name))
	}
	return t.Put(b)
}

// Put writes a builder, replacing one of the same name, and records the
// activity as buildx's Save does. The name is stored lowercase, and b.Name
// changed to it.
func (t *Txn) Put(b *Builder) error {
	file, ok := fileName(b.Name)
	if !ok {
		return ValidateName(b.Name)
	}
	b.Name = file
	data, err := encodeBuilder(b)
	if err != nil {
		return fmt.Errorf("saving builder %q: %w", file, err)
	}
	now := time.Now().UTC()
	if err := atomicfile.Write(t.s.path(activityDir, file), []byte(now.Format(time.RFC3339)), 0o600); err != nil {
		return fmt.Errorf("saving builder %q activity: %w", file, err)
	}
	if err := t.writeInstance(file, data); err != nil {
		return fmt.Errorf("saving builder %q: %w", file, err)
	}
	b.LastActivity = now
	return nil
}

// writeInstance stages the file in the folder's root and renames it into
// instances/: a killed xbuild then leaves a stray file only where buildx
// never lists, since one in instances/ makes every `buildx ls` fail.
func (t *Txn) writeInstance(file string, data []byte) error {
	staged := t.s.path(".instance-" + file)
	if err := atomicfile.Write(staged, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(staged, t.s.path(instancesDir, file)); err != nil {
		_ = os.Remove(staged)
		return err
	}
	if d, err := os.Open(t.s.path(instancesDir)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Remove deletes a builder with what buildx keeps beside it (its activity
// and its local build records under refs/), and forgets it as the current
// one.
func (t *Txn) Remove(name string) error {
	file, ok := fileName(name)
	if !ok {
		return fmt.Errorf("%w %q", ErrNotFound, name)
	}
	p := t.s.path(instancesDir, file)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w %q", ErrNotFound, file)
	}
	if err := os.RemoveAll(t.s.path(activityDir, file)); err != nil {
		return fmt.Errorf("removing builder %q activity: %w", file, err)
	}
	if err := t.removeRecords(file); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("removing builder %q: %w", file, err)
	}
	return t.forget(file)
}

// removeRecords drops the builder's refs/ with buildx's own code, which
// also updates the build groups that point into them.
func (t *Txn) removeRecords(file string) error {
	if _, err := os.Stat(t.s.path("refs", file)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ls, err := localstate.New(confutil.NewConfig(nil, confutil.WithDir(t.s.dir)))
	if err == nil {
		err = ls.RemoveBuilder(file)
	}
	if err != nil {
		return fmt.Errorf("removing build records of builder %q from %s: %w", file, t.s.path("refs"), err)
	}
	return nil
}
