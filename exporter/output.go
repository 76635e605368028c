package exporter

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/xbuild/xbuild/imagestore"
)

// Output types users may ask for.
const (
	TypeLocal     = "local"
	TypeTar       = "tar"
	TypeOCI       = "oci"
	TypeDocker    = "docker"
	TypeImage     = "image"
	TypeRegistry  = "registry"
	TypeCacheOnly = "cacheonly"
	// TypeContainerd loads into a containerd's content and image store
	// (a k3s or kind node, a plain containerd): address=, namespace=,
	// snapshotter=, name=.
	TypeContainerd = "containerd"
)

var knownTypes = []string{TypeLocal, TypeTar, TypeOCI, TypeDocker, TypeImage, TypeRegistry, TypeCacheOnly, TypeContainerd}

// Output is one parsed --output value.
type Output struct {
	Type string
	// Dest is a folder (local), a file or "-" for stdout (tar, oci, docker);
	// empty for docker means the engine's image store.
	Dest  string
	Attrs map[string]string
}

// Parse reads --output values: "type=...,dest=...,k=v", a bare folder for
// type=local, or "-" for a tar on stdout.
func Parse(specs []string) ([]Output, error) {
	var outs []Output
	for _, s := range specs {
		o, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("invalid --output %q: %w", s, err)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func parseOne(s string) (Output, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Output{}, fmt.Errorf("empty value")
	}
	if s == "-" {
		return Output{Type: TypeTar, Dest: "-", Attrs: map[string]string{}}, nil
	}
	if !strings.Contains(s, "=") {
		return Output{Type: TypeLocal, Dest: s, Attrs: map[string]string{}}, nil
	}
	fields, err := csvFields(s)
	if err != nil {
		return Output{}, err
	}
	o := Output{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Output{}, fmt.Errorf("field %q is not key=value", f)
		}
		switch k = strings.ToLower(strings.TrimSpace(k)); k {
		case "type":
			o.Type = v
		case "dest":
			o.Dest = v
		default:
			o.Attrs[k] = v
		}
	}
	return o, o.validate()
}

// Check completes and checks an output built from another parser's
// fields (bake's, buildx's buildflags): the rules Parse applies.
func (o *Output) Check() error { return o.validate() }

func (o *Output) validate() error {
	if o.Type == "" {
		return fmt.Errorf("type is required (one of %s)", strings.Join(knownTypes, ", "))
	}
	if !slices.Contains(knownTypes, o.Type) {
		return fmt.Errorf("unknown type %q (one of %s)", o.Type, strings.Join(knownTypes, ", "))
	}
	if wantsLayout(*o) {
		if err := checkLayoutDest(o.Type, o.Dest); err != nil {
			return err
		}
	}
	switch o.Type {
	case TypeLocal:
		if o.Dest == "" {
			return fmt.Errorf("type=local needs dest=FOLDER")
		}
	case TypeTar, TypeOCI:
		if o.Dest == "" {
			return fmt.Errorf("type=%s needs dest=FILE (or dest=- for stdout)", o.Type)
		}
	case TypeContainerd:
		if o.Attrs["address"] == "" {
			return fmt.Errorf("type=containerd needs address=SOCKET")
		}
		if o.Attrs["namespace"] == "" {
			o.Attrs["namespace"] = "default"
		}
		if o.Attrs["snapshotter"] == "" {
			o.Attrs["snapshotter"] = "overlayfs"
		}
	case TypeImage, TypeRegistry:
		if o.Dest != "" {
			return fmt.Errorf("type=%s takes no dest; use name= and push=", o.Type)
		}
	}
	if o.Type == TypeRegistry {
		o.Type = TypeImage
		o.Attrs["push"] = "true"
		// A push alone needs no unpacked image on the builder; buildx
		// skips it unless asked.
		if _, ok := o.Attrs["unpack"]; !ok {
			o.Attrs["unpack"] = "false"
		}
	}
	for _, k := range []string{"push", "unpack", "oci-mediatypes", "force-compression", "push-by-digest", "store"} {
		if v, ok := o.Attrs[k]; ok {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%s=%q is not a boolean", k, v)
			}
		}
	}
	if c, ok := o.Attrs["compression"]; ok && !slices.Contains([]string{"gzip", "zstd", "estargz", "uncompressed"}, c) {
		return fmt.Errorf("compression=%q: want gzip, zstd, estargz or uncompressed", c)
	}
	return nil
}

// Loads reports whether the output loads the image into the engine's store.
func (o Output) Loads() bool { return o.Type == TypeDocker && o.Dest == "" }

// Pushes reports whether the output pushes to a registry.
func (o Output) Pushes() bool {
	b, _ := strconv.ParseBool(o.Attrs["push"])
	return o.Type == TypeImage && b
}

// HoldsIndex reports whether the output can carry an image index (several
// platforms, attestations). Only an engine load depends on the store.
func (o Output) HoldsIndex() bool {
	return o.Type == TypeOCI || o.Type == TypeImage || o.Type == TypeDocker || o.Type == TypeContainerd
}

// ParseLoad reads a --load value: a boolean, or containerd://SOCKET with an
// optional ?namespace=NS (and &snapshotter=NAME) for a plain containerd.
// It returns nil for --load=false.
func ParseLoad(v string) (*Output, error) {
	if strings.HasPrefix(v, "containerd://") {
		loc, err := ParseContainerdAddress(v)
		if err != nil {
			return nil, fmt.Errorf("invalid --load %q: %w", v, err)
		}
		o := Output{Type: TypeContainerd, Attrs: map[string]string{
			"address": loc.Address, "namespace": loc.Namespace, "snapshotter": loc.Snapshotter,
		}}
		if err := o.validate(); err != nil {
			return nil, fmt.Errorf("invalid --load %q: %w", v, err)
		}
		return &o, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("invalid --load %q: want true, false or containerd://SOCKET?namespace=NS", v)
	}
	if !b {
		return nil, nil
	}
	return &Output{Type: TypeDocker, Attrs: map[string]string{}}, nil
}

// ParseContainerdAddress reads containerd://SOCKET[?namespace=NS][&snapshotter=NAME].
// Parameters not given stay empty.
func ParseContainerdAddress(v string) (imagestore.Location, error) {
	rest, ok := strings.CutPrefix(v, "containerd://")
	if !ok {
		return imagestore.Location{}, fmt.Errorf("want containerd://SOCKET[?namespace=NS]")
	}
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return imagestore.Location{}, fmt.Errorf("no socket path")
	}
	loc := imagestore.Location{Address: path}
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "namespace":
			loc.Namespace = val
		case "snapshotter":
			loc.Snapshotter = val
		default:
			return imagestore.Location{}, fmt.Errorf("unknown parameter %q (use namespace= or snapshotter=)", k)
		}
	}
	return loc, nil
}

func csvFields(s string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty value")
	}
	if err != nil {
		return nil, err
	}
	// A second record means a line break outside quotes: refused, as what
	// follows it would otherwise be dropped without a word.
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		return nil, errors.New("line break outside quotes (quote a value that holds one)")
	}
	return fields, nil
}

// CSVFields splits a comma-separated key=value list the way every
// multi-field flag (--secret, --cache-to, --attest) expects.
func CSVFields(s string) ([]string, error) { return csvFields(s) }
