package commands

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/docker/buildx/policy"
	"github.com/spf13/cobra"
)

func newPolicyJSONSchemaCommand(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "json-schema",
		Short: "Print policy JSON schema",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(policySchema())
		},
	}
}

// policySchema is the JSON Schema of the input a policy sees, made from
// the policy engine's own types, so it cannot drift from them; the
// decision a policy returns is in $defs as Decision.
func policySchema() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	root := g.of(reflect.TypeFor[policy.Input]())
	g.of(reflect.TypeFor[policy.Decision]())
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "Build policy input",
		"description": "The input document of a build policy (package docker); the policy's data.docker.decision follows $defs.Decision.",
		"$ref":        root["$ref"],
		"$defs":       g.defs,
	}
}

// schemaGen writes one $defs entry per named struct type, so recursive
// types (an image's provenance materials are inputs again) end.
type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t == reflect.TypeFor[time.Time]() {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		return g.structRef(t)
	}
	return map[string]any{}
}

func (g *schemaGen) structRef(t reflect.Type) map[string]any {
	if t.Name() == "" {
		return g.structSchema(t)
	}
	name := t.Name()
	if t.PkgPath() != reflect.TypeFor[policy.Input]().PkgPath() {
		name = t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:] + "." + name
	}
	ref := map[string]any{"$ref": "#/$defs/" + name}
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = map[string]any{} // placeholder: ends recursion
		g.defs[name] = g.structSchema(t)
	}
	return ref
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	g.addFields(props, t)
	return map[string]any{"type": "object", "properties": props}
}

// addFields adds t's JSON fields to props, embedded structs inline.
func (g *schemaGen) addFields(props map[string]any, t reflect.Type) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			g.addFields(props, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
	}
}
