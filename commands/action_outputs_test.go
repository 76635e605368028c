package commands

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xbuild/xbuild/builder"
)

func TestBuilderOutputs(t *testing.T) {
	t.Parallel()
	one := setupNode{Name: "b0", Endpoint: "tcp://10.0.0.1:1234", DriverOpts: []string{"image=moby/buildkit"}, Status: "running",
		Flags: "--debug --allow-insecure-entitlement security.insecure", BuildKit: "v0.34.2", Platforms: "linux/amd64,linux/386"}
	two := setupNode{Name: "arm", Endpoint: "tcp://10.0.0.2:1234", Status: "running", Platforms: "linux/arm64,linux/386"}
	tests := []struct {
		name  string
		nodes []setupNode
		want  map[string]string
	}{
		{name: "one node", nodes: []setupNode{one}, want: map[string]string{"name": "ci", "driver": "remote",
			"platforms": "linux/amd64,linux/386", "endpoint": one.Endpoint, "status": "running", "flags": one.Flags}},
		{name: "first node's endpoint, every node's platforms once", nodes: []setupNode{one, two}, want: map[string]string{"name": "ci",
			"driver": "remote", "platforms": "linux/amd64,linux/386,linux/arm64", "endpoint": one.Endpoint, "status": "running", "flags": one.Flags}},
		{name: "no nodes", want: map[string]string{"name": "ci", "driver": "remote", "platforms": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outs, err := builderOutputs("ci", "remote", tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, o := range outs {
				got[o.name] = o.value
			}
			var nodes []map[string]any
			if err := json.Unmarshal([]byte(got["nodes"]), &nodes); err != nil || len(nodes) != len(tt.nodes) {
				t.Errorf("builderOutputs() nodes = %s (%v)", got["nodes"], err)
			}
			delete(got, "nodes")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("builderOutputs() = %v, want %v", got, tt.want)
			}
		})
	}
}

// The nodes output carries setup-buildx-action's field names.
func TestBuilderOutputsNodesShape(t *testing.T) {
	t.Parallel()
	outs, err := builderOutputs("ci", "remote", []setupNode{{Name: "b0", Endpoint: "tcp://b:1", DriverOpts: []string{"a=b"},
		Status: "running", Flags: "--debug", BuildKit: "v0.34.2", Platforms: "linux/amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	for _, o := range outs {
		if o.name == "nodes" {
			_ = json.Unmarshal([]byte(o.value), &nodes)
		}
	}
	want := map[string]any{"name": "b0", "endpoint": "tcp://b:1", "driver-opts": []any{"a=b"}, "status": "running",
		"buildkitd-flags": "--debug", "buildkit": "v0.34.2", "platforms": "linux/amd64"}
	if len(nodes) != 1 || !reflect.DeepEqual(nodes[0], want) {
		t.Errorf("builderOutputs() nodes = %v, want [%v]", nodes, want)
	}
}

func TestShellJoin(t *testing.T) {
	t.Parallel()
	if got, want := shellJoin([]string{"--debug", "--oci-worker-gc-keepstorage", "10 GB"}), `--debug --oci-worker-gc-keepstorage "10 GB"`; got != want {
		t.Errorf("shellJoin() = %s, want %s", got, want)
	}
}

func TestBuildRefs(t *testing.T) {
	t.Parallel()
	results := map[string]*builder.Result{
		"app":   {Metadata: map[string]any{"buildx.build.ref": "ci/ci0/zzz"}},
		"tools": {Metadata: map[string]any{"buildx.build.ref": "ci/ci0/aaa,ci/arm/bbb"}},
		"docs":  {Metadata: map[string]any{}},
		"again": {Metadata: map[string]any{"buildx.build.ref": "ci/ci0/zzz"}},
	}
	if got, want := buildRefs(results), []string{"ci/arm/bbb", "ci/ci0/aaa", "ci/ci0/zzz"}; !reflect.DeepEqual(got, want) {
		t.Errorf("buildRefs() = %q, want %q", got, want)
	}
}

func TestRecordPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, repo, ref, want string
	}{
		{name: "repository", repo: "acme/app", ref: "ci/ci0/q5g6k2xyz", want: "acme~app~Q5G6K2.dockerbuild"},
		{name: "no repository", ref: "abc", want: "xbuild~ABC.dockerbuild"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := &Env{Getenv: func(k string) string {
				return map[string]string{"RUNNER_TEMP": "/tmp/r", "GITHUB_REPOSITORY": tt.repo}[k]
			}}
			if got := recordPath(env, tt.ref); got != filepath.Join("/tmp/r", tt.want) {
				t.Errorf("recordPath(%q) = %s, want %s", tt.ref, got, tt.want)
			}
		})
	}
}

func TestActionSwitch(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": true, "true": true, "1": true, "false": false, "0": false, "maybe": true} {
		env := &Env{Getenv: func(string) string { return v }}
		if got := actionSwitch(env, "DOCKER_BUILD_SUMMARY"); got != want {
			t.Errorf("actionSwitch(DOCKER_BUILD_SUMMARY=%q) = %t, want %t", v, got, want)
		}
	}
}

// DOCKER_BUILD_CHECKS_ANNOTATIONS=false keeps the log group and drops the
// build check annotations.
func TestJobLogsAnnotations(t *testing.T) {
	t.Parallel()
	job := &builder.Job{Name: "default", Req: &builder.Request{Context: "app"}}
	res := &builder.Result{Metadata: map[string]any{"containerimage.digest": "sha256:d"}}
	res.Stats.Warnings = []builder.Warning{{File: "Dockerfile", Line: 2, Title: "FromAsCasing", Message: "casing"}}
	results := map[string]*builder.Result{"default": res}
	for annotate, want := range map[bool]bool{true: true, false: false} {
		got := jobLogs([]*builder.Job{job}, results, annotate)
		if has := strings.Contains(got, "::warning file=app/Dockerfile,line=2,"); has != want || !strings.Contains(got, "::group::default") {
			t.Errorf("jobLogs(annotate=%t) =\n%s", annotate, got)
		}
	}
}
