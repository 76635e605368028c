package imagestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	dockerclient "github.com/moby/moby/client"
)

// Status is what an engine's stores hold: the active one as the engine
// reports it, and the inactive one as found on disk (or in containerd),
// which switching stores hid from the user.
type Status struct {
	Engine  string `json:"engine"`
	DataDir string `json:"dataRoot"`
	Active  Usage  `json:"active"`
	// Inactive is nil when it could not be read (a remote engine, no
	// permission); InactiveError says why.
	Inactive      *Usage `json:"inactive,omitempty"`
	InactiveError string `json:"inactiveError,omitempty"`
}

// Usage is one store's contents.
type Usage struct {
	Kind       Kind     `json:"store"`
	Images     int      `json:"images"`
	Containers int      `json:"containers"`
	Bytes      int64    `json:"bytes"`
	Names      []string `json:"names,omitempty"`
	Layers     int      `json:"layers,omitempty"`
}

// StatusEngine is what Inspect needs from an engine.
type StatusEngine interface {
	InfoGetter
	DiskUsage(ctx context.Context, options dockerclient.DiskUsageOptions) (dockerclient.DiskUsageResult, error)
}

// Inspect reports both stores of an engine.
func Inspect(ctx context.Context, engine StatusEngine, host string) (*Status, error) {
	res, err := engine.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading engine info: %w", err)
	}
	info := res.Info
	du, err := engine.DiskUsage(ctx, dockerclient.DiskUsageOptions{Images: true, Containers: true})
	if err != nil {
		return nil, fmt.Errorf("reading engine disk usage: %w", err)
	}
	st := &Status{Engine: host, DataDir: info.DockerRootDir, Active: Usage{
		Kind:       FromInfo(info),
		Images:     int(du.Images.TotalCount),
		Containers: int(du.Containers.TotalCount),
		Bytes:      du.Images.TotalSize + du.Containers.TotalSize,
	}}
	var inactive *Usage
	if st.Active.Kind == Containerd {
		inactive, err = classicUsage(info.DockerRootDir)
	} else {
		loc := Location{Namespace: "moby"}
		if info.Containerd != nil {
			loc.Address, loc.Namespace = info.Containerd.Address, info.Containerd.Namespaces.Containers
		}
		inactive, err = containerdUsage(ctx, loc)
	}
	if err != nil {
		st.InactiveError = err.Error()
	} else {
		st.Inactive = inactive
	}
	return st, nil
}

// classicUsage reads what the graph-driver store left under the data root:
// tagged names, layers, and the disk its image and layer folders take.
func classicUsage(root string) (*Usage, error) {
	u := &Usage{Kind: Classic}
	imgDir := filepath.Join(root, "image")
	drivers, err := os.ReadDir(imgDir)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil // never used
	}
	if err != nil {
		return nil, fmt.Errorf("the engine's data root is not readable here: %w", err)
	}
	for _, d := range drivers {
		if !d.IsDir() {
			continue
		}
		names, err := repositories(filepath.Join(imgDir, d.Name(), "repositories.json"))
		if err != nil {
			return nil, err
		}
		u.Names = append(u.Names, names...)
		if layers, err := os.ReadDir(filepath.Join(imgDir, d.Name(), "layerdb", "sha256")); err == nil {
			u.Layers += len(layers)
		}
		if imgs, err := os.ReadDir(filepath.Join(imgDir, d.Name(), "imagedb", "content", "sha256")); err == nil {
			u.Images += len(imgs)
		}
		for _, dir := range []string{filepath.Join(imgDir, d.Name()), filepath.Join(root, d.Name())} {
			n, err := diskUsage(dir)
			if err != nil {
				return nil, err
			}
			u.Bytes += n
		}
	}
	if cs, err := os.ReadDir(filepath.Join(root, "containers")); err == nil {
		u.Containers = len(cs)
	}
	sort.Strings(u.Names)
	return u, nil
}

func repositories(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var repos struct {
		Repositories map[string]map[string]string
	}
	if err := json.Unmarshal(data, &repos); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var out []string
	for _, tags := range repos.Repositories {
		for ref := range tags {
			if !strings.Contains(ref, "@") {
				out = append(out, ref)
			}
		}
	}
	return out, nil
}

func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// containerdUsage reads the images the containerd store left in the
// engine's containerd namespace.
func containerdUsage(ctx context.Context, loc Location) (*Usage, error) {
	if loc.Address == "" {
		return nil, errors.New("the engine did not say where its containerd is")
	}
	if _, err := os.Stat(loc.Address); err != nil {
		return nil, fmt.Errorf("the engine's containerd socket is not on this host: %w", err)
	}
	c, err := client.New(loc.Address, client.WithDefaultNamespace(loc.Namespace), client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("reaching the engine's containerd: %w", err)
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, loc.Namespace)
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing images in containerd namespace %s: %w", loc.Namespace, err)
	}
	u := &Usage{Kind: Containerd, Images: len(imgs)}
	for _, i := range imgs {
		u.Names = append(u.Names, i.Name)
	}
	sort.Strings(u.Names)
	err = c.ContentStore().Walk(ctx, func(i content.Info) error {
		u.Bytes += i.Size
		return nil
	})
	return u, err
}
