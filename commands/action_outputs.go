package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xbuild/xbuild/builder/store"
)

// setupNode is one entry of the nodes output, in the shape
// setup-buildx-action writes it.
type setupNode struct {
	Name       string   `json:"name"`
	Endpoint   string   `json:"endpoint"`
	DriverOpts []string `json:"driver-opts,omitempty"`
	Status     string   `json:"status,omitempty"`
	Flags      string   `json:"buildkitd-flags,omitempty"`
	BuildKit   string   `json:"buildkit,omitempty"`
	Platforms  string   `json:"platforms,omitempty"`
}

// builderOutputs are setup-buildx-action's outputs for a builder: name,
// driver, platforms (every node's, once each), nodes as JSON, and the
// first node's endpoint, status and buildkitd flags.
func builderOutputs(name, drv string, nodes []setupNode) ([]actionOutput, error) {
	dt, err := json.MarshalIndent(nodes, "", "  ")
	if err != nil {
		return nil, err
	}
	var plats []string
	for _, n := range nodes {
		for _, p := range strings.Split(n.Platforms, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(plats, p) {
				plats = append(plats, p)
			}
		}
	}
	outs := []actionOutput{{"name", name}, {"driver", drv}, {"platforms", strings.Join(plats, ",")}, {"nodes", string(dt)}}
	if len(nodes) > 0 {
		outs = append(outs, actionOutput{"endpoint", nodes[0].Endpoint}, actionOutput{"status", nodes[0].Status},
			actionOutput{"flags", nodes[0].Flags})
	}
	return outs, nil
}

// writeBuilderOutputs writes the outputs of the builder the step uses, the
// one it created or else the one its builds go to.
func writeBuilderOutputs(ctx context.Context, env *Env, name string) error {
	r, err := env.resolver()
	if err != nil {
		return err
	}
	inst, err := r.Resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("reading builder %q for the step's outputs: %w", name, err)
	}
	stored := map[string]store.Node{}
	if !inst.FromContext {
		err := r.Store.View(func(tx *store.Txn) error {
			b, err := tx.Get(inst.Name)
			if err == nil {
				for _, n := range b.Nodes {
					stored[n.Name] = n
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("reading builder %q for the step's outputs: %w", inst.Name, err)
		}
	}
	var nodes []setupNode
	for _, n := range lsNodes(ctx, inst, 20*time.Second) {
		sn := stored[n.Name]
		nodes = append(nodes, setupNode{Name: n.Name, Endpoint: n.Endpoint, DriverOpts: sortedOpts(sn.DriverOpts),
			Status: n.Status, Flags: shellJoin(sn.Flags), BuildKit: n.Version, Platforms: strings.Join(n.Platforms, ",")})
	}
	outs, err := builderOutputs(inst.Name, inst.Driver, nodes)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if err := appendGitHubFile(env, "GITHUB_OUTPUT", o.name, o.value); err != nil {
			return err
		}
	}
	return nil
}

func sortedOpts(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// shellJoin writes flags as one command line, quoting a flag with a space,
// as the flags output shows them.
func shellJoin(flags []string) string {
	out := make([]string, len(flags))
	for i, f := range flags {
		if f == "" || strings.ContainsAny(f, " \t\"'") {
			f = strconv.Quote(f)
		}
		out[i] = f
	}
	return strings.Join(out, " ")
}
