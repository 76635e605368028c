package builder

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// BootNodeFor boots and returns the node a build for platform p would run
// on, by the rule builds follow: the first node created for p, else the
// first node created for no platform whose workers run p, else the first
// node. Nodes are booted in order only as far as the choice needs. A nil p
// is the first node.
func BootNodeFor(ctx context.Context, inst *Instance, p *ocispecs.Platform) (Node, error) {
	if len(inst.Nodes) == 0 {
		return Node{}, fmt.Errorf("builder %q has no nodes", inst.Name)
	}
	if p != nil && len(inst.Nodes) > 1 {
		n, found, err := bootRunning(ctx, inst, *p)
		if found || err != nil {
			return n, err
		}
	}
	n := inst.Nodes[0]
	if _, err := boot(ctx, inst, n); err != nil {
		return Node{}, nodeError(inst, n, err)
	}
	return n, nil
}

// bootRunning finds the node for p among those created for it, then among
// those whose workers run it, booting the latter to ask them.
func bootRunning(ctx context.Context, inst *Instance, p ocispecs.Platform) (Node, bool, error) {
	want := platforms.FormatAll(platforms.Normalize(p))
	has := func(ps []ocispecs.Platform) bool {
		return slices.ContainsFunc(ps, func(q ocispecs.Platform) bool { return platforms.FormatAll(platforms.Normalize(q)) == want })
	}
	for _, n := range inst.Nodes {
		if has(n.Platforms) {
			_, err := boot(ctx, inst, n)
			return n, true, nodeError(inst, n, err)
		}
	}
	for _, n := range inst.Nodes {
		if len(n.Platforms) > 0 {
			continue
		}
		info, err := boot(ctx, inst, n)
		if err != nil {
			return Node{}, false, nodeError(inst, n, err)
		}
		if has(info.Platforms) {
			return n, true, nil
		}
	}
	return Node{}, false, nil
}

func nodeError(inst *Instance, n Node, err error) error {
	if err == nil || len(inst.Nodes) == 1 {
		return err
	}
	return fmt.Errorf("node %s: %w", n.Name, err)
}
