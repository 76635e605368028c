package tests

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A build split over two nodes written as one OCI archive, and as one
// Docker archive: an index holding both platforms and their attestations.
func TestMultiNodeArchive(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "duo", "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", "--use", env.BuildKit})
	mustXB(t, cfg, []string{"create", "--append", "--name", "duo", "--node", "arm", "--platform", "linux/arm64", env.BuildKit})
	ctxDir := helloContext(t)
	out := t.TempDir()
	for _, typ := range []string{"oci", "docker"} {
		dest := filepath.Join(out, typ+".tar")
		md := filepath.Join(out, typ+"-md.json")
		r := mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "-o", "type=" + typ + ",dest=" + dest,
			"-t", "example/duo:" + typ, "--metadata-file", md, "--build-arg", baseArg(), ctxDir})
		if !strings.Contains(r.Stderr, "building linux/arm64 on node arm") || !strings.Contains(r.Stderr, "as one "+typ+" archive") {
			t.Errorf("%s: the archive was not joined from both nodes:\n%s", typ, r.Stderr)
		}
		files := tarFiles(t, dest)
		top := indexJSON(t, files["index.json"])
		if len(top.Manifests) != 1 || top.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
			t.Fatalf("%s: index.json = %s, want one image index", typ, files["index.json"])
		}
		idx := indexJSON(t, files["blobs/sha256/"+strings.TrimPrefix(top.Manifests[0].Digest, "sha256:")])
		images, attestations := 0, 0
		for _, m := range idx.Manifests {
			if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				attestations++
			} else if m.Platform.OS == "linux" {
				images++
			}
		}
		if images != 2 || attestations != 2 {
			t.Errorf("%s: the joined index has %d images and %d attestations, want 2 and 2", typ, images, attestations)
		}
		if _, ok := files["manifest.json"]; ok != (typ == "docker") {
			t.Errorf("%s: manifest.json present = %v", typ, ok)
		}
		if got := readMetadata(t, md)["containerimage.digest"]; got != top.Manifests[0].Digest {
			t.Errorf("%s: metadata digest %v, want the archive's index %s", typ, got, top.Manifests[0].Digest)
		}
	}
}

type ociIndex struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
}

func indexJSON(t *testing.T, data []byte) ociIndex {
	t.Helper()
	var idx ociIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("not an OCI index (%v): %s", err, data)
	}
	return idx
}
