package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// createdPlatform is what `imagetools inspect --format '{{json .Platforms}}'`
// says of one platform.
type createdPlatform struct {
	Platform     string
	Manifest     ocispecs.Descriptor
	Attestations *ocispecs.Descriptor
}

// Two single-platform images, each an index with its provenance, pushed to
// repositories of their own, combined into one index in other repositories:
// both platforms keep their attestation, every blob is copied, and
// --dry-run prints the very index that is pushed while pushing nothing.
func TestImagetoolsCreate(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	reg := env.Registry
	n := time.Now().UnixNano()
	var srcs []string
	want := map[string]createdPlatform{}
	for _, arch := range []string{"amd64", "arm64"} {
		ref := fmt.Sprintf("%s/xbuild-test/create-src-%s:%d", reg, arch, n)
		mustXB(t, cfg, []string{"build", "--platform", "linux/" + arch, "--provenance", "mode=min", "--push", "-t", ref,
			"--build-arg", baseArg(), helloContext(t)})
		for _, p := range inspectPlatforms(t, cfg, ref) {
			want[p.Platform] = p
		}
		srcs = append(srcs, ref)
	}
	if len(want) != 2 || want["linux/amd64"].Attestations == nil || want["linux/arm64"].Attestations == nil {
		t.Fatalf("the sources are not two images with attestations: %+v", want)
	}
	const annotation = "index:org.opencontainers.image.title=xbuild-create-test"

	dryTag := fmt.Sprintf("%s/xbuild-test/create-dry:%d", reg, n)
	dry := mustXB(t, cfg, append([]string{"imagetools", "create", "--dry-run", "--annotation", annotation, "-t", dryTag}, srcs...))
	var dryIdx ocispecs.Index
	if err := json.Unmarshal([]byte(dry.Stdout), &dryIdx); err != nil || len(dryIdx.Manifests) != 4 {
		t.Fatalf("create --dry-run printed %s (%v), want an index of 4 manifests", dry.Stdout, err)
	}
	if got := dryIdx.Annotations["org.opencontainers.image.title"]; got != "xbuild-create-test" {
		t.Errorf("create --dry-run index annotations = %v", dryIdx.Annotations)
	}
	if r := xb(t, cfg, []string{"imagetools", "inspect", dryTag}); r.Code == 0 {
		t.Errorf("create --dry-run pushed %s:\n%s", dryTag, r)
	}

	// The same registry under a second name: a blob cannot be mounted
	// across names, so that tag gets every blob uploaded.
	mounted := fmt.Sprintf("%s/xbuild-test/create:%d", reg, n)
	uploaded := fmt.Sprintf("%s/xbuild-test/create-copy:%d", otherName(t, reg), n)
	mustXB(t, cfg, append([]string{"imagetools", "create", "--annotation", annotation, "-t", mounted, "-t", uploaded}, srcs...))
	for _, tag := range []string{mounted, uploaded} {
		raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", tag})
		if strings.TrimSpace(raw.Stdout) != strings.TrimSpace(dry.Stdout) {
			t.Errorf("%s holds\n%s\nwant the index --dry-run printed\n%s", tag, raw.Stdout, dry.Stdout)
		}
		got := inspectPlatforms(t, cfg, tag)
		if len(got) != 2 {
			t.Errorf("%s platforms = %+v, want linux/amd64 and linux/arm64", tag, got)
		}
		for _, p := range got {
			w := want[p.Platform]
			if p.Manifest.Digest != w.Manifest.Digest || p.Attestations == nil || p.Attestations.Digest != w.Attestations.Digest {
				t.Errorf("%s %s = %+v, want the source's %+v", tag, p.Platform, p, w)
			}
		}
		host, repo := splitRepo(tag)
		for _, m := range dryIdx.Manifests {
			assertBlobsIn(t, host, repo, m)
		}
	}
}

