package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The paths are relative to this package's folder, where `go test` runs.
var (
	varsFile = filepath.Join("..", "..", "..", "hack", "env.vars")
	envTool  = filepath.Join("..", "..", "..", "hack", "env")
)

// readVars parses hack/env.vars: NAME and a description per line, blank
// lines and # comments skipped.
func readVars(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(varsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, desc, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(name, "XBUILD_TEST_") {
			t.Errorf("%s:%d: %q does not start with XBUILD_TEST_", varsFile, n, name)
		}
		if strings.TrimSpace(desc) == "" {
			t.Errorf("%s:%d: %s has no description", varsFile, n, name)
		}
		if slices.Contains(out, name) {
			t.Errorf("%s:%d: %s is listed twice", varsFile, n, name)
		}
		out = append(out, name)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every variable hack/env.vars lists is a field of Env, and every field is
// listed.
func TestVarsFileMatchesEnv(t *testing.T) {
	t.Parallel()
	listed := readVars(t)
	typ := reflect.TypeFor[Env]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("env")
		switch {
		case f.Type.Kind() != reflect.String:
			t.Errorf("Env.%s is a %s, want a string", f.Name, f.Type)
		case name == "":
			t.Errorf("Env.%s has no env tag", f.Name)
		case !slices.Contains(listed, name):
			t.Errorf("Env.%s reads %s, which %s does not list", f.Name, name, varsFile)
		}
	}
	fields := names()
	for _, name := range listed {
		if !slices.Contains(fields, name) {
			t.Errorf("%s lists %s, which no field of Env reads", varsFile, name)
		}
	}
}

// `hack/env print` exports exactly what hack/env.vars lists, in its order,
// each with a value. It only computes paths, so it runs here against a
// state folder of the test's own, with no daemon.
func TestPrintMatchesVarsFile(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("bash", envTool, "print")
	cmd.Env = append(os.Environ(), "XBUILD_ENV_DIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("hack/env print: %v\n%s", err, stderr)
	}
	var printed []string
	for line := range strings.Lines(string(out)) {
		kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		name, val, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Errorf("hack/env print printed %q, want export NAME=VALUE", line)
			continue
		}
		if val == "" || val == "''" {
			t.Errorf("hack/env print gives %s no value", name)
		}
		printed = append(printed, name)
	}
	if listed := readVars(t); !slices.Equal(printed, listed) {
		t.Errorf("hack/env print exports %v,\nwant what %s lists: %v", printed, varsFile, listed)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	all := map[string]string{}
	for _, name := range names() {
		all[name] = "value-of-" + name
	}
	tests := []struct {
		name        string
		in          map[string]string
		wantMissing []string
	}{
		{name: "all set", in: all},
		{name: "none set", in: nil, wantMissing: names()},
		{name: "two unset", in: without(all, "XBUILD_TEST_REGISTRY", "XBUILD_TEST_ACT"),
			wantMissing: []string{"XBUILD_TEST_REGISTRY", "XBUILD_TEST_ACT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(func(k string) string { return tt.in[k] })
			if len(tt.wantMissing) == 0 {
				if err != nil {
					t.Fatalf("load() = %v, want nil", err)
				}
				if got.Registry != "value-of-XBUILD_TEST_REGISTRY" || got.ContainerdOfEngine != "value-of-XBUILD_TEST_CONTAINERD_CONTAINERD" {
					t.Errorf("load() = %+v, want each field from its variable", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("load() = %+v, nil; want an error naming %v", got, tt.wantMissing)
			}
			// The list in the parentheses is exact: a name that prefixes
			// another (XBUILD_TEST_REGISTRY) must not pass for it.
			list := "(" + strings.Join(tt.wantMissing, ", ") + " unset)"
			for _, want := range []string{list, "hack/env up", "hack/env print"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("load() = %q, want it to name %s", err, want)
				}
			}
		})
	}
}

func without(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}
