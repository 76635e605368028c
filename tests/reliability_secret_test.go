package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// Secrets: a --secret from an environment variable, a build
// arg and the registry password of DOCKER_CONFIG each carry a marker of
// their own; no marker shows in the progress (plain, rawjson), the build's
// logs, the metadata file, the provenance (as inspected and as stored) or
// the action's summary and outputs (I6). The build checks warn about the
// ARG and the ENV that look like secrets, as buildx's do.

// secretDockerfile uses the secret without printing it, and has an ARG
// and an ENV whose names look like secrets.
func secretDockerfile() string {
	return "FROM " + env.BaseImage + "\nARG TOKEN\nENV PASSWORD=placeholder\n" +
		"RUN --mount=type=secret,id=s,required=true test -s /run/secrets/s && echo \"token of ${#TOKEN} chars\"\n"
}

// markers are the values the secrets carry.
type markers struct{ secret, arg, password string }

func newMarkers() markers {
	n := uniqueNumber()
	return markers{secret: "relsecret-" + n, arg: "relarg-" + n, password: "relpassword-" + n}
}

// secretConfig makes a config folder with builder "r" and a Docker config
// holding a password for the env's registry.
func secretConfig(t *testing.T, m markers) string {
	t.Helper()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	auth := base64.StdEncoding.EncodeToString([]byte("reluser:" + m.password))
	conf := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, env.Registry, auth)
	if err := os.MkdirAll(filepath.Join(cfg, "docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "docker", "config.json"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestReliabilitySecrets(t *testing.T) {
	t.Parallel()
	t.Run("secrets", secretsNowhere)
	t.Run("build-checks", secretBuildChecks)
}

// secretsNowhere builds and pushes with the three secrets, then reads
// every place I6 names.
func secretsNowhere(t *testing.T) {
	s := newScenario(t)
	m := newMarkers()
	cfg := secretConfig(t, m)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": secretDockerfile()})
	ref := env.Registry + "/xbuild-test/rel-secret:" + uniqueNumber()
	md := filepath.Join(t.TempDir(), "metadata.json")
	withSecret := withEnv("SECRET_VAR=" + m.secret)
	build := []string{"build", "--builder", "r", "--no-cache", "--secret", "id=s,env=SECRET_VAR", "--build-arg", "TOKEN=" + m.arg,
		"--push", "-t", ref, "--metadata-file", md}
	places := map[string][]byte{}
	r := mustXB(t, cfg, append(build, "--progress=plain", ctxDir), withSecret)
	places["plain progress"] = []byte(r.Stdout + r.Stderr)
	places["metadata file"], _ = os.ReadFile(md)
	r = mustXB(t, cfg, append(build, "--progress=rawjson", ctxDir), withSecret)
	places["rawjson progress"] = []byte(r.Stdout + r.Stderr)
	var meta struct {
		Ref string `json:"buildx.build.ref"`
	}
	_ = json.Unmarshal(places["metadata file"], &meta)
	places["history logs"] = []byte(mustXB(t, cfg, []string{"history", "logs", "--builder", "r", meta.Ref}).Stdout)
	places["imagetools inspect"] = []byte(mustXB(t, cfg, []string{"imagetools", "inspect", ref}).Stdout)
	places["provenance, inspected"] = []byte(mustXB(t, cfg, []string{"imagetools", "inspect", "--format", "{{json .Provenance}}", ref}).Stdout)
	places["attestation blobs"] = attestationBlobs(t, ref)
	for name, data := range actionPlaces(t, cfg, ctxDir, ref, m) {
		places[name] = data
	}
	for _, src := range []struct{ what, marker string }{
		{"the --secret", m.secret}, {"the build arg TOKEN", m.arg}, {"the registry password", m.password},
	} {
		for _, v := range invariant.Secret(src.marker, places) {
			v.Detail = src.what + ": " + v.Detail
			s.check(v)
		}
	}
}

// actionPlaces runs the same build as the GitHub Actions step and returns
// what the step shows: its output, the job summary, the step's outputs.
func actionPlaces(t *testing.T, cfg, ctxDir, ref string, m markers) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"output", "summary", "state", "env"} {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"repository":{"private":true}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xbuildBin, "action", "run")
	cmd.Env = append(os.Environ(), "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+files["output"], "GITHUB_STEP_SUMMARY="+files["summary"],
		"GITHUB_STATE="+files["state"], "GITHUB_ENV="+files["env"], "GITHUB_EVENT_PATH="+event, "RUNNER_TEMP="+dir,
		"XBUILD_CONFIG="+cfg, "DOCKER_CONFIG="+filepath.Join(cfg, "docker"), "BUILDKIT_PROGRESS=", "XBUILD_BUILDER=", "BUILDX_BUILDER=",
		"SECRET_VAR="+m.secret, "INPUT_BUILDER=r", "INPUT_CONTEXT="+ctxDir, "INPUT_SECRETS=id=s,env=SECRET_VAR",
		"INPUT_BUILD-ARGS=TOKEN="+m.arg, "INPUT_PUSH=true", "INPUT_TAGS="+ref, "INPUT_NO-CACHE=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the action step failed: %v\n%s", err, out)
	}
	places := map[string][]byte{"action step output": out}
	for _, name := range []string{"summary", "output"} {
		places["action "+name], _ = os.ReadFile(files[name])
	}
	return places
}

