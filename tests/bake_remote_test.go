package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// remoteRepo is the repository the remote-definition tests serve: a bake
// file whose target's context is the repository itself, and a subfolder
// with a bake file of its own.
var remoteRepo = map[string]string{
	"docker-bake.hcl":     "target \"default\" {\n  output = [\"type=local,dest=out\"]\n}\n",
	"Dockerfile":          "FROM scratch\nCOPY hello.txt /\n",
	"Dockerfile.alt":      "FROM scratch\nCOPY alt.txt /\n",
	"hello.txt":           "hello from the repository\n",
	"alt.txt":             "alt\n",
	"sub/docker-bake.hcl": "target \"default\" {\n  context = \".\"\n  output = [\"type=local,dest=out-sub\"]\n}\n",
	"sub/Dockerfile":      "FROM scratch\nCOPY sub.txt /\n",
	"sub/sub.txt":         "from the subfolder\n",
}

// serveGit serves a bare repository of files over Git's smart HTTP
// protocol (git http-backend) and returns its URL. With token set, every
// request must carry the Authorization header BuildKit sends for it.
func serveGit(t *testing.T, files map[string]string, token string) string {
	t.Helper()
	work, root := t.TempDir(), t.TempDir()
	for name, data := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "main")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "definition")
	git(root, "clone", "-q", "--bare", work, filepath.Join(root, "repo.git"))
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	want := "basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && !strings.EqualFold(r.Header.Get("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/repo.git"
}

func readOut(t *testing.T, path string) string {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the build wrote no %s: %v", filepath.Base(path), err)
	}
	return string(dt)
}

// A remote Git definition builds its target from the repository, or from
// the subfolder #ref:subdir names.
func TestBakeRemoteGitDefinition(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	url := serveGit(t, remoteRepo, "")
	dir := t.TempDir()
	mustXB(t, cfg, []string{"bake", url + "#main"}, withDir(dir))
	if got := readOut(t, filepath.Join(dir, "out", "hello.txt")); got != remoteRepo["hello.txt"] {
		t.Errorf("out/hello.txt = %q, want the repository's file", got)
	}
	mustXB(t, cfg, []string{"bake", url + "#main:sub"}, withDir(dir))
	if got := readOut(t, filepath.Join(dir, "out-sub", "sub.txt")); got != remoteRepo["sub/sub.txt"] {
		t.Errorf("out-sub/sub.txt = %q, want the subfolder's file", got)
	}
	r := mustXB(t, cfg, []string{"bake", "--print", url + "#main:sub"}, withDir(dir))
	var p printed
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		t.Fatalf("--print: %v\n%s", err, r.Stdout)
	}
	if got := p.Target["default"]["context"]; got != url+"#main:sub" {
		t.Errorf("printed context = %v, want %s#main:sub (relative to the remote)", got, url)
	}
	r = mustXB(t, cfg, []string{"bake", "--print", "--set", "default.context=sub", url + "#main"}, withDir(dir))
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		t.Fatalf("--print: %v\n%s", err, r.Stdout)
	}
	if got := p.Target["default"]["context"]; got != url+"#main:sub" {
		t.Errorf("printed context for context=sub = %v, want %s#main:sub", got, url)
	}
}

