package builder

import (
	"bytes"
	"slices"

	"github.com/moby/buildkit/cmd/buildkitd/config"
)

// plainHTTPRegistries lists the registries a node's buildkitd.toml speaks
// plain HTTP to. The pushes this side makes for the node (the index of a
// build split over several nodes) must speak to them the same way, as
// buildx's do; a config that does not parse lists none (the daemon says
// what is wrong with it).
func plainHTTPRegistries(toml []byte) []string {
	if len(toml) == 0 {
		return nil
	}
	cfg, err := config.Load(bytes.NewReader(toml))
	if err != nil {
		return nil
	}
	var hosts []string
	for host, r := range cfg.Registries {
		if r.PlainHTTP != nil && *r.PlainHTTP {
			hosts = append(hosts, host)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// plainHTTPOf joins the plain-HTTP registries of the nodes a job runs on.
func plainHTTPOf(parts []*partPlan) []string {
	var hosts []string
	for _, pt := range parts {
		for _, h := range pt.conn.node.PlainHTTP {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}
