package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// replayDockerfile writes a file whose content names word and the
// platform, from the env's base image.
func replayDockerfile(word string) string {
	return fmt.Sprintf("ARG BASE\nFROM ${BASE} AS b\nARG TARGETARCH\nRUN echo %s-$TARGETARCH > /out\nFROM scratch\nCOPY --from=b /out /out\n", word)
}

type replayPlan struct {
	Subjects []struct {
		Descriptor struct {
			Digest   string `json:"digest"`
			Platform struct {
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"descriptor"`
		BuildConfig struct {
			Context   string            `json:"context"`
			BuildArgs map[string]string `json:"buildArgs"`
		} `json:"buildConfig"`
		Materials []struct {
			Kind   string `json:"kind"`
			URI    string `json:"uri"`
			Digest string `json:"digest"`
		} `json:"materials"`
	} `json:"subjects"`
}

func readReplayPlan(t *testing.T, out string) replayPlan {
	t.Helper()
	var p replayPlan
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Subjects) != 1 {
		t.Fatalf("the dry run printed no plan of one subject (%v):\n%s", err, out)
	}
	return p
}

// A two-platform image built from an HTTP context with mode=max provenance
// is replayed from the registry: the plan names the recorded context,
// arguments and pinned materials; the replay of one platform writes what
// the original wrote. With the context changed since, materials mode
// still builds the recorded one and frontend mode the new one.
func TestReplay(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "rp", "--driver", "remote", "--use", env.BuildKit})
	var df atomic.Value
	df.Store(replayDockerfile("replayed"))
	url := serveDockerfile(t, &df)
	tag := fmt.Sprintf("%s/xbuild-test/replay:%d", env.Registry, time.Now().UnixNano())
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64,linux/arm64", "--provenance=mode=max", "--push", "-t", tag, "--build-arg", baseArg(), url})

	// Without --platform, the builder's default platform of the two.
	p := readReplayPlan(t, mustXB(t, cfg, []string{"replay", "build", tag, "--dry-run", "--format", "json"}).Stdout)
	s := p.Subjects[0]
	if s.Descriptor.Platform.Architecture != "amd64" || s.BuildConfig.Context != url || s.BuildConfig.BuildArgs["BASE"] != env.BaseImage {
		t.Errorf("plan subject = %+v, want amd64 from %s with BASE=%s", s, url, env.BaseImage)
	}
	kinds := map[string]bool{}
	for _, m := range s.Materials {
		kinds[m.Kind] = m.Digest != ""
	}
	if !kinds["http"] || !kinds["image"] {
		t.Errorf("plan materials = %+v, want the pinned http context and base image", s.Materials)
	}
	r := mustXB(t, cfg, []string{"replay", "build", tag, "--dry-run", "--platform", "linux/arm64"})
	for _, want := range []string{"Replay plan", "Subject 1/1", "linux/arm64", "Context:", url, "Materials (2)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("the pretty plan lacks %q:\n%s", want, r.Stdout)
		}
	}

	out := t.TempDir()
	mustXB(t, cfg, []string{"replay", "build", tag, "--platform", "linux/arm64", "-o", filepath.Join(out, "first")})
	fileIs(t, filepath.Join(out, "first", "out"), "replayed-arm64")
	df.Store(replayDockerfile("changed"))
	mustXB(t, cfg, []string{"replay", "build", tag, "--platform", "linux/arm64", "-o", filepath.Join(out, "pinned")})
	fileIs(t, filepath.Join(out, "pinned", "out"), "replayed-arm64")
	mustXB(t, cfg, []string{"replay", "build", tag, "--platform", "linux/arm64", "--replay-mode", "frontend", "-o", filepath.Join(out, "frontend")})
	fileIs(t, filepath.Join(out, "frontend", "out"), "changed-arm64")

	// An OCI layout is a subject too.
	archive := filepath.Join(out, "oci.tar")
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "--provenance=mode=max", "-o", "type=oci,dest=" + archive, "-t", "example.com/replay:layout",
		"--build-arg", baseArg(), url})
	layout := filepath.Join(out, "layout")
	for name, data := range tarFiles(t, archive) {
		writeFile(t, filepath.Join(layout, name), string(data))
	}
	p = readReplayPlan(t, mustXB(t, cfg, []string{"replay", "build", "oci-layout://" + layout + ":layout", "--dry-run", "--format", "json"}).Stdout)
	if p.Subjects[0].Descriptor.Platform.Architecture != "arm64" || p.Subjects[0].BuildConfig.Context != url {
		t.Errorf("oci-layout plan subject = %+v, want arm64 from %s", p.Subjects[0], url)
	}
}

// serveDockerfile serves df's current value as a build context, for the
// env's buildkitd on this host.
func serveDockerfile(t *testing.T, df *atomic.Value) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, df.Load().(string))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/Dockerfile"
}

// What cannot be replayed fails before any build, with the reason, and
// writes nothing.
func TestReplayRefusals(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "rp", "--driver", "remote", "--use", env.BuildKit})
	base := fmt.Sprintf("%s/xbuild-test/replay-refused:%d", env.Registry, time.Now().UnixNano())
	local, minimal := base+"-local", base+"-min"
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "--provenance=mode=max", "--push", "-t", local, "--build-arg", baseArg(), helloContext(t)})
	var df atomic.Value
	df.Store(replayDockerfile("minimal"))
	mustXB(t, cfg, []string{"build", "--platform", "linux/arm64", "--push", "-t", minimal, "--build-arg", baseArg(), serveDockerfile(t, &df)})
	dest := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		args   []string
		errHas string
	}{
		{[]string{local, "-o", dest}, "image was built from local inputs that replay cannot fetch"},
		{[]string{minimal, "--dry-run"}, "provenance was recorded with mode=min"},
		{[]string{local, "--platform", "linux/s390x", "--dry-run"}, "requested platform(s) not present: [linux/s390x]"},
		{[]string{env.BaseImage, "--dry-run"}, "no SLSA provenance attestation found"},
		{[]string{local, "--format", "json"}, "--format requires --dry-run"},
		{[]string{local, "--replay-mode", "exact"}, `unknown --replay-mode "exact"`},
		{[]string{local, "--platform", "all", "--dry-run"}, `--platform "all" is not supported by replay build`},
		{[]string{local, "--network", "host", "--dry-run"}, `unsupported --network "host"`},
		{[]string{"./missing.intoto.json", "--dry-run"}, "no such file"},
	} {
		r := xb(t, cfg, append([]string{"replay", "build"}, tc.args...))
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.errHas) {
			t.Errorf("replay build %v: want a failure with %q, got\n%s", tc.args, tc.errHas, r)
		}
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a refused replay wrote %s (%v)", dest, err)
	}
}
