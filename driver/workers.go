package driver

import (
	"context"
	"fmt"

	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReadDaemon fills the BuildKit part of Info from a running daemon: its
// version, its workers' platforms and labels. Drivers share it.
func ReadDaemon(ctx context.Context, c *bkclient.Client, info *Info) error {
	bi, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading buildkit info: %w", err)
	}
	info.BuildKitVersion = bi.BuildkitVersion.Version
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("listing buildkit workers: %w", err)
	}
	info.WorkerLabels = map[string]string{}
	seen := map[string]bool{}
	for _, w := range workers {
		for k, v := range w.Labels {
			info.WorkerLabels[k] = v
		}
		for _, p := range w.Platforms {
			p = platforms.Normalize(p)
			key := platforms.FormatAll(p)
			if !seen[key] {
				seen[key] = true
				info.Platforms = append(info.Platforms, p)
			}
		}
	}
	return nil
}

// FormatPlatforms joins platforms the way `ls` prints them.
func FormatPlatforms(ps []ocispecs.Platform) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += platforms.FormatAll(p)
	}
	return s
}
