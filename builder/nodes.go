package builder

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	bkclient "github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/driver"
)

// nodeConn is a booted node and a client to it.
type nodeConn struct {
	node   Node
	info   driver.Info
	client *bkclient.Client
}

// connectNodes boots every node of inst and opens a client to each. A node
// that does not answer stops the build: it might be the only one for some
// platform, and buildx users expect the same.
func connectNodes(ctx context.Context, inst *Instance, opts BuildOptions) (_ []*nodeConn, err error) {
	var conns []*nodeConn
	defer func() {
		if err != nil {
			closeNodes(conns)
		}
	}()
	for _, n := range inst.Nodes {
		info, err := bootShown(ctx, inst, n, opts)
		if err != nil {
			if len(inst.Nodes) > 1 {
				return nil, fmt.Errorf("node %s: %w", n.Name, err)
			}
			return nil, err
		}
		c, err := n.Driver.Client(ctx)
		if err != nil {
			return nil, err
		}
		conns = append(conns, &nodeConn{node: n, info: info, client: c})
	}
	return conns, nil
}

// balance gives each part of a job that runs on a node of several daemons
// a client of its own, to the daemon the node picks for the job's context:
// a bake's targets spread over a kubernetes node's pods (random), or go to
// the pod that has their context's cache (sticky). One client per part, not
// per node, or every target would use the first pod picked.
func balance(ctx context.Context, parts []*partPlan, key string) (func(), error) {
	var opened []*bkclient.Client
	release := func() {
		for _, c := range opened {
			c.Close()
		}
	}
	for _, pt := range parts {
		b, ok := pt.conn.node.Driver.(driver.Balancer)
		if !ok {
			continue
		}
		c, err := b.ClientFor(ctx, key)
		if err != nil {
			release()
			return nil, fmt.Errorf("node %s: %w", pt.conn.node.Name, err)
		}
		opened = append(opened, c)
		pt.conn = &nodeConn{node: pt.conn.node, info: pt.conn.info, client: c}
	}
	return release, nil
}

// stickyKey is what a sticky node hashes to pick a job's daemon: the
// context's absolute path, or its URL.
func stickyKey(contextArg string) string {
	if strings.Contains(contextArg, "://") || contextArg == "-" {
		return contextArg
	}
	if abs, err := filepath.Abs(contextArg); err == nil {
		return abs
	}
	return contextArg
}

func closeNodes(conns []*nodeConn) {
	for _, c := range conns {
		c.client.Close()
	}
}

// share is the part of a job's platforms one node builds; no platforms
// means the node's default.
type share struct {
	node      int
	platforms []ocispecs.Platform
}

// nodePlatforms are what a node is for: the platforms it was created for
// (create --platform), and those its workers report.
type nodePlatforms struct {
	configured, supported []ocispecs.Platform
}

// assignPlatforms gives each platform to the first node created for it,
// else to the first node whose workers run it, else to the first node
// (where BuildKit may still emulate it), as buildx does. Shares keep the
// nodes' order; a job without platforms goes to the first node.
func assignPlatforms(want []ocispecs.Platform, nodes []nodePlatforms) []share {
	if len(want) == 0 || len(nodes) == 1 {
		return []share{{node: 0, platforms: want}}
	}
	byNode := make([][]ocispecs.Platform, len(nodes))
	for _, p := range want {
		n := pickNode(p, nodes)
		byNode[n] = append(byNode[n], p)
	}
	var out []share
	for i, ps := range byNode {
		if len(ps) > 0 {
			out = append(out, share{node: i, platforms: ps})
		}
	}
	return out
}

func pickNode(p ocispecs.Platform, nodes []nodePlatforms) int {
	same := func(q ocispecs.Platform) bool {
		return platforms.FormatAll(platforms.Normalize(q)) == platforms.FormatAll(platforms.Normalize(p))
	}
	for i, n := range nodes {
		if slices.ContainsFunc(n.configured, same) {
			return i
		}
	}
	for i, n := range nodes {
		if len(n.configured) == 0 && slices.ContainsFunc(n.supported, same) {
			return i
		}
	}
	return 0
}

func platformsOf(conns []*nodeConn) []nodePlatforms {
	out := make([]nodePlatforms, len(conns))
	for i, c := range conns {
		out[i] = nodePlatforms{configured: c.node.Platforms, supported: c.info.Platforms}
	}
	return out
}
