package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// One two-platform image with max provenance, pushed to the registry and
// loaded into the containerd engine: inspect shows both platforms (never an
// attestation as unknown/unknown) and the same provenance from both places.
func TestImagetoolsInspect(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	ctd := env.DockerContainerd
	reg := env.Registry
	ref := fmt.Sprintf("%s/xbuild-test/inspect:%d", reg, time.Now().UnixNano())
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--provenance", "mode=max", "--push", "--load",
		"-t", ref, "--build-arg", baseArg(), "--build-arg", "EXTRA=inspect-me", helloContext(t)}, withDockerHost(ctd))
	t.Cleanup(func() {
		_, _ = engine(t, ctd).ImageRemove(context.Background(), ref, dockerRemoveForce)
	})

	text := mustXB(t, cfg, []string{"imagetools", "inspect", ref})
	if strings.Contains(text.Stdout, "unknown/unknown") {
		t.Errorf("an attestation shown as a platform:\n%s", text.Stdout)
	}
	for _, want := range []string{"Platform:     linux/amd64", "Platform:     linux/arm64", "Build args: BASE=", "EXTRA=inspect-me", "Source:     Dockerfile", "Material:   pkg:docker/"} {
		if !strings.Contains(text.Stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text.Stdout)
		}
	}
	provenance := func(args ...string) map[string]struct {
		BuildArgs map[string]string
		Source    string
		Materials []string
	} {
		r := mustXB(t, cfg, append([]string{"imagetools", "inspect", "--format", "{{json .Provenance}}", ref}, args...), withDockerHost(ctd))
		var p map[string]struct {
			BuildArgs map[string]string
			Source    string
			Materials []string
		}
		if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
			t.Fatalf("--format '{{json .Provenance}}': %v\n%s", err, r.Stdout)
		}
		return p
	}
	fromRegistry, fromLocal := provenance(), provenance("--local")
	a, _ := json.Marshal(fromRegistry)
	b, _ := json.Marshal(fromLocal)
	if string(a) != string(b) || len(fromRegistry) != 2 {
		t.Errorf("provenance from the registry %s\nand from the local store %s differ", a, b)
	}
	if fromRegistry["linux/arm64"].BuildArgs["EXTRA"] != "inspect-me" {
		t.Errorf("provenance build args = %v", fromRegistry["linux/arm64"].BuildArgs)
	}
	raw := mustXB(t, cfg, []string{"imagetools", "inspect", "--raw", ref})
	var idx ocispecs.Index
	if err := json.Unmarshal([]byte(raw.Stdout), &idx); err != nil || len(idx.Manifests) != 4 {
		t.Errorf("--raw = %s (%v)", raw.Stdout, err)
	}
}

// A missing attestation blob in the local store gives a clear error.
func TestImagetoolsMissingBlob(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	ctd := env.DockerContainerd
	ref := fmt.Sprintf("xbuild-test/inspect-broken:%d", time.Now().UnixNano())
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64", "--provenance", "mode=max", "--load", "-t", ref,
		"--build-arg", baseArg(), "--build-arg", fmt.Sprintf("NONCE=%d", time.Now().UnixNano()), helloContext(t)}, withDockerHost(ctd))
	t.Cleanup(func() {
		_, _ = engine(t, ctd).ImageRemove(context.Background(), ref, dockerRemoveForce)
	})
	r := mustXB(t, cfg, []string{"imagetools", "inspect", "--local", "--format", "{{range .Platforms}}{{.Attestations.Digest}}{{end}}", ref}, withDockerHost(ctd))
	attDigest := strings.TrimSpace(r.Stdout)
	sock := strings.TrimPrefix(env.ContainerdOfEngine, "unix://")
	c, err := client.New(sock, client.WithDefaultNamespace("moby"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), "moby")
	var m ocispecs.Manifest
	data, err := content.ReadBlob(ctx, c.ContentStore(), ocispecs.Descriptor{Digest: digestOf(attDigest)})
	if err != nil || json.Unmarshal(data, &m) != nil || len(m.Layers) == 0 {
		t.Fatalf("reading the attestation manifest %s: %v", attDigest, err)
	}
	if err := c.ContentStore().Delete(ctx, m.Layers[0].Digest); err != nil {
		t.Fatal(err)
	}
	r = xb(t, cfg, []string{"imagetools", "inspect", "--local", ref}, withDockerHost(ctd))
	if r.Code != 1 || !strings.Contains(r.Stderr, "reading the attestations of linux/amd64") || !strings.Contains(r.Stderr, m.Layers[0].Digest.String()) {
		t.Errorf("inspect with a missing attestation blob: %s", r)
	}
}
