package exporter

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/xbuild/xbuild/imagestore"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	desc := `{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":1}`
	resp := map[string]string{
		KeyDigest:       "sha256:aa",
		KeyConfigDigest: "sha256:cc",
		KeyDescriptor:   base64.StdEncoding.EncodeToString([]byte(desc)),
		KeyImageName:    "a:1,a:2",
	}
	md := Metadata(resp, imagestore.Containerd)
	if _, ok := md[KeyConfigDigest]; ok {
		t.Errorf("Metadata(containerd) kept %s", KeyConfigDigest)
	}
	if raw, ok := md[KeyDescriptor].(json.RawMessage); !ok || string(raw) != desc {
		t.Errorf("Metadata()[%s] = %v, want embedded JSON", KeyDescriptor, md[KeyDescriptor])
	}
	if got := ImageID(md); got != "sha256:aa" {
		t.Errorf("ImageID(containerd) = %q, want sha256:aa", got)
	}
	if got := ImageID(Metadata(resp, imagestore.Classic)); got != "sha256:cc" {
		t.Errorf("ImageID(classic) = %q, want sha256:cc", got)
	}
	if md[KeyImageName] != "a:1,a:2" {
		t.Errorf("Metadata()[%s] = %v", KeyImageName, md[KeyImageName])
	}
}