// A local file (cwd://) joins the remote definition and wins over it, and
// --set wins over both.
func TestBakeRemoteLocalOverride(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	url := serveGit(t, remoteRepo, "")
	dir := t.TempDir()
	local := "target \"default\" {\n  dockerfile = \"Dockerfile.alt\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "local.hcl"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	mustXB(t, cfg, []string{"bake", "-f", "docker-bake.hcl", "-f", "cwd://local.hcl", "--set", "default.output=type=local,dest=out-set", url}, withDir(dir))
	if got := readOut(t, filepath.Join(dir, "out-set", "alt.txt")); got != remoteRepo["alt.txt"] {
		t.Errorf("out-set/alt.txt = %q, want the file the local override's Dockerfile copies", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("the remote file's output was written although --set replaced it")
	}
	r := xb(t, cfg, []string{"bake", "--print", "-f", "cwd://missing.hcl", url}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "missing.hcl") {
		t.Errorf("a missing cwd:// file: %s\nwant exit 1 naming it", r)
	}
}

// BUILDX_BAKE_FILE lists the files when -f gives none, split by
// BUILDX_BAKE_PATH_SEPARATOR; -f wins over it.
func TestBakeFileFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hcl")
	b := filepath.Join(dir, "b.hcl")
	if err := os.WriteFile(a, []byte("target \"default\" {\n  tags = [\"a\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("target \"default\" {\n  target = \"b\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, files, sep string }{
		{"default separator", a + string(os.PathListSeparator) + b, ""},
		{"own separator", a + "," + b, "BUILDX_BAKE_PATH_SEPARATOR=,"},
	} {
		p := bakePrint(t, nil, withDir(dir), withEnv("BUILDX_BAKE_FILE="+tc.files, tc.sep))
		d := p.Target["default"]
		if d["target"] != "b" || len(d["tags"].([]any)) != 1 {
			t.Errorf("%s: default = %v, want both files merged", tc.name, d)
		}
	}
	p := bakePrint(t, []string{"-f", a}, withDir(dir), withEnv("BUILDX_BAKE_FILE="+b))
	if _, ok := p.Target["default"]["target"]; ok {
		t.Errorf("-f a.hcl with BUILDX_BAKE_FILE=b.hcl read b.hcl: %v", p.Target["default"])
	}
	r := xb(t, t.TempDir(), []string{"bake", "--print"}, withDir(dir), withEnv("BUILDX_BAKE_FILE=nope.hcl"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "nope.hcl") {
		t.Errorf("BUILDX_BAKE_FILE naming a missing file: %s\nwant exit 1 naming it", r)
	}
}

// BUILDX_BAKE_GIT_AUTH_TOKEN (or the whole header, in
// BUILDX_BAKE_GIT_AUTH_HEADER) reaches the Git server, for the definition
// and for the context, and never the output.
func TestBakeRemoteGitAuthToken(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	const token = "tok-3f9a1c-never-printed"
	url := serveGit(t, remoteRepo, token)
	dir := t.TempDir()
	r := xb(t, cfg, []string{"bake", url + "#main"}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "BUILDX_BAKE_GIT_AUTH_TOKEN") {
		t.Fatalf("without the token: %s\nwant exit 1 with a hint at the credentials", r)
	}
	r = mustXB(t, cfg, []string{"bake", "--progress=plain", url + "#main"}, withDir(dir), withEnv("BUILDX_BAKE_GIT_AUTH_TOKEN="+token))
	if got := readOut(t, filepath.Join(dir, "out", "hello.txt")); got != remoteRepo["hello.txt"] {
		t.Errorf("out/hello.txt = %q, want the repository's file", got)
	}
	p := mustXB(t, cfg, []string{"bake", "--print", url + "#main"}, withDir(dir), withEnv("BUILDX_BAKE_GIT_AUTH_TOKEN="+token))
	header := "basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	h := mustXB(t, cfg, []string{"bake", "--no-cache", url + "#main"}, withDir(dir), withEnv("BUILDX_BAKE_GIT_AUTH_HEADER="+header))
	for _, out := range []string{r.Stdout, r.Stderr, p.Stdout, p.Stderr, h.Stdout, h.Stderr} {
		if strings.Contains(out, token) || strings.Contains(out, header[len("basic "):]) {
			t.Errorf("the token was printed:\n%s", out)
		}
	}
}

// serveFile serves data at /name and returns its URL; a name ending in
// .tar.gz serves files as one gzipped tar archive.
func serveFile(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	data := []byte(files[name])
	if strings.HasSuffix(name, ".tar.gz") {
		data = tarball(t, files)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + name
}

func tarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A bake file served over HTTP builds with contexts on this machine, as
// in buildx; an archive is refused with a message saying what works.
func TestBakeRemoteHTTPFile(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	def := map[string]string{"docker-bake.hcl": "target \"default\" {\n  dockerfile-inline = \"FROM scratch\\nCOPY local.txt /\\n\"\n  output = [\"type=local,dest=out\"]\n}\n"}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.txt"), []byte("local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustXB(t, cfg, []string{"bake", serveFile(t, "docker-bake.hcl", def)}, withDir(dir))
	if got := readOut(t, filepath.Join(dir, "out", "local.txt")); got != "local\n" {
		t.Errorf("out/local.txt = %q, want the local file", got)
	}
	r := xb(t, cfg, []string{"bake", serveFile(t, "definition.tar.gz", remoteRepo)}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "archive") {
		t.Errorf("an archive definition: %s\nwant exit 1 saying archives cannot be read", r)
	}
}
