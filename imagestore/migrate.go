package imagestore

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
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	dockerclient "github.com/moby/moby/client"

	"github.com/xbuild/xbuild/engine"
)

// A migration moves every tagged image (and, when asked, every container
// committed to an image) from one store to another through a bundle
// folder: export, then (in place) switch, then import and verify. Each step
// can run alone and the whole can run again after any interruption: files
// are written next to their place and renamed, and import skips what is
// already there and right.

// BundleVersion is the layout version of manifest.json.
const BundleVersion = 1

// Manifest describes a bundle.
type Manifest struct {
	Version     int       `json:"version"`
	Source      string    `json:"source"`
	SourceStore Kind      `json:"sourceStore"`
	Created     time.Time `json:"created"`
	// Archive is the docker-save archive of every item, layers stored once.
	Archive string `json:"archive"`
	Items   []Item `json:"items"`
}

// Item is one name the migration moves.
type Item struct {
	Name string `json:"name"`
	// Container names the container this image was committed from.
	Container string      `json:"container,omitempty"`
	ImageID   string      `json:"imageID"`
	DiffIDs   []string    `json:"diffIDs"`
	Config    ImageConfig `json:"config"`
	Size      int64       `json:"size"`
}

// ImageConfig is what must survive the move of an image's configuration.
type ImageConfig struct {
	Cmd         []string                `json:"cmd,omitempty"`
	Entrypoint  []string                `json:"entrypoint,omitempty"`
	Env         []string                `json:"env,omitempty"`
	User        string                  `json:"user,omitempty"`
	WorkingDir  string                  `json:"workingDir,omitempty"`
	Labels      map[string]string       `json:"labels,omitempty"`
	Healthcheck *container.HealthConfig `json:"healthcheck,omitempty"`
}

// ExportOptions shape an export.
type ExportOptions struct {
	// Containers commits every container to an image named after it.
	Containers bool
	// Pause pauses running containers while they are committed.
	Pause bool
	// DryRun plans without writing or committing.
	DryRun bool
	// Warn receives warnings (running containers committed live).
	Warn io.Writer
}

// ErrNoSpace is returned when the bundle would not fit on its disk.
var ErrNoSpace = errors.New("not enough free disk space for the bundle")

var notNameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// ContainerImageName is the image a container is committed to.
func ContainerImageName(container string) string {
	n := notNameChars.ReplaceAllString(strings.ToLower(strings.TrimPrefix(container, "/")), "-")
	return "xbuild-migrated/" + strings.Trim(n, "-._") + ":latest"
}