// Bad input is one clear line, a non-zero exit, and nothing pushed.
func TestImagetoolsCreateBadInput(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	reg := env.Registry
	n := time.Now().UnixNano()
	tag := fmt.Sprintf("%s/xbuild-test/create-bad:%d", reg, n)
	src := env.BaseImage
	missing := fmt.Sprintf("%s/xbuild-test/create-missing:%d", reg, n)
	tests := []struct {
		name    string
		in      []string
		wantErr string
	}{
		{name: "missing source", in: []string{"-t", tag, src, missing}, wantErr: fmt.Sprintf("reading source %q: image not found", missing)},
		{name: "no tag", in: []string{src}, wantErr: "at least one -t/--tag is required (or --dry-run)"},
		{name: "no source", in: []string{"-t", tag}, wantErr: "at least one source image is required"},
		{name: "invalid tag", in: []string{"-t", tag, "-t", "Upper:1", src}, wantErr: `invalid tag "Upper:1"`},
		{name: "digest as tag", in: []string{"-t", tag + "@sha256:" + strings.Repeat("0", 64), src}, wantErr: "pushed under a tag, not a digest"},
		{name: "invalid source", in: []string{"-t", tag, src, "bad ref"}, wantErr: `invalid image name "bad ref"`},
		{name: "index descriptor annotation", in: []string{"--annotation", "index-descriptor:k=v", "-t", tag, src}, wantErr: "has no descriptor to annotate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, cfg, append([]string{"imagetools", "create"}, tc.in...))
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR: ") || !strings.Contains(lines[0], tc.wantErr) {
				t.Errorf("create %v = %s\nwant one error line with %q", tc.in, r, tc.wantErr)
			}
		})
	}
	t.Cleanup(func() {
		if r := xb(t, cfg, []string{"imagetools", "inspect", tag}); r.Code == 0 || !strings.Contains(r.Stderr, "not found") {
			t.Errorf("bad input pushed %s:\n%s", tag, r)
		}
	})
}

// Two images for one platform from two sources cannot be combined.
func TestImagetoolsCreatePlatformConflict(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	reg := env.Registry
	ref := fmt.Sprintf("%s/xbuild-test/create-conflict:%d", reg, time.Now().UnixNano())
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64", "--push", "-t", ref, "--build-arg", baseArg(), helloContext(t)})
	base := env.BaseImage
	r := xb(t, cfg, []string{"imagetools", "create", "--dry-run", ref, base})
	if r.Code == 0 || r.Stdout != "" || !strings.Contains(r.Stderr, fmt.Sprintf("sources %q and %q both hold a linux/amd64 image", ref, base)) {
		t.Errorf("create with two linux/amd64 images = %s", r)
	}
}

func inspectPlatforms(t *testing.T, cfg, ref string) []createdPlatform {
	t.Helper()
	r := mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{json .Platforms}}", ref})
	var ps []createdPlatform
	if err := json.Unmarshal([]byte(r.Stdout), &ps); err != nil {
		t.Fatalf("inspect --format '{{json .Platforms}}' %s: %v\n%s", ref, err, r.Stdout)
	}
	return ps
}

// otherName names a loopback registry the other way (127.0.0.1 or
// localhost).
func otherName(t *testing.T, hostport string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	switch {
	case err != nil:
		t.Fatalf("XBUILD_TEST_REGISTRY=%s: %v", hostport, err)
	case host == "127.0.0.1":
		return net.JoinHostPort("localhost", port)
	case host == "localhost":
		return net.JoinHostPort("127.0.0.1", port)
	}
	t.Fatalf("XBUILD_TEST_REGISTRY=%s is not a loopback registry", hostport)
	return ""
}

// splitRepo splits host/repo:tag.
func splitRepo(ref string) (string, string) {
	host, rest, _ := strings.Cut(ref, "/")
	return host, rest[:strings.LastIndex(rest, ":")]
}

// assertBlobsIn checks the repository holds the manifest and everything it
// references, as a client pulling it by that name would fetch them.
func assertBlobsIn(t *testing.T, host, repo string, desc ocispecs.Descriptor) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, desc.Digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", desc.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m ocispecs.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("manifest %s in %s/%s: %s (%v)", desc.Digest, host, repo, resp.Status, err)
	}
	for _, b := range append([]ocispecs.Descriptor{m.Config}, m.Layers...) {
		resp, err := http.Head(fmt.Sprintf("http://%s/v2/%s/blobs/%s", host, repo, b.Digest))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("blob %s of %s in %s/%s: %s", b.Digest, desc.Digest, host, repo, resp.Status)
		}
	}
}
