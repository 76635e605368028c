package builder

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagestore"
)

func plats(t *testing.T, s ...string) []ocispecs.Platform {
	t.Helper()
	ps, err := platforms.ParseAll(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		ps[i] = platforms.Normalize(ps[i])
	}
	return ps
}

func TestAssignPlatforms(t *testing.T) {
	t.Parallel()
	amd, arm, both := plats(t, "linux/amd64"), plats(t, "linux/arm64"), plats(t, "linux/amd64", "linux/arm64")
	tests := []struct {
		name  string
		want  []ocispecs.Platform
		nodes []nodePlatforms
		out   []share
	}{
		{"one node takes all", both, []nodePlatforms{{supported: amd}}, []share{{0, both}}},
		{"no platform: first node", nil, []nodePlatforms{{configured: arm}, {configured: amd}}, []share{{0, nil}}},
		{"created for it", both, []nodePlatforms{{configured: arm}, {configured: amd}}, []share{{0, arm}, {1, amd}}},
		{"created for it beats the workers", arm, []nodePlatforms{{supported: both}, {configured: arm}}, []share{{1, arm}}},
		{"the workers next", both, []nodePlatforms{{supported: amd}, {supported: arm}}, []share{{0, amd}, {1, arm}}},
		{"nobody: the first node", plats(t, "linux/riscv64"), []nodePlatforms{{configured: arm}, {supported: amd}}, []share{{0, plats(t, "linux/riscv64")}}},
		{"arm64 and arm64/v8 are one", plats(t, "linux/arm64/v8"), []nodePlatforms{{configured: amd}, {configured: arm}}, []share{{1, plats(t, "linux/arm64/v8")}}},
	}
	for _, tt := range tests {
		if got := assignPlatforms(tt.want, tt.nodes); !reflect.DeepEqual(got, tt.out) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.out)
		}
	}
}

// A job spread over two nodes can only be joined in a registry: anything
// else is refused before work, naming the split.
func TestPlanJobSplit(t *testing.T) {
	t.Parallel()
	caps := driver.Capabilities{MultiPlatform: true, ImageStore: imagestore.Containerd, Exporters: []string{"local", "tar", "oci", "docker"}, CacheExport: true}
	conns := []*nodeConn{
		{node: Node{Name: "n0", Platforms: plats(t, "linux/amd64")}, info: driver.Info{Capabilities: caps}},
		{node: Node{Name: "n1", Platforms: plats(t, "linux/arm64")}, info: driver.Info{Capabilities: caps}},
	}
	inst := &Instance{Name: "multi", Nodes: []Node{conns[0].node, conns[1].node}}
	push := exporter.Output{Type: exporter.TypeImage, Attrs: map[string]string{"push": "true"}}
	job := func(outs []exporter.Output, tags ...string) *Job {
		return &Job{Name: "default", Req: &Request{Platforms: plats(t, "linux/amd64", "linux/arm64"), Outputs: outs, Tags: tags,
			Annotations: map[string]string{"annotation-index.org.example": "x", "annotation.other": "y"}}}
	}

	jp, err := planJob(inst, conns, job([]exporter.Output{push}, "reg.example/app:1", "reg.example/app:2", "other.example/app"), false, Switches{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jp.parts) != 2 || jp.parts[0].String() != "linux/amd64 on node n0" || jp.parts[1].String() != "linux/arm64 on node n1" {
		t.Fatalf("parts = %v", jp.parts)
	}
	for _, pt := range jp.parts {
		if len(pt.plan.Outputs) != 1 {
			t.Fatalf("%s outputs = %+v", pt, pt.plan.Outputs)
		}
		a := pt.plan.Outputs[0].Attrs
		if a["name"] != "reg.example/app,other.example/app" || a["push-by-digest"] != "true" || a["push"] != "true" {
			t.Errorf("%s pushes with %v, want by digest to both repositories", pt, a)
		}
		if len(pt.req.Platforms) != 1 || pt.plan.Attests["attest:provenance"] == "" {
			t.Errorf("%s: platforms %v, attests %v", pt, pt.req.Platforms, pt.plan.Attests)
		}
	}
	if len(jp.tags) != 3 || jp.tags[2].String() != "other.example/app:latest" {
		t.Errorf("tags = %v", jp.tags)
	}
	if !reflect.DeepEqual(jp.indexAnnotations, map[string]string{"org.example": "x"}) {
		t.Errorf("index annotations = %v", jp.indexAnnotations)
	}

	// A load into a containerd store joins there, with every platform.
	load := exporter.Output{Type: exporter.TypeDocker, Attrs: map[string]string{}}
	jp, err = planJob(inst, conns, job([]exporter.Output{load}, "app"), false, Switches{})
	if err != nil || jp.load == nil || len(jp.dst.Platforms) != 2 {
		t.Fatalf("load: %+v, %v; want a load joined in the containerd store for both platforms", jp, err)
	}
	classic := caps
	classic.ImageStore = imagestore.Classic
	classicConns := []*nodeConn{
		{node: conns[0].node, info: driver.Info{Capabilities: classic}},
		{node: conns[1].node, info: driver.Info{Capabilities: classic}},
	}
	if _, err := planJob(inst, classicConns, job([]exporter.Output{load}, "app"), false, Switches{}); err == nil || !strings.Contains(err.Error(), "classic image store") {
		t.Errorf("load into a classic store from two nodes: got %v, want a refusal", err)
	}

	// An OCI or Docker archive is written from every share as one.
	oci := exporter.Output{Type: exporter.TypeOCI, Dest: "x.tar", Attrs: map[string]string{}}
	if jp, err := planJob(inst, conns, job([]exporter.Output{oci}, "app"), false, Switches{}); err != nil || jp.archive == nil {
		t.Errorf("oci archive: %+v, %v; want one archive joined from the shares", jp, err)
	}
	// Files are assembled from every share, a folder per platform.
	folder := exporter.Output{Type: exporter.TypeLocal, Dest: "out", Attrs: map[string]string{}}
	tarball := exporter.Output{Type: exporter.TypeTar, Dest: "out.tar", Attrs: map[string]string{}}
	for _, o := range []exporter.Output{folder, tarball} {
		if jp, err := planJob(inst, conns, job([]exporter.Output{o}), false, Switches{}); err != nil || jp.files == nil || jp.files.Type != o.Type {
			t.Errorf("%s: %+v, %v; want the files joined from the shares", o.Type, jp, err)
		}
	}
	for name, tc := range map[string]struct {
		j      *Job
		dep    bool
		errHas string
	}{
		"two files": {job([]exporter.Output{folder, tarball}, "app"), false, "can only be joined as one output: in a registry (--push), in a containerd image store"},
		"push+load": {job([]exporter.Output{push, load}, "app"), false, "can only be joined as one output"},
		"no output": {job(nil, "app"), false, "can only be joined as one output"},
		"no name":   {job([]exporter.Output{push}), false, "add -t/--tag"},
		"a context": {job([]exporter.Output{push}, "app"), true, "cannot be another target's context"},
		"bad tag":   {job([]exporter.Output{push}, "app@sha256:"+strings.Repeat("a", 64)), false, "not a digest"},
	} {
		_, err := planJob(inst, conns, tc.j, tc.dep, Switches{})
		var rej *RejectedError
		if !errors.As(err, &rej) || !strings.Contains(err.Error(), tc.errHas) ||
			!strings.Contains(err.Error(), "builder multi builds linux/amd64 on node n0 and linux/arm64 on node n1") && tc.errHas != "not a digest" {
			t.Errorf("%s: got %v, want a refusal with %q naming the split", name, err, tc.errHas)
		}
	}
}