// Export writes the bundle of what the source engine holds. It returns the
// manifest (only planned, with DryRun).
func Export(ctx context.Context, api *dockerclient.Client, source, dir string, opts ExportOptions) (*Manifest, error) {
	kind, err := Detect(ctx, api)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Version: BundleVersion, Source: source, SourceStore: kind, Created: time.Now().UTC(), Archive: "images.tar"}
	if opts.Containers {
		if err := commitContainers(ctx, api, m, opts); err != nil {
			return nil, err
		}
	}
	imgs, err := api.ImageList(ctx, dockerclient.ImageListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	for _, img := range imgs.Items {
		for _, tag := range img.RepoTags {
			if tag == "<none>:<none>" || slices.ContainsFunc(m.Items, func(i Item) bool { return i.Name == tag }) {
				continue
			}
			it, err := describe(ctx, api, tag)
			if cerrdefs.IsNotFound(err) {
				continue // removed since the listing: nothing to move
			}
			if err != nil {
				return nil, err
			}
			m.Items = append(m.Items, it)
		}
	}
	sort.Slice(m.Items, func(i, j int) bool { return m.Items[i].Name < m.Items[j].Name })
	need := m.NeededBytes()
	if free, err := freeBytes(dir); err == nil && free < need {
		return nil, fmt.Errorf("%w: %s needs about %d bytes, %d are free", ErrNoSpace, dir, need, free)
	}
	if opts.DryRun || len(m.Items) == 0 {
		return m, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := saveArchive(ctx, api, m, filepath.Join(dir, m.Archive)); err != nil {
		return nil, err
	}
	return m, writeJSONAtomic(filepath.Join(dir, "manifest.json"), m)
}

// NeededBytes estimates the bundle's size: every image's size, shared
// layers counted for each (an upper bound).
func (m *Manifest) NeededBytes() int64 {
	seen := map[string]bool{}
	var n int64
	for _, it := range m.Items {
		if !seen[it.ImageID] {
			seen[it.ImageID] = true
			n += it.Size
		}
	}
	return n
}

func commitContainers(ctx context.Context, api *dockerclient.Client, m *Manifest, opts ExportOptions) error {
	cs, err := api.ContainerList(ctx, dockerclient.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range cs.Items {
		if len(c.Names) == 0 {
			continue
		}
		cname := strings.TrimPrefix(c.Names[0], "/")
		name := ContainerImageName(cname)
		if c.State == container.StateRunning && !opts.Pause && opts.Warn != nil {
			fmt.Fprintf(opts.Warn, "warning: container %s is running; its image is committed live (use --pause to pause it meanwhile)\n", cname)
		}
		if !opts.DryRun {
			if _, err := api.ContainerCommit(ctx, c.ID, dockerclient.ContainerCommitOptions{
				Reference: name, Comment: "committed by xbuild store migrate", NoPause: !opts.Pause,
			}); err != nil {
				return fmt.Errorf("committing container %s: %w", cname, err)
			}
			it, err := describe(ctx, api, name)
			if err != nil {
				return err
			}
			it.Container = cname
			m.Items = append(m.Items, it)
			continue
		}
		m.Items = append(m.Items, Item{Name: name, Container: cname, Size: c.SizeRw})
	}
	return nil
}

func describe(ctx context.Context, api *dockerclient.Client, name string) (Item, error) {
	img, err := api.ImageInspect(ctx, name)
	if err != nil {
		return Item{}, fmt.Errorf("inspecting %s: %w", name, err)
	}
	it := Item{Name: name, ImageID: img.ID, Size: img.Size}
	if img.RootFS.Layers != nil {
		it.DiffIDs = img.RootFS.Layers
	}
	if c := img.Config; c != nil {
		it.Config = ImageConfig{Cmd: c.Cmd, Entrypoint: c.Entrypoint, Env: c.Env, User: c.User,
			WorkingDir: c.WorkingDir, Labels: c.Labels, Healthcheck: c.Healthcheck}
	}
	return it, nil
}

func saveArchive(ctx context.Context, api *dockerclient.Client, m *Manifest, path string) error {
	names := make([]string, 0, len(m.Items))
	for _, it := range m.Items {
		names = append(names, it.Name)
	}
	rc, err := api.ImageSave(ctx, names)
	if err != nil {
		return fmt.Errorf("saving images: %w", err)
	}
	defer rc.Close()
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("saving images: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadManifest reads a bundle's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no bundle in %s: run the export step first", dir)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading %s/manifest.json: %w", dir, err)
	}
	if m.Version != BundleVersion {
		return nil, fmt.Errorf("bundle %s has layout version %d, this xbuild reads %d", dir, m.Version, BundleVersion)
	}
	return &m, nil
}

// Outcome is what became of one item.
type Outcome struct {
	Item   Item
	Status string // moved, present, failed
	Reason string
}

// Import loads the bundle into the target engine, unless every item is
// already there and right, then verifies each name.
func Import(ctx context.Context, api *dockerclient.Client, dir string, m *Manifest) ([]Outcome, error) {
	missing := 0
	for _, it := range m.Items {
		if verify(ctx, api, it) != nil {
			missing++
		}
	}
	loaded := false
	if missing > 0 {
		f, err := os.Open(filepath.Join(dir, m.Archive))
		if err != nil {
			return nil, fmt.Errorf("opening the bundle archive: %w", err)
		}
		defer f.Close()
		res, err := api.ImageLoad(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("loading the bundle: %w", err)
		}
		err = engine.ReadLoadStream(res)
		res.Close()
		if err != nil {
			return nil, fmt.Errorf("loading the bundle: %w", err)
		}
		loaded = true
	}
	var out []Outcome
	var failed int
	for _, it := range m.Items {
		o := Outcome{Item: it, Status: "present", Reason: "already in the target store"}
		if loaded {
			o.Status, o.Reason = "moved", ""
		}
		if err := verify(ctx, api, it); err != nil {
			o.Status, o.Reason = "failed", err.Error()
			failed++
		}
		out = append(out, o)
	}
	if failed > 0 {
		return out, fmt.Errorf("%d of %d items did not verify", failed, len(m.Items))
	}
	return out, nil
}

// verify checks that name resolves to the recorded layers and config.
func verify(ctx context.Context, api *dockerclient.Client, want Item) error {
	got, err := describe(ctx, api, want.Name)
	if err != nil {
		return fmt.Errorf("missing: %w", err)
	}
	if !slices.Equal(got.DiffIDs, want.DiffIDs) {
		return fmt.Errorf("layers differ: have %v, want %v", got.DiffIDs, want.DiffIDs)
	}
	a, _ := json.Marshal(got.Config)
	b, _ := json.Marshal(want.Config)
	if string(a) != string(b) {
		return fmt.Errorf("config differs: have %s, want %s", a, b)
	}
	return nil
}

// Prune removes the migrated items from the source engine: containers
// first, then images.
func Prune(ctx context.Context, api *dockerclient.Client, m *Manifest) error {
	for _, it := range m.Items {
		if it.Container != "" {
			if _, err := api.ContainerRemove(ctx, it.Container, dockerclient.ContainerRemoveOptions{Force: true}); err != nil {
				return fmt.Errorf("removing container %s: %w", it.Container, err)
			}
		}
	}
	for _, it := range m.Items {
		if _, err := api.ImageRemove(ctx, it.Name, dockerclient.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("removing image %s: %w", it.Name, err)
		}
	}
	return nil
}

// graphDriverSnapshotters maps a classic store's graph driver to the
// snapshotter that stores the same way: a daemon.json that names the graph
// driver does not start with the containerd store, and the reverse.
var graphDriverSnapshotters = map[string]string{
	"overlay2": "overlayfs", "fuse-overlayfs": "fuse-overlayfs", "btrfs": "btrfs", "zfs": "zfs", "vfs": "native",
}

// SetContainerdSnapshotter sets features.containerd-snapshotter in an
// engine's daemon.json, keeping every other setting but a storage-driver,
// which it translates to the other store's name for the same storage.
func SetContainerdSnapshotter(path string, on bool) error {
	cfg := map[string]any{}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &cfg); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	features, _ := cfg["features"].(map[string]any)
	if features == nil {
		features = map[string]any{}
	}
	features["containerd-snapshotter"] = on
	cfg["features"] = features
	if sd, ok := cfg["storage-driver"].(string); ok {
		for graph, snap := range graphDriverSnapshotters {
			switch {
			case on && sd == graph:
				cfg["storage-driver"] = snap
			case !on && sd == snap:
				cfg["storage-driver"] = graph
			}
		}
	}
	return writeJSONAtomic(path, cfg)
}

