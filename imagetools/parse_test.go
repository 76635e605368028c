package imagetools

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

var testDigest = digest.FromString("image")

func TestImagetoolsParseSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Input
		wantErr string
	}{
		{name: "name", in: "127.0.0.1:5000/app:1", want: Input{Ref: "127.0.0.1:5000/app:1"}},
		{name: "name by digest", in: "app@" + testDigest.String(), want: Input{Ref: "app@" + testDigest.String()}},
		{name: "digest", in: testDigest.String() + "\n", want: Input{Desc: &ocispecs.Descriptor{Digest: testDigest}}},
		{
			name: "descriptor",
			in:   `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + testDigest.String() + `","size":3,"platform":{"os":"linux","architecture":"arm64","os.version":"10.1"},"annotations":{"k":"v"}}` + "\n",
			want: Input{Desc: &ocispecs.Descriptor{
				MediaType: ocispecs.MediaTypeImageManifest, Digest: testDigest, Size: 3,
				Platform:    &ocispecs.Platform{OS: "linux", Architecture: "arm64", OSVersion: "10.1"},
				Annotations: map[string]string{"k": "v"},
			}},
		},
		{name: "bad digest", in: "sha256:abc", wantErr: `invalid digest "sha256:abc"`},
		{name: "bad name", in: "Bad Name", wantErr: `invalid image name "Bad Name"`},
		{name: "manifest, not descriptor", in: `{"schemaVersion":2,"digest":"` + testDigest.String() + `"}`, wantErr: "not a descriptor"},
		{name: "descriptor without digest", in: `{"mediaType":"application/vnd.oci.image.index.v1+json"}`, wantErr: "invalid descriptor: no digest"},
		{name: "descriptor with bad digest", in: `{"digest":"sha256:zz"}`, wantErr: "invalid descriptor"},
		{name: "broken JSON", in: `{"digest":`, wantErr: "invalid descriptor"},
		{name: "two values", in: `{"digest":"` + testDigest.String() + `"} {}`, wantErr: "more than one JSON value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSource(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseSource(%q) = %+v, %v, want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSource(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestImagetoolsPlaceSources(t *testing.T) {
	t.Parallel()
	tag := func(s string) reference.NamedTagged {
		n, err := ParseTag(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	bare := func() Input { return Input{Desc: &ocispecs.Descriptor{Digest: testDigest}} }
	tests := []struct {
		name    string
		in      []Input
		tags    []reference.NamedTagged
		want    []string
		wantErr string
	}{
		{name: "repository of the tag", in: []Input{bare()}, tags: []reference.NamedTagged{tag("reg.test/app:2")}, want: []string{"reg.test/app@" + testDigest.String()}},
		{name: "repository of a named source", in: []Input{{Ref: "reg.test/app:1"}, bare()}, tags: []reference.NamedTagged{tag("reg.test/app:2")},
			want: []string{"reg.test/app:1", "reg.test/app@" + testDigest.String()}},
		{name: "named sources only", in: []Input{{Ref: "reg.test/a:1"}, {Ref: "reg.test/b:1"}}, want: []string{"reg.test/a:1", "reg.test/b:1"}},
		{name: "no repository", in: []Input{bare()}, wantErr: "no repository holds source " + testDigest.String()},
		{name: "several repositories", in: []Input{{Ref: "reg.test/a:1"}, bare()}, tags: []reference.NamedTagged{tag("reg.test/b:1")},
			wantErr: "the tags and sources name several (reg.test/a, reg.test/b)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := PlaceSources(tc.in, tc.tags)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("PlaceSources() = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			var got []string
			for _, in := range tc.in {
				got = append(got, in.Ref)
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PlaceSources() = %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestImagetoolsParsePlatforms(t *testing.T) {
	t.Parallel()
	got, err := ParsePlatforms([]string{"linux/amd64,linux/arm64/v8", "linux/arm/v7"})
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
	var gotS []string
	for _, p := range got {
		gotS = append(gotS, platforms.Format(p))
	}
	if err != nil || !reflect.DeepEqual(gotS, want) {
		t.Errorf("ParsePlatforms() = %v, %v, want %v", gotS, err, want)
	}
	if _, err := ParsePlatforms([]string{"linux/amd64,"}); err == nil || !strings.Contains(err.Error(), `invalid platform ""`) {
		t.Errorf(`ParsePlatforms("linux/amd64,") error = %v, want invalid platform ""`, err)
	}
}

func TestImagetoolsParseAnnotations(t *testing.T) {
	t.Parallel()
	arm64 := platforms.MustParse("linux/arm64")
	tests := []struct {
		name    string
		in      []string
		want    Annotations
		wantErr string
	}{
		{name: "bare and index", in: []string{"a=1", "index:b=2=3"}, want: Annotations{Index: map[string]string{"a": "1", "b": "2=3"}}},
		{
			name: "manifest and descriptor, platform ones last",
			in:   []string{"manifest[linux/arm64/v8]:k=arm", "manifest:k=all", "manifest-descriptor:d=1"},
			want: Annotations{
				Manifest:           []PlatformAnnotation{{Key: "k", Value: "all"}, {Platform: &arm64, Key: "k", Value: "arm"}},
				ManifestDescriptor: []PlatformAnnotation{{Key: "d", Value: "1"}},
			},
		},
		{
			name: "several types",
			in:   []string{"index,manifest:k=v"},
			want: Annotations{Index: map[string]string{"k": "v"}, Manifest: []PlatformAnnotation{{Key: "k", Value: "v"}}},
		},
		{name: "no value", in: []string{"index:k"}, wantErr: "expected key=value"},
		{name: "unknown type", in: []string{"layer:k=v"}, wantErr: `unknown annotation type "layer"`},
		{name: "index descriptor", in: []string{"index-descriptor:k=v"}, wantErr: "has no descriptor to annotate"},
		{name: "index with a platform", in: []string{"index[linux/amd64]:k=v"}, wantErr: "a platform applies to manifest annotations"},
		{name: "bad platform", in: []string{"manifest[linux/nope/x/y]:k=v"}, wantErr: "invalid platform"},
		{name: "empty key", in: []string{"manifest:=v"}, wantErr: "empty key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAnnotations(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Errorf("ParseAnnotations(%q) = %+v, %v, want a one-line error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseAnnotations(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}
