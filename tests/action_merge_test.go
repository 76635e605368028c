package tests

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// storedIndex is an image index as a registry stores it.
type storedIndex struct {
	MediaType string
	Manifests []struct {
		MediaType   string
		Digest      string
		Platform    *struct{ OS, Architecture string }
		Annotations map[string]string
	}
}

// indexOf reads the index under ref and its digest, the hash of its bytes.
func indexOf(t *testing.T, ref string) (storedIndex, string) {
	t.Helper()
	raw := mustXB(t, t.TempDir(), []string{"imagetools", "inspect", "--raw", ref}).Stdout
	var idx storedIndex
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("the index under %s: %v\n%s", ref, err, raw)
	}
	return idx, fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw)))
}

// platformsAttested lists an index's image platforms, and the platforms of
// the images an attestation manifest describes, each sorted.
func platformsAttested(idx storedIndex) (images, attested []string) {
	byDigest := map[string]string{}
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS != "unknown" {
			byDigest[m.Digest] = m.Platform.OS + "/" + m.Platform.Architecture
			images = append(images, byDigest[m.Digest])
		}
	}
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			attested = append(attested, byDigest[m.Annotations["vnd.docker.reference.digest"]])
		}
	}
	slices.Sort(images)
	slices.Sort(attested)
	return images, attested
}

// Two legs, each one platform as a matrix job on its own runner would
// build it, push by digest into one digest folder; a merge step joins them
// into one index under two tags, both platforms' attestations kept, and
// names it in its outputs.
func TestActionMergeDigests(t *testing.T) {
	t.Parallel()
	repo := env.Registry + "/xbuild-test/action-merge"
	stamp := time.Now().UnixNano()
	tags := []string{fmt.Sprintf("%s:%d", repo, stamp), fmt.Sprintf("%s:%d-b", repo, stamp)}
	digests := filepath.Join(t.TempDir(), "digests")
	ctxDir := helloContext(t)
	var legs []string
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		r := newRunner(t, true)
		res := r.step("main.js", map[string]string{
			"context": ctxDir, "platforms": p, "build-args": baseArg(), "tags": repo, "provenance": "mode=max",
			"push-by-digest": "true", "push": "true", "digest-dir": digests,
			"driver": "remote", "endpoint": env.BuildKit, "xbuild-path": xbuildBin,
		})
		if res.Code != 0 {
			t.Fatalf("the %s leg failed:\n%s", p, res)
		}
		_ = r.post()
		d := r.file(r.output)["digest"]
		leg, _ := indexOf(t, repo+"@"+d)
		if images, attested := platformsAttested(leg); !slices.Equal(images, []string{p}) || !slices.Equal(attested, []string{p}) {
			t.Errorf("the %s leg pushed images %v attested %v", p, images, attested)
		}
		legs = append(legs, strings.TrimPrefix(d, "sha256:"))
	}
	if r := xb(t, t.TempDir(), []string{"imagetools", "inspect", "--raw", repo + ":latest"}); r.Code == 0 {
		t.Errorf("a leg pushed a tag:\n%s", r)
	}
	entries, err := os.ReadDir(digests)
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	slices.Sort(files)
	slices.Sort(legs)
	if err != nil || !slices.Equal(files, legs) {
		t.Fatalf("digest-dir holds %v (%v), want the legs' digests %v", files, err, legs)
	}

	r := newRunner(t, true)
	res := r.step("main.js", map[string]string{"merge-dir": digests, "tags": strings.Join(tags, "\n"), "xbuild-path": xbuildBin})
	if res.Code != 0 {
		t.Fatalf("the merge step failed:\n%s", res)
	}
	out := r.file(r.output)
	for _, tag := range tags {
		idx, d := indexOf(t, tag)
		images, attested := platformsAttested(idx)
		if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(images, want) || !slices.Equal(attested, want) {
			t.Errorf("%s holds images %v attested %v, want both platforms and their attestations", tag, images, attested)
		}
		if out["digest"] != d || out["imageid"] != d {
			t.Errorf("outputs digest=%q imageid=%q, the index under %s is %s", out["digest"], out["imageid"], tag, d)
		}
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(out["metadata"]), &md); err != nil || md["containerimage.digest"] != out["digest"] || md["image.name"] != strings.Join(tags, ",") {
		t.Errorf("output metadata = %s (%v)", out["metadata"], err)
	}
	if summary, _ := os.ReadFile(r.summary); !strings.Contains(string(summary), out["digest"]) {
		t.Errorf("the job summary does not name the merged index:\n%s", summary)
	}
	if strings.Contains(res.Stderr, "#0 building with") {
		t.Errorf("the merge step built:\n%s", res)
	}
	testMergeFailures(t, repo, legs[0])
}