func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freeBytes(dir string) (int64, error) {
	for d := dir; ; d = filepath.Dir(d) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d, &st); err == nil {
			return int64(st.Bavail) * st.Bsize, nil
		}
		if d == filepath.Dir(d) {
			return 0, errors.New("no existing parent folder")
		}
	}
}

// PruneInactive frees the store an in-place switch left behind. The engine
// must already run on the other store: on the containerd store, the classic
// store's image and layer folders and the containers made on it are removed
// from the data root; on the classic store, the images in the engine's
// containerd namespace are removed and containerd collects their content.
func PruneInactive(ctx context.Context, api *dockerclient.Client) (string, error) {
	res, err := api.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return "", err
	}
	info := res.Info
	if FromInfo(info) == Containerd {
		return pruneClassic(info.DockerRootDir)
	}
	if info.Containerd == nil {
		return "", errors.New("the engine did not say where its containerd is")
	}
	c, err := client.New(info.Containerd.Address, client.WithDefaultNamespace(info.Containerd.Namespaces.Containers))
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, info.Containerd.Namespaces.Containers)
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		return "", err
	}
	for i, img := range imgs {
		opts := []images.DeleteOpt{}
		if i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := c.ImageService().Delete(ctx, img.Name, opts...); err != nil {
			return "", fmt.Errorf("removing %s from containerd: %w", img.Name, err)
		}
	}
	return fmt.Sprintf("%d images removed from containerd namespace %s", len(imgs), info.Containerd.Namespaces.Containers), nil
}

var graphDrivers = []string{"overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs", "aufs", "devicemapper"}

func pruneClassic(root string) (string, error) {
	var removed []string
	cdir := filepath.Join(root, "containers")
	entries, _ := os.ReadDir(cdir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(cdir, e.Name(), "config.v2.json"))
		if err != nil {
			continue
		}
		var c struct{ Driver string }
		if json.Unmarshal(data, &c) == nil && slices.Contains(graphDrivers, c.Driver) {
			if err := os.RemoveAll(filepath.Join(cdir, e.Name())); err != nil {
				return "", err
			}
			removed = append(removed, "container "+e.Name()[:12])
		}
	}
	for _, d := range graphDrivers {
		for _, p := range []string{filepath.Join(root, "image", d), filepath.Join(root, d)} {
			if _, err := os.Stat(p); err == nil {
				if err := os.RemoveAll(p); err != nil {
					return "", fmt.Errorf("removing %s: %w", p, err)
				}
				removed = append(removed, p)
			}
		}
	}
	// The engine's builder kept its classic-mode state apart, pointing into
	// the folders just removed; its cache index is shared between modes,
	// so it goes too (a cache, rebuilt on the next builds).
	for _, f := range []string{"metadata_v2.db", "snapshots.db", "history.db", "cache.db"} {
		p := filepath.Join(root, "buildkit", f)
		if err := os.Remove(p); err == nil {
			removed = append(removed, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return fmt.Sprintf("classic store removed: %s", strings.Join(removed, ", ")), nil
}
