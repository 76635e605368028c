package store

import (
	"encoding/json"
	"strings"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// An instances/<name> file is buildx's NodeGroup as buildx v0.38.2 writes
// it (store/nodegroup.go): these field names, every one written even when
// empty. xbuild's own settings go under xbuildKey, which buildx's decoder
// skips; any other key (a newer buildx's, Dynamic) is kept as read.

// xbuildKey holds what only xbuild reads, in a builder and in a node.
const xbuildKey = "XBuild"

// dockerDriver is written as an empty Driver. buildx refuses a stored
// builder that names it ("additional instances of driver "docker" cannot
// be created"), but drives one with no driver as the docker builder of
// the engine or context its node's endpoint names.
const dockerDriver = "docker"

// fileGroup and fileNode read the keys xbuild knows. Go's decoder matches
// them regardless of case, as buildx's does.
type fileGroup struct {
	Name   string
	Driver string
	Nodes  []fileNode
	XBuild *groupExtras
}

type fileNode struct {
	Name       string
	Endpoint   string
	Platforms  []ocispecs.Platform
	DriverOpts map[string]string
	Flags      []string
	Files      map[string][]byte
	XBuild     *nodeExtras
}

type groupExtras struct {
	Created       time.Time `json:",omitzero"`
	SBOMGenerator string    `json:",omitempty"`
}

type nodeExtras struct {
	Driver string `json:",omitempty"`
}

var (
	groupKeys = []string{"Name", "Driver", "Nodes", xbuildKey}
	nodeKeys  = []string{"Name", "Endpoint", "Platforms", "DriverOpts", "Flags", "Files", xbuildKey}
)

func decodeBuilder(data []byte) (*Builder, error) {
	var f fileGroup
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	// The same bytes again as raw keys, for what the structs left out.
	var raw map[string]json.RawMessage
	var rawNodes struct{ Nodes []map[string]json.RawMessage }
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &rawNodes); err != nil {
		return nil, err
	}
	b := &Builder{Name: f.Name, Driver: f.Driver, extra: unknownKeys(raw, groupKeys)}
	if b.Driver == "" {
		b.Driver = dockerDriver
	}
	if f.XBuild != nil {
		b.Created, b.SBOMGenerator = f.XBuild.Created, f.XBuild.SBOMGenerator
	}
	for i, fn := range f.Nodes {
		n := Node{
			Name: fn.Name, Endpoint: fn.Endpoint, Platforms: fn.Platforms, DriverOpts: fn.DriverOpts,
			Flags: fn.Flags, Files: fn.Files,
		}
		if i < len(rawNodes.Nodes) {
			n.extra = unknownKeys(rawNodes.Nodes[i], nodeKeys)
		}
		if fn.XBuild != nil {
			n.Driver = fn.XBuild.Driver
		}
		b.Nodes = append(b.Nodes, n)
	}
	return b, nil
}

// unknownKeys is raw without the known keys, in any case.
func unknownKeys(raw map[string]json.RawMessage, known []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range raw {
		if !hasKey(known, k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func hasKey(keys []string, k string) bool {
	for _, known := range keys {
		if strings.EqualFold(known, k) {
			return true
		}
	}
	return false
}

func encodeBuilder(b *Builder) ([]byte, error) {
	top := map[string]any{}
	for k, v := range b.extra {
		top[k] = v
	}
	if !hasAnyKey(b.extra, "Dynamic") {
		top["Dynamic"] = false // buildx always writes it
	}
	top["Name"], top["Driver"] = b.Name, b.Driver
	if b.Driver == dockerDriver {
		top["Driver"] = ""
	}
	nodes := make([]map[string]any, len(b.Nodes))
	for i, n := range b.Nodes {
		m := map[string]any{}
		for k, v := range n.extra {
			m[k] = v
		}
		m["Name"], m["Endpoint"], m["Platforms"] = n.Name, n.Endpoint, n.Platforms
		m["DriverOpts"], m["Flags"], m["Files"] = n.DriverOpts, n.Flags, n.Files
		if n.Driver != "" {
			m[xbuildKey] = nodeExtras{Driver: n.Driver}
		}
		nodes[i] = m
	}
	top["Nodes"] = nodes
	if !b.Created.IsZero() || b.SBOMGenerator != "" {
		top[xbuildKey] = groupExtras{Created: b.Created, SBOMGenerator: b.SBOMGenerator}
	}
	return json.Marshal(top)
}

func hasAnyKey(m map[string]json.RawMessage, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
