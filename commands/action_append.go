package commands

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/xbuild/xbuild/builder"
)

// appendedNode is one entry of the step's append input, in
// docker/setup-buildx-action's form:
//
//	append: |
//	  - name: arm
//	    endpoint: tcp://arm-builder:1234
//	    platforms: linux/arm64
//	    driver-opts: cacert=/certs/ca.pem
type appendedNode struct {
	name, endpoint string
	platforms      []string // normalized
	driverOpts     []string
}

// parseAppendInput reads the append input; keys setup-buildx-action has
// but xbuild does not use (buildkitd-flags, buildkitd-config) are refused
// rather than ignored.
func parseAppendInput(raw string) ([]appendedNode, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var entries []map[string]any
	if err := yaml.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("input append: want a YAML list of nodes (name, endpoint, platforms, driver-opts): %v", oneLine(err.Error()))
	}
	out := make([]appendedNode, 0, len(entries))
	for i, e := range entries {
		var n appendedNode
		for k, v := range e {
			switch k {
			case "name", "endpoint":
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("input append: node %d: %s must be a string", i+1, k)
				}
				if k == "name" {
					n.name = s
				} else {
					n.endpoint = s
				}
			case "platforms", "driver-opts":
				vals, err := stringList(v)
				if err != nil {
					return nil, fmt.Errorf("input append: node %d: %s: %w", i+1, k, err)
				}
				if k == "driver-opts" {
					n.driverOpts = vals
					continue
				}
				plats, err := builder.ParsePlatforms(vals)
				if err != nil {
					return nil, fmt.Errorf("input append: node %d: %w", i+1, err)
				}
				for _, p := range plats {
					n.platforms = append(n.platforms, builder.FormatPlatform(p))
				}
			default:
				return nil, fmt.Errorf("input append: node %d: unknown key %q (known: name, endpoint, platforms, driver-opts)", i+1, k)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// stringList takes a YAML string (newline-separated) or list of strings.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		var out []string
		for _, l := range strings.Split(v, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %v", e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings, got %v", v)
}

// normalPlatform is a platform input in its written form, for comparing;
// one that does not parse stays as given (the build refuses it later).
func normalPlatform(s string) string {
	p, err := builder.ParsePlatform(s)
	if err != nil {
		return s
	}
	return builder.FormatPlatform(p)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
