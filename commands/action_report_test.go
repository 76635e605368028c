package commands

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/builder"
)

func TestActionOutputs(t *testing.T) {
	t.Parallel()
	res := &builder.Result{ImageID: "sha256:id", Metadata: map[string]any{"containerimage.digest": "sha256:dg"}}
	for _, tc := range []struct {
		name     string
		results  map[string]*builder.Result
		bake     bool
		want     []string // output names, in order
		wantMeta string   // a key the metadata output must hold
		wantErr  bool
	}{
		{name: "build", results: map[string]*builder.Result{"default": res}, want: []string{"imageid", "digest", "metadata"}, wantMeta: "containerimage.digest"},
		{name: "bake keyed by target", results: map[string]*builder.Result{"app": res, "tools": res}, bake: true, want: []string{"metadata"}, wantMeta: "tools"},
		{name: "build without result", results: map[string]*builder.Result{}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			outs, err := actionOutputs(tc.results, tc.bake)
			if (err != nil) != tc.wantErr {
				t.Fatalf("actionOutputs() error = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var names []string
			var md map[string]any
			for _, o := range outs {
				names = append(names, o.name)
				if o.name == "metadata" {
					if err := json.Unmarshal([]byte(o.value), &md); err != nil {
						t.Fatalf("metadata output is not JSON: %v", err)
					}
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("actionOutputs() names = %v, want %v", names, tc.want)
			}
			if _, ok := md[tc.wantMeta]; !ok {
				t.Errorf("metadata output %v lacks %q", md, tc.wantMeta)
			}
			if !tc.bake && outs[1].value != "sha256:dg" || !tc.bake && outs[0].value != "sha256:id" {
				t.Errorf("imageid/digest outputs = %v", outs)
			}
		})
	}
}

func TestAnnotation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		req  builder.Request
		w    builder.Warning
		want string
	}{
		{"context Dockerfile", builder.Request{Context: "app"}, builder.Warning{File: "Dockerfile", Line: 2, Title: "FromAsCasing", Message: "'as' and 'FROM' keywords' casing do not match"},
			"::warning file=app/Dockerfile,line=2,title=FromAsCasing::'as' and 'FROM' keywords' casing do not match"},
		{"named Dockerfile", builder.Request{Context: ".", Dockerfile: "build/app.Dockerfile"}, builder.Warning{File: "app.Dockerfile", Line: 7, Title: "T", Message: "m"},
			"::warning file=build/app.Dockerfile,line=7,title=T::m"},
		{"escaped", builder.Request{Context: "."}, builder.Warning{File: "Dockerfile", Line: 1, Title: "a,b:c", Message: "100%\nsure"},
			"::warning file=Dockerfile,line=1,title=a%2Cb%3Ac::100%25%0Asure"},
		{"remote context", builder.Request{Context: "https://github.com/o/r.git"}, builder.Warning{File: "Dockerfile", Line: 3, Title: "T", Message: "m"},
			"::warning file=Dockerfile,line=3,title=T::m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := annotation(&tc.req, tc.w); got != tc.want {
				t.Errorf("annotation() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSummaryMarkdown(t *testing.T) {
	t.Parallel()
	req := &builder.Request{
		Platforms: []ocispecs.Platform{platforms.MustParse("linux/amd64"), platforms.MustParse("linux/arm64")},
		Tags:      []string{"reg/app:1"},
	}
	jobs := []*builder.Job{{Name: "default", Req: req}, {Name: "failed", Req: &builder.Request{}}}
	results := map[string]*builder.Result{"default": {
		Metadata:     map[string]any{"containerimage.digest": "sha256:dg"},
		Attestations: map[string]string{"provenance": "mode=max"},
		Stats:        builder.Stats{Steps: 5, CachedSteps: 2, Duration: 1500 * time.Millisecond},
	}}
	got := summaryMarkdown(jobs, results, map[string]string{"secrets": "tok", "context": ".", "file": ""})
	for _, want := range []string{
		"## Build summary",
		"| default | linux/amd64, linux/arm64 | reg/app:1 | `sha256:dg` | provenance mode=max | 2/5 | 1.5s |",
		"- context: `.`", "- secrets: `tok`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summaryMarkdown() lacks %q:\n%s", want, got)
		}
	}
	for _, notWant := range []string{"| failed |", "- file:", "sbom"} {
		if strings.Contains(got, notWant) {
			t.Errorf("summaryMarkdown() has %q:\n%s", notWant, got)
		}
	}
}
