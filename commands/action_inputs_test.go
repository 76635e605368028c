package commands

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// inputEnv is an Env whose INPUT_* variables are in, by input name.
func inputEnv(in map[string]string) *Env {
	return &Env{Getenv: func(k string) string {
		return in[strings.ToLower(strings.TrimPrefix(k, "INPUT_"))]
	}}
}

func TestActionMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   map[string]string
		want actionMode
	}{
		{name: "no inputs sets up", in: nil, want: modeSetup},
		{name: "setup-buildx-action inputs set up", in: map[string]string{"driver": "remote", "endpoint": "tcp://b:1234", "platforms": "linux/amd64",
			"use": "true", "cleanup": "true", "keep-state": "false", "github-token": "t", "builder": "b"}, want: modeSetup},
		{name: "tags build", in: map[string]string{"tags": "a/b", "platforms": "linux/amd64"}, want: modeBuild},
		{name: "push false builds", in: map[string]string{"push": "false"}, want: modeBuild},
		{name: "context builds", in: map[string]string{"context": "."}, want: modeBuild},
		{name: "targets bake", in: map[string]string{"targets": "app", "push": "true"}, want: modeBake},
		{name: "vars bake", in: map[string]string{"vars": "A=1"}, want: modeBake},
		{name: "workdir bakes", in: map[string]string{"workdir": "sub"}, want: modeBake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (actionInputs{env: inputEnv(tt.in)}).mode(); got != tt.want {
				t.Errorf("mode(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnknownInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "every docker action input is known", in: []string{"INPUT_SECRET-ENVS=A=B", "INPUT_KEEP-STATE=true",
			"INPUT_CACHE-BINARY=true", "INPUT_INSTALL=false", "INPUT_WORKDIR=.", "INPUT_VARS=A=1", "INPUT_CALL=build",
			"INPUT_GITHUB-TOKEN=x", "INPUT_USE=true", "PATH=/bin"}},
		{name: "typos are named, sorted", in: []string{"INPUT_PLATFROMS=linux/amd64", "INPUT_TAGS=a", "INPUT_BUILD-ARG=A=1"},
			want: []string{"build-arg", "platfroms"}},
		{name: "install true has no counterpart", in: []string{"INPUT_INSTALL=true"}, want: []string{"install"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := unknownInputs(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("unknownInputs(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestActionSecretInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    []string
		wantErr string
	}{
		{name: "envs and files", in: map[string]string{"secret-envs": "tok=GH_TOKEN,npm=NPM_TOKEN\nkey = KEY", "secret-files": "cert=./ca.pem\nodd=./a,b.txt"},
			want: []string{"id=tok,env=GH_TOKEN", "id=npm,env=NPM_TOKEN", "id=key,env=KEY", "id=cert,src=./ca.pem", `id=odd,"src=./a,b.txt"`}},
		{name: "none", in: nil},
		{name: "no value", in: map[string]string{"secret-envs": "tok"}, wantErr: `input secret-envs: "tok" is not KEY=ENVVAR`},
		{name: "no key", in: map[string]string{"secret-files": "=./x"}, wantErr: `input secret-files: "=./x" is not KEY=PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := actionInputs{env: inputEnv(tt.in)}.secretInputs()
			checkFlagErr(t, "secretInputs", err, tt.wantErr)
			if tt.wantErr == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("secretInputs(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// The secrets of secret-envs and secret-files reach the request as
// secrets of the build; call is refused unless it is build.
func TestActionBuildInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    []string // secret IDs
		wantErr string
	}{
		{name: "secret-envs", in: map[string]string{"secret-envs": "tok=HOME", "secrets": "id=other,env=PATH"}, want: []string{"other", "tok"}},
		{name: "missing secret file", in: map[string]string{"secret-files": "cert=/nonexistent/ca.pem"}, wantErr: "/nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := inputEnv(tt.in)
			jobs, _, err := actionJobs(context.Background(), env, settings{}, actionInputs{env: env}, false)
			checkFlagErr(t, "actionJobs", err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			var ids []string
			for _, s := range jobs[0].Req.Secrets {
				ids = append(ids, s.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("actionJobs(%v) secrets = %v, want %v", tt.in, ids, tt.want)
			}
		})
	}
}

func TestActionCheckCall(t *testing.T) {
	t.Parallel()
	for call, wantErr := range map[string]string{"": "", "build": "", "check": "", "foo": `invalid input call "foo": unknown method "foo"`} {
		err := actionInputs{env: inputEnv(map[string]string{"call": call})}.checkCall()
		checkFlagErr(t, "checkCall", err, wantErr)
	}
}

// bake-action's inputs as bake's overrides: one left at its default
// overrides nothing in the bake file.
func TestActionBakeOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]string
		want    []string
		wantErr string
	}{
		{name: "defaults override nothing", in: map[string]string{"no-cache": "false", "pull": "false", "load": "false", "push": "false"}},
		{name: "empty overrides nothing", in: map[string]string{}},
		{name: "no-cache and pull when true", in: map[string]string{"no-cache": "true", "pull": "TRUE", "set": "app.tags=a"},
			want: []string{"app.tags=a", "*.no-cache=true", "*.pull=true"}},
		{name: "push load provenance", in: map[string]string{"push": "true", "load": "true", "provenance": "mode=max"},
			want: []string{"*.push=true", "*.load=true", "*.attest=type=provenance,mode=max"}},
		{name: "bad boolean", in: map[string]string{"no-cache": "yes"}, wantErr: `input no-cache: "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := actionInputs{env: inputEnv(tt.in)}
			o, _, err := actionBakeOptions(in)
			checkFlagErr(t, "actionBakeOptions", err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			got, err := o.overrideList(actionBakeChanged(in))
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("overrideList(%v) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestActionBakeVars(t *testing.T) {
	t.Parallel()
	o, targets, err := actionBakeOptions(actionInputs{env: inputEnv(map[string]string{"vars": "TAG=1.0\nBASE=alpine", "targets": "app,tools", "files": "a.hcl\nb.hcl"})})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"TAG=1.0", "BASE=alpine"}; !reflect.DeepEqual(o.vars, want) {
		t.Errorf("actionBakeOptions() vars = %q, want %q", o.vars, want)
	}
	if !reflect.DeepEqual(targets, []string{"app", "tools"}) || !reflect.DeepEqual(o.files, []string{"a.hcl", "b.hcl"}) {
		t.Errorf("actionBakeOptions() targets = %q, files = %q", targets, o.files)
	}
}
