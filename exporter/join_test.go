package exporter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func testTag(t *testing.T, s string) reference.NamedTagged {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	tagged, ok := reference.TagNameOnly(ref).(reference.NamedTagged)
	if !ok {
		t.Fatalf("%s has no tag", s)
	}
	return tagged
}

func descriptorResponse(t *testing.T, desc ocispecs.Descriptor) map[string]string {
	t.Helper()
	dt, err := json.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{KeyDescriptor: base64.StdEncoding.EncodeToString(dt)}
}

// A registry join needs the index's name before any share builds.
func TestStartJoinRefuses(t *testing.T) {
	t.Parallel()
	if _, err := StartJoin(context.Background(), JoinOptions{Shares: 2}); err == nil {
		t.Error("StartJoin(no tags) = nil, want an error")
	}
}

// Each share's Finish hands its image to the join; a share outside the
// join, or one whose builder describes no image, fails.
func TestJoinShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	j, err := StartJoin(ctx, JoinOptions{Shares: 2, Tags: []reference.NamedTagged{testTag(t, "reg.example/app:1")}})
	if err != nil {
		t.Fatal(err)
	}
	push := Output{Type: TypeImage, Attrs: map[string]string{"name": "reg.example/app", "push": "true", "push-by-digest": "true"}}
	if _, err := j.Share(ctx, Share{Index: 2, Node: "n2", Outputs: []Output{push}}, PrepareOptions{}); err == nil {
		t.Error("Share(index 2 of 2) = nil, want an error")
	}
	want := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("arm64"), Size: 3}
	ex, err := j.Share(ctx, Share{Index: 1, Node: "n1", Outputs: []Output{push}}, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Entries) != 1 || ex.Entries[0].Type != TypeImage || ex.Entries[0].Attrs["push-by-digest"] != "true" {
		t.Fatalf("Share() entries = %+v, want one push by digest", ex.Entries)
	}
	if err := ex.Finish(ctx, descriptorResponse(t, want), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := j.shares[1]; got.node != "n1" || got.root.Digest != want.Digest {
		t.Errorf("share 1 = %+v, want %s from n1", got, want.Digest)
	}

	ex, err = j.Share(ctx, Share{Index: 0, Node: "n0", Outputs: []Output{push}}, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Finish(ctx, map[string]string{}, nil, nil); err == nil {
		t.Error("Finish(no descriptor) = nil, want an error")
	}
	failed := errors.New("share failed")
	if _, err := j.Finish(ctx, failed, nil); !errors.Is(err, failed) {
		t.Errorf("Join.Finish(share error) = %v, want %v", err, failed)
	}
}

func TestJoinedMetadata(t *testing.T) {
	t.Parallel()
	idx := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 10}
	tests := []struct {
		name     string
		in       Joined
		wantName any
	}{
		{"named", Joined{Index: idx, Names: []string{"a:1", "a:2"}}, "a:1,a:2"},
		{"dangling", Joined{Index: idx}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			md, err := tt.in.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if md[KeyDigest] != idx.Digest.String() || md[KeyImageName] != tt.wantName {
				t.Errorf("Metadata() = %v, want digest %s and name %v", md, idx.Digest, tt.wantName)
			}
			var got ocispecs.Descriptor
			if raw, ok := md[KeyDescriptor].(json.RawMessage); !ok || json.Unmarshal(raw, &got) != nil || got.Digest != idx.Digest {
				t.Errorf("Metadata()[%s] = %v, want the index descriptor", KeyDescriptor, md[KeyDescriptor])
			}
		})
	}
}
