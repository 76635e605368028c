package commands

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xbuild/xbuild/imagetools"
)

// Every bad input of create is refused while reading the flags, before a
// registry is asked anything.
func TestImagetoolsCreateRequest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	digest := "sha256:" + strings.Repeat("a", 64)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	descFile := write("desc.json", `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+digest+`","size":10}`+"\n")
	badFile := write("bad.json", `{"schemaVersion":2}`)
	tag := "reg.test/app:1"
	tests := []struct {
		name    string
		o       imagetoolsCreateOptions
		args    []string
		wantErr string
		want    []string // the inputs' refs
	}{
		{name: "file and argument", o: imagetoolsCreateOptions{tags: []string{tag}, files: []string{descFile}}, args: []string{"reg.test/app:0"},
			want: []string{"reg.test/app@" + digest, "reg.test/app:0"}},
		{name: "append first", o: imagetoolsCreateOptions{tags: []string{tag}, appendTag: true}, args: []string{digest},
			want: []string{"reg.test/app:1", "reg.test/app@" + digest}},
		{name: "file only", o: imagetoolsCreateOptions{dryRun: true, files: []string{descFile}}, wantErr: "no repository holds source " + digest},
		{name: "append without tag", o: imagetoolsCreateOptions{dryRun: true, appendTag: true}, args: []string{"a"}, wantErr: "--append adds the sources"},
		{name: "missing file", o: imagetoolsCreateOptions{tags: []string{tag}, files: []string{filepath.Join(dir, "nope")}}, wantErr: "reading source file: open "},
		{name: "not a descriptor", o: imagetoolsCreateOptions{tags: []string{tag}, files: []string{badFile}}, wantErr: "reading source file " + badFile + ": invalid descriptor"},
		{name: "bad platform", o: imagetoolsCreateOptions{tags: []string{tag}, platforms: []string{"linux/amd64,bogus/x/y/z"}}, args: []string{"a"}, wantErr: `invalid platform "bogus/x/y/z"`},
		{name: "bad annotation", o: imagetoolsCreateOptions{tags: []string{tag}, annotations: []string{"layer:k=v"}}, args: []string{"a"}, wantErr: "unknown annotation type"},
		{name: "bad progress", o: imagetoolsCreateOptions{tags: []string{tag}, progress: "loud"}, args: []string{"a"}, wantErr: `invalid progress mode "loud"`},
		{name: "metadata folder missing", o: imagetoolsCreateOptions{tags: []string{tag}, metadataFile: filepath.Join(dir, "no", "md.json")}, args: []string{"a"}, wantErr: "the folder " + filepath.Join(dir, "no") + " does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			o := tc.o
			if o.progress == "" {
				o.progress = "auto"
			}
			o.preferIndex = true
			req, err := o.request(env, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("request(%+v, %v) error = %v, want %q", tc.o, tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("request(%+v, %v): %v", tc.o, tc.args, err)
			}
			var got []string
			for _, in := range req.inputs {
				got = append(got, in.Ref)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("request(%+v, %v) inputs = %v, want %v", tc.o, tc.args, got, tc.want)
			}
			if req.assemble.Single != imagetools.SingleCopyIndex {
				t.Errorf("request() single = %v, want SingleCopyIndex by default", req.assemble.Single)
			}
		})
	}
}
