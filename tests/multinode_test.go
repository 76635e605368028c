package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// A builder of two nodes, each created for one platform: a two-platform
// push builds each platform on its node and joins both, with their
// attestations, into one index under the tag. Both nodes are the env's one
// buildkitd; which node builds what follows from the nodes' platforms.
func TestMultiNodeBuilder(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	bk := env.BuildKit
	mustXB(t, cfg, []string{"create", "--name", "duo", "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", "--use", bk})
	mustXB(t, cfg, []string{"create", "--append", "--name", "duo", "--node", "arm", "--platform", "linux/arm64", bk})

	ls := mustXB(t, cfg, []string{"ls"})
	for _, want := range []string{`\_ amd`, `\_ arm`, "linux/amd64*", "linux/arm64*"} {
		if !strings.Contains(ls.Stdout, want) {
			t.Errorf("ls does not show %q:\n%s", want, ls.Stdout)
		}
	}

	tag := fmt.Sprintf("%s/xbuild-test/multinode:%d", env.Registry, time.Now().UnixNano())
	md := filepath.Join(t.TempDir(), "md.json")
	r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--push", "-t", tag,
		"--metadata-file", md, "--build-arg", baseArg(), helloContext(t)})
	for _, want := range []string{"building linux/amd64 on node amd", "building linux/arm64 on node arm", "joining the nodes' images into one index for " + tag} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the progress does not say %q:\n%s", want, r.Stderr)
		}
	}
	got := inspectPlatforms(t, cfg, tag)
	if len(got) != 2 || got[0].Platform != "linux/amd64" || got[1].Platform != "linux/arm64" {
		t.Fatalf("%s platforms = %+v, want linux/amd64 and linux/arm64", tag, got)
	}
	for _, p := range got {
		if p.Attestations == nil {
			t.Errorf("%s %s has no attestation manifest", tag, p.Platform)
		}
	}

	var m map[string]json.RawMessage
	data, err := os.ReadFile(md)
	if err != nil || json.Unmarshal(data, &m) != nil {
		t.Fatalf("metadata file: %v\n%s", err, data)
	}
	raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", tag})
	var dgst string
	_ = json.Unmarshal(m["containerimage.digest"], &dgst)
	if want := digest.FromString(strings.TrimSuffix(raw.Stdout, "\n")).String(); dgst != want {
		t.Errorf("metadata containerimage.digest = %s, want the pushed index's %s", dgst, want)
	}
	var name string
	_ = json.Unmarshal(m["image.name"], &name)
	if name != tag {
		t.Errorf("metadata image.name = %q, want %q", name, tag)
	}
	// Each part's provenance, keyed by its platform, names the base image
	// of that platform: the parts did not overwrite each other.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		var prov struct {
			Materials []struct {
				URI string `json:"uri"`
			} `json:"materials"`
		}
		err := json.Unmarshal(m["buildx.build.provenance/"+p], &prov)
		if err != nil || len(prov.Materials) == 0 || !strings.Contains(prov.Materials[0].URI, "platform="+url.QueryEscape(p)) {
			t.Errorf("metadata buildx.build.provenance/%s: materials %+v, %v; want the %s base image", p, prov.Materials, err, p)
		}
	}

	// A bake target splits the same way, next to a target on one node.
	bakeFile := fmt.Sprintf(`{"target": {
  "both": {"context": %q, "platforms": ["linux/amd64", "linux/arm64"], "tags": [%q], "args": {"BASE": %q}},
  "arm": {"context": %q, "platforms": ["linux/arm64"], "tags": [%q], "args": {"BASE": %q}}},
 "group": {"default": {"targets": ["both", "arm"]}}}`,
		helloContext(t), tag+"-bake", env.BaseImage, helloContext(t), tag+"-bake-arm", env.BaseImage)
	r = mustXB(t, cfg, []string{"bake", "-f", "-", "--push", "--allow", "fs.read=" + os.TempDir()}, withStdin(bakeFile))
	if !strings.Contains(r.Stderr, "joining the nodes' images into one index for "+tag+"-bake\n") || strings.Contains(r.Stderr, "index for "+tag+"-bake-arm") {
		t.Errorf("bake: want target both joined from two nodes, target arm built on one:\n%s", r.Stderr)
	}
	if got := inspectPlatforms(t, cfg, tag+"-bake"); len(got) != 2 {
		t.Errorf("bake target both platforms = %+v", got)
	}

	// --load into a containerd-store engine joins both nodes' images in
	// its containerd: one index, both platforms run, attestations kept.
	ctdHost := env.DockerContainerd
	local := uniqueTag(t, "multinode")
	loadCtx := helloContext(t)
	r = mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--load", "-t", local, "--build-arg", baseArg(), loadCtx},
		withDockerHost(ctdHost))
	if !strings.Contains(r.Stderr, "building linux/arm64 on node arm") || !strings.Contains(r.Stderr, "loading into containerd") {
		t.Errorf("the load was not joined in containerd:\n%s", r.Stderr)
	}
	// With provenance, only what records the build's time is new the
	// second time: two statements, their two manifests and the joined
	// index. The shares' own indexes, written but not kept, do not count.
	r = mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--load", "-t", local, "--build-arg", baseArg(), loadCtx},
		withDockerHost(ctdHost))
	if m := loadSummary.FindStringSubmatch(r.Stderr); m == nil || atoi(t, m[3]) > 5 {
		t.Errorf("reloading with provenance: want at most 5 blobs sent, got %q\n%s", m, r.Stderr)
	}
	// The same build again sends nothing: every blob of the joined image
	// is in the store already. (Provenance records the build's time, so it
	// is left out here.)
	for i := range 2 {
		r = mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--provenance=false", "--load", "-t", local + "-again",
			"--build-arg", baseArg(), loadCtx}, withDockerHost(ctdHost))
		if m := loadSummary.FindStringSubmatch(r.Stderr); i == 1 && (m == nil || m[3] != "0" || m[1] != m[2]) {
			t.Errorf("reloading the same joined image: want every blob present and none sent, got %q\n%s", m, r.Stderr)
		}
	}
	api := engine(t, ctdHost)
	t.Cleanup(func() { _, _ = api.ImageRemove(context.Background(), local+"-again", dockerRemoveForce) })
	if kinds := manifestKinds(t, api, local); strings.Join(kinds["image"], ",") != "linux/amd64,linux/arm64" || len(kinds["attestation"]) != 2 {
		t.Errorf("loaded manifests = %v, want both platforms with their attestations", kinds)
	}
	if out := runImage(t, api, local, "linux/arm64"); !strings.Contains(out, "built for linux/arm64 on aarch64") {
		t.Errorf("the arm64 variant printed %q", out)
	}

	// Where the halves cannot meet, the build is refused before work, with
	// the split named.
	for _, tc := range []struct {
		args   []string
		host   string
		errHas string
	}{
		{[]string{"--output", "type=tar,dest=" + filepath.Join(t.TempDir(), "x.tar"), "--output", "type=local,dest=" + filepath.Join(t.TempDir(), "x")},
			ctdHost, "can only be joined as one output: in a registry (--push), in a containerd image store"},
		{[]string{"--load", "-t", "x"}, env.DockerClassic, "cannot hold a multi-platform image"},
	} {
		bad := xb(t, cfg, append([]string{"build", "--platform", "linux/amd64,linux/arm64", "--build-arg", baseArg(), helloContext(t)}, tc.args...), withDockerHost(tc.host))
		if bad.Code != 1 || !strings.Contains(bad.Stderr, "builder duo builds linux/amd64 on node amd and linux/arm64 on node arm: ") ||
			!strings.Contains(bad.Stderr, tc.errHas) || !strings.Contains(bad.Stderr, "[+] Building 0.0s (0/0)") {
			t.Errorf("%v: want a refusal before work with %q, got\n%s", tc.args, tc.errHas, bad)
		}
	}
	// One platform runs on its node alone, with any output.
	dir := t.TempDir()
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "--output", "type=local,dest=" + dir, "--build-arg", baseArg(), helloContext(t)})
	if b, err := os.ReadFile(filepath.Join(dir, "built-for")); err != nil || !strings.HasPrefix(string(b), "built for linux/arm64") {
		t.Errorf("the arm64 build on node arm wrote %q (%v)", b, err)
	}

	// Nodes come and go; the last one goes only with the builder.
	for _, tc := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"create", "--append", "--name", "duo", "--node", "arm", bk}, `builder "duo" already has a node "arm"`},
		{[]string{"create", "--append", "--name", "nobody", bk}, `no builder "nobody" to append to`},
		{[]string{"create", "--append", "--name", "duo", "--driver", "local", bk}, "local driver takes no endpoint"},
		{[]string{"create", "--leave", "--name", "duo"}, "--leave needs --node"},
		{[]string{"create", "--leave", "--name", "duo", "--node", "nope"}, `builder "duo" has no node "nope"`},
	} {
		if r := xb(t, cfg, tc.args); r.Code == 0 || !strings.Contains(r.Stderr, tc.errHas) {
			t.Errorf("xbuild %s: want an error with %q, got\n%s", strings.Join(tc.args, " "), tc.errHas, r)
		}
	}
	mustXB(t, cfg, []string{"create", "--leave", "--name", "duo", "--node", "arm"})
	if ls := mustXB(t, cfg, []string{"ls"}); strings.Contains(ls.Stdout, `\_ arm`) {
		t.Errorf("ls still shows node arm after --leave:\n%s", ls.Stdout)
	}
	if r := xb(t, cfg, []string{"create", "--leave", "--name", "duo", "--node", "amd"}); r.Code == 0 || !strings.Contains(r.Stderr, "is the last of builder") {
		t.Errorf("leaving the last node: want a refusal, got\n%s", r)
	}
	// With one node again, both platforms build there, with no split.
	r = mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--push", "-t", tag + "-one", "--build-arg", baseArg(), helloContext(t)})
	if strings.Contains(r.Stderr, "joining the nodes' images") {
		t.Errorf("a one-node builder split the build:\n%s", r.Stderr)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
