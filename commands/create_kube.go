package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/xbuild/xbuild/builder/store"
	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/kubernetes"
)

// kubernetesNode names a new kubernetes node and makes its endpoint as
// buildx does: without --node a generated name (its Deployment's), so
// nodes appended to a builder never share one, and an endpoint buildx
// reads. The endpoint argument names a kubeconfig context.
func kubernetesNode(env *Env, builderName, node, arg string, b *store.Builder) (string, string, error) {
	if node == "" {
		var err error
		node, err = kubernetes.NodeName(func(name string) bool {
			return b != nil && slices.ContainsFunc(b.Nodes, func(n store.Node) bool { return n.Name == name })
		})
		if err != nil {
			return "", "", err
		}
	}
	ep, err := kubernetes.NewEndpoint(builderName, node, arg, env.Getenv)
	return node, ep, err
}

// bootLogTo shows on stderr what create's bootstrap of node waits for
// (pods starting), so a slow start is not a silent one.
func bootLogTo(ctx context.Context, env *Env, node string) context.Context {
	return driver.WithBootLog(ctx, func(line string) {
		fmt.Fprintf(env.Stderr, "booting node %s: %s\n", node, line)
	})
}