// attestationBlobs reads the attestation manifests of ref's index and the
// blobs they carry, straight from the registry (plain HTTP on loopback).
func attestationBlobs(t *testing.T, ref string) []byte {
	t.Helper()
	repo, tag, _ := strings.Cut(strings.TrimPrefix(ref, env.Registry+"/"), ":")
	var idx ocispecs.Index
	if err := json.Unmarshal(registryGet(t, repo, "manifests/"+tag, ocispecs.MediaTypeImageIndex), &idx); err != nil {
		t.Fatalf("the index of %s: %v", ref, err)
	}
	var out []byte
	for _, d := range idx.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		var m ocispecs.Manifest
		if err := json.Unmarshal(registryGet(t, repo, "manifests/"+d.Digest.String(), d.MediaType), &m); err != nil {
			t.Fatalf("attestation manifest %s: %v", d.Digest, err)
		}
		for _, l := range m.Layers {
			out = append(out, registryGet(t, repo, "blobs/"+l.Digest.String(), l.MediaType)...)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no attestation blobs to read", ref)
	}
	return out
}

func registryGet(t *testing.T, repo, path, accept string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+env.Registry+"/v2/"+repo+"/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", req.URL, resp.Status, err, data)
	}
	return data
}

// secretBuildChecks: the SecretsUsedInArgOrEnv check warns about ARG
// TOKEN and ENV PASSWORD in plain and rawjson progress.
func secretBuildChecks(t *testing.T) {
	newScenario(t)
	m := newMarkers()
	cfg := secretConfig(t, m)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": secretDockerfile()})
	args := []string{"build", "--builder", "r", "--secret", "id=s,env=SECRET_VAR", "-o", "type=cacheonly", ctxDir}
	plain := mustXB(t, cfg, append(args, "--progress=plain"), withEnv("SECRET_VAR="+m.secret)).Stderr
	raw := mustXB(t, cfg, append(args, "--progress=rawjson"), withEnv("SECRET_VAR="+m.secret)).Stderr
	var warnings []string
	for _, line := range strings.Split(raw, "\n") {
		var st struct{ Warnings []struct{ Short []byte } }
		if json.Unmarshal([]byte(line), &st) == nil {
			for _, w := range st.Warnings {
				warnings = append(warnings, string(w.Short))
			}
		}
	}
	for _, want := range []string{`(ARG "TOKEN")`, `(ENV "PASSWORD")`} {
		if !strings.Contains(plain, "SecretsUsedInArgOrEnv") || !strings.Contains(plain, want) {
			t.Errorf("plain progress has no SecretsUsedInArgOrEnv warning for %s:\n%s", want, plain)
		}
		if !strings.Contains(strings.Join(warnings, "\n"), want) {
			t.Errorf("rawjson progress has no warning for %s: %q", want, warnings)
		}
	}
}