// testMergeFailures: a merge with nothing to merge, or with a digest the
// registry does not hold, fails with one line naming it and pushes nothing.
func testMergeFailures(t *testing.T, repo, hex string) {
	missing := strings.Repeat("0", 64)
	tag := fmt.Sprintf("%s:fail-%d", repo, time.Now().UnixNano())
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{name: "no digests", inputs: map[string]string{"merge-dir": t.TempDir()}, want: "holds no digest files"},
		{name: "missing digest", inputs: map[string]string{"merge": hex + "\nsha256:" + missing}, want: repo + "@sha256:" + missing},
		{name: "a build input", inputs: map[string]string{"merge": hex, "context": "."}, want: "input context does not apply to a merge step"},
	} {
		r := newRunner(t, true)
		tc.inputs["tags"], tc.inputs["xbuild-path"] = tag, xbuildBin
		res := r.step("main.js", tc.inputs)
		var errLine string
		for _, l := range strings.Split(res.Stderr, "\n") {
			if strings.HasPrefix(l, "ERROR: ") {
				errLine = l
			}
		}
		if res.Code != 1 || !strings.Contains(errLine, tc.want) {
			t.Errorf("%s: want exit 1 and an ERROR line naming %q:\n%s", tc.name, tc.want, res)
		}
		if out := r.file(r.output); out["digest"] != "" {
			t.Errorf("%s: the failed step set outputs %v", tc.name, out)
		}
	}
	if r := xb(t, t.TempDir(), []string{"imagetools", "inspect", "--raw", tag}); r.Code == 0 {
		t.Errorf("a failed merge pushed %s:\n%s", tag, r)
	}
}

// The same under act: a matrix job of two legs, each its own job on this
// host, writes to one digest folder, and a merge job that needs them joins
// their images into one index with both platforms' attestations.
func TestActionMergeUnderAct(t *testing.T) {
	t.Parallel()
	repoName := env.Registry + "/xbuild-test/act-merge"
	tag := fmt.Sprintf("%s:%d", repoName, time.Now().UnixNano())
	digests := filepath.Join(t.TempDir(), "digests")
	workflow := fmt.Sprintf(`name: merge
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        platform: [linux/amd64, linux/arm64]
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          context: %[1]s
          platforms: ${{ matrix.platform }}
          build-args: %[2]s
          tags: %[3]s
          provenance: mode=max
          push-by-digest: true
          digest-dir: %[4]s
          driver: remote
          endpoint: %[5]s
          xbuild-path: %[6]s
  merge:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        id: merge
        with:
          merge-dir: %[4]s
          tags: %[7]s
          xbuild-path: %[6]s
      - run: echo "merged digest=${{ steps.merge.outputs.digest }}"
`, helloContext(t), baseArg(), repoName, digests, env.BuildKit, xbuildBin, tag)
	repo, home := actRepo(t, workflow)
	out := runAct(t, repo, home, ".github/workflows/example.yml")
	idx, d := indexOf(t, tag)
	images, attested := platformsAttested(idx)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(images, want) || !slices.Equal(attested, want) {
		t.Errorf("%s holds images %v attested %v, want both platforms and their attestations", tag, images, attested)
	}
	if !strings.Contains(out, "merged digest="+d) {
		t.Errorf("the merge job's next step did not see digest %s:\n%s", d, out)
	}
}
