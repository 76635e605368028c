package exporter

import (
	"encoding/csv"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkFuzzError holds a rejection to what users are promised: one
// non-empty line that quotes the value they typed.
func checkFuzzError(t *testing.T, call string, err error, mentions ...string) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s error = %q, want one non-empty line", call, msg)
	}
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			t.Fatalf("%s error = %q, want it to mention %s", call, msg, m)
		}
	}
}

// quotedCSV writes fields as one CSV line with every field quoted, so that
// no value (spaces, commas, quotes, line breaks) changes on the way back.
func quotedCSV(fields []string) string {
	q := make([]string, len(fields))
	for i, f := range fields {
		q[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
	}
	return strings.Join(q, ",")
}

// formatOutput writes an Output back in the key=value form Parse reads.
func formatOutput(o Output) string {
	fields := []string{"type=" + o.Type}
	if o.Dest != "" {
		fields = append(fields, "dest="+o.Dest)
	}
	for _, k := range slices.Sorted(maps.Keys(o.Attrs)) {
		fields = append(fields, k+"="+o.Attrs[k])
	}
	return quotedCSV(fields)
}

// FuzzParse holds the --output parser to its contract: no panic, errors of
// one line naming the value, results that pass their own validation, the
// whole value read, and a result that reads back the same once written out.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"out", "-", " - ", "type=local,dest=out", "type=tar,dest=-", "type=oci,dest=a.tar,compression=zstd",
		"type=registry,name=r/x:1", `type=image,"name=a/b:1,a/b:2",push=false`, "type=docker",
		"type=docker,dest=img.tar", "type=containerd,address=/run/containerd/containerd.sock",
		"type=image,name=a,push-by-digest=true,oci-mediatypes=1", "TYPE= local , DEST=x",
		"", "dest=x", "type=zip,dest=x", "type=local", "type=image,push=maybe", "type=oci,dest",
		`type=local,dest="a`, "type=local,dest=a\ntype=tar", `type=local,dest=a"b`, "type=image,=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		call := fmt.Sprintf("Parse(%q)", s)
		outs, err := Parse([]string{s})
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid --output %q", s))
			return
		}
		if len(outs) != 1 {
			t.Fatalf("%s = %d outputs, want 1", call, len(outs))
		}
		o := outs[0]
		if strings.Contains(s, "=") {
			// Only the first CSV line was read once: the rest of the value
			// was dropped without a word.
			r := csv.NewReader(strings.NewReader(strings.TrimSpace(s)))
			r.TrimLeadingSpace = true
			r.FieldsPerRecord = -1
			if records, err := r.ReadAll(); err == nil && len(records) > 1 {
				t.Fatalf("%s = %+v, reading only the first of %d lines", call, o, len(records))
			}
		}
		if o.Type == TypeRegistry || !slices.Contains(knownTypes, o.Type) {
			t.Fatalf("%s = type %q, want a known type, registry read as image", call, o.Type)
		}
		check := o
		check.Attrs = maps.Clone(o.Attrs)
		if err := check.validate(); err != nil {
			t.Fatalf("%s = %+v, which fails its own validation: %v", call, o, err)
		}
		written := formatOutput(o)
		again, err := Parse([]string{written})
		if err != nil {
			t.Fatalf("%s = %+v, written as %q, which does not parse: %v", call, o, written, err)
		}
		if !reflect.DeepEqual(again[0], o) {
			t.Fatalf("%s = %+v, written as %q, read back as %+v", call, o, written, again[0])
		}
	})
}

// FuzzParseLoad checks --load: a boolean or a containerd address, nil only
// for false, and errors naming the value.
func FuzzParseLoad(f *testing.F) {
	for _, s := range []string{
		"true", "false", "1", "0", "T", "", "yes", "containerd:///run/containerd/containerd.sock",
		"containerd:///run/k3s/containerd/containerd.sock?namespace=k8s.io&snapshotter=native",
		"containerd://", "containerd://?namespace=x", "containerd:///s?bogus=1", "containerd:///s?namespace=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		call := fmt.Sprintf("ParseLoad(%q)", v)
		o, err := ParseLoad(v)
		if err != nil {
			checkFuzzError(t, call, err, fmt.Sprintf("invalid --load %q", v))
			return
		}
		b, boolErr := strconv.ParseBool(v)
		switch {
		case boolErr == nil && !b:
			if o != nil {
				t.Fatalf("%s = %+v, want nil", call, o)
			}
		case boolErr == nil:
			if o == nil || !o.Loads() {
				t.Fatalf("%s = %+v, want a load into the engine", call, o)
			}
		default:
			if o == nil || o.Type != TypeContainerd || o.Attrs["address"] == "" || o.Attrs["namespace"] == "" || o.Attrs["snapshotter"] == "" {
				t.Fatalf("%s = %+v, want a containerd output with address, namespace and snapshotter", call, o)
			}
		}
	})
}

// FuzzParseContainerdAddress checks the containerd address form: a socket
// path always, and the address written back reads as the same location.
func FuzzParseContainerdAddress(f *testing.F) {
	for _, s := range []string{
		"containerd:///run/containerd/containerd.sock", "containerd://relative.sock?namespace=k8s.io",
		"containerd:///s?snapshotter=native&namespace=a=b", "containerd:///s?&&namespace=x&",
		"containerd://", "containerd://?namespace=x", "containerd:///s?bogus=1", "unix:///s", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		call := fmt.Sprintf("ParseContainerdAddress(%q)", v)
		loc, err := ParseContainerdAddress(v)
		if err != nil {
			checkFuzzError(t, call, err)
			return
		}
		if loc.Address == "" {
			t.Fatalf("%s = %+v, want a socket path", call, loc)
		}
		written := "containerd://" + loc.Address + "?namespace=" + loc.Namespace + "&snapshotter=" + loc.Snapshotter
		again, err := ParseContainerdAddress(written)
		if err != nil {
			t.Fatalf("%s = %+v, written as %q, which does not parse: %v", call, loc, written, err)
		}
		if again != loc {
			t.Fatalf("%s = %+v, written as %q, read back as %+v", call, loc, written, again)
		}
	})
}
