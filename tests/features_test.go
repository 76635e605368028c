package tests

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// writeContext makes a build context from name -> content.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func remoteBuilder(t *testing.T) string {
	t.Helper()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", "--use", env.BuildKit})
	return cfg
}

// Build flags that shape the solve reach the daemon: build args, target,
// named contexts, secrets (never echoed), add-host, labels.
func TestBuildFlagsReachTheBuild(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	const secret = "s3cr3t-value-never-printed"
	df := fmt.Sprintf(`FROM %s AS base
ARG GREETING
RUN echo "$GREETING" > /greeting
FROM base AS final
COPY --from=extra note.txt /note.txt
RUN --mount=type=secret,id=tok cp /run/secrets/tok /secret
RUN grep myhost /etc/hosts | grep -q 10.9.8.7 && echo host-ok > /host
FROM base AS other
RUN echo wrong-target > /wrong
`, env.BaseImage)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": df})
	extra := writeContext(t, map[string]string{"note.txt": "from the named context\n"})
	secretFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	md := filepath.Join(t.TempDir(), "md.json")
	r := mustXB(t, cfg, []string{"build", "--target", "final", "--build-arg", "GREETING=hi there",
		"--build-context", "extra=" + extra, "--secret", "id=tok,src=" + secretFile,
		"--add-host", "myhost:10.9.8.7", "--metadata-file", md, "-o", out, ctxDir})
	for file, want := range map[string]string{"greeting": "hi there", "note.txt": "from the named context", "secret": secret, "host": "host-ok"} {
		got, err := os.ReadFile(filepath.Join(out, file))
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("/%s = %q (%v), want %q", file, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "wrong")); err == nil {
		t.Errorf("--target final built the other stage")
	}
	mdData, _ := os.ReadFile(md)
	for _, where := range []string{r.Stderr, r.Stdout, string(mdData)} {
		if strings.Contains(where, secret) {
			t.Fatalf("the secret leaked into the output:\n%s", where)
		}
	}
}

// A Dockerfile on stdin with no context, and a tar context on stdin.
func TestStdin(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	df := "FROM " + env.BaseImage + "\nRUN echo from-stdin > /stdin\n"
	out := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "-o", out, "-"}, withStdin(df))
	if got, _ := os.ReadFile(filepath.Join(out, "stdin")); !strings.Contains(string(got), "from-stdin") {
		t.Errorf("Dockerfile from stdin: /stdin = %q", got)
	}
	out2 := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "-f", "-", "-o", out2, writeContext(t, nil)}, withStdin(df))
	if got, _ := os.ReadFile(filepath.Join(out2, "stdin")); !strings.Contains(string(got), "from-stdin") {
		t.Errorf("-f -: /stdin = %q", got)
	}
	// A tar archive on stdin is the whole context.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range map[string]string{
		"Dockerfile":   "FROM " + env.BaseImage + "\nCOPY sub/file.txt /from-tar\n",
		"sub/file.txt": "inside the tar\n",
	} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(data))
	}
	_ = tw.Close()
	out3 := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "-o", out3, "-"}, withStdin(buf.String()))
	if got, _ := os.ReadFile(filepath.Join(out3, "from-tar")); !strings.Contains(string(got), "inside the tar") {
		t.Errorf("tar context from stdin: /from-tar = %q", got)
	}
}

// --push sends an index to the registry; labels and annotations land in
// the image.
func TestPushWithLabelsAndAnnotations(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	reg := env.Registry
	repo := fmt.Sprintf("xbuild-test/push-%d", os.Getpid())
	tag := reg + "/" + repo + ":v1"
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--push", "-t", tag,
		"--label", "org.example.team=builders", "--annotation", "index:org.opencontainers.image.title=hello",
		"--build-arg", baseArg(), helloContext(t)})
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg+"/v2/"+repo+"/manifests/v1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var index struct {
		MediaType   string            `json:"mediaType"`
		Annotations map[string]string `json:"annotations"`
		Manifests   []struct {
			Platform *struct{ Architecture string } `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("registry answered %s: %s", resp.Status, body)
	}
	if index.MediaType != "application/vnd.oci.image.index.v1+json" || index.Annotations["org.opencontainers.image.title"] != "hello" {
		t.Errorf("pushed index = %s", body)
	}
	if len(index.Manifests) != 4 {
		t.Errorf("pushed index has %d manifests, want 2 images and 2 attestations", len(index.Manifests))
	}
	// Pushing needs a name.
	r := xb(t, cfg, []string{"build", "--push", helloContext(t)})
	if r.Code != 1 || !strings.Contains(r.Stderr, "pushing needs an image name") {
		t.Errorf("--push without a tag: %s", r)
	}
}

// Cache exported to a folder is imported by a later build.
func TestCacheToAndFrom(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	cache := filepath.Join(t.TempDir(), "cache")
	mustXB(t, cfg, []string{"build", "--cache-to", "type=local,dest=" + cache, "--build-arg", baseArg(), helloContext(t)})
	if _, err := os.Stat(filepath.Join(cache, "index.json")); err != nil {
		t.Fatalf("--cache-to wrote no cache: %v", err)
	}
	r := mustXB(t, cfg, []string{"build", "--cache-from", "type=local,src=" + cache, "--build-arg", baseArg(), "--progress=plain", helloContext(t)})
	if !strings.Contains(r.Stderr, "importing cache manifest") {
		t.Errorf("--cache-from did not import the cache:\n%s", r.Stderr)
	}
}

// --ssh forwards an agent made from a key file into RUN --mount=type=ssh.
func TestSSHForwarding(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	df := "FROM " + env.BaseImage + "\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo ssh-ok > /ssh\n"
	out := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "--ssh", "default=" + key, "-o", out, writeContext(t, map[string]string{"Dockerfile": df})})
	if got, _ := os.ReadFile(filepath.Join(out, "ssh")); !strings.Contains(string(got), "ssh-ok") {
		t.Errorf("no agent socket in the build: /ssh = %q", got)
	}
	r := xb(t, cfg, []string{"build", "--ssh", "default=/no/such/key", "-o", out, writeContext(t, map[string]string{"Dockerfile": df})})
	if r.Code != 1 || !strings.Contains(r.Stderr, "ssh") {
		t.Errorf("--ssh with a missing key: %s", r)
	}
}
