package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xbuild/xbuild/builder/history"
)

// historyEnv reads what the history tests need from the test env.
func historyEnv(t *testing.T) (buildkit, base string) {
	t.Helper()
	buildkit, base = os.Getenv("XBUILD_TEST_BUILDKIT"), os.Getenv("XBUILD_TEST_BASE_IMAGE")
	if buildkit == "" || base == "" {
		t.Fatal("the test env is not up (XBUILD_TEST_BUILDKIT or XBUILD_TEST_BASE_IMAGE unset): run `eval \"$(hack/env print)\"`")
	}
	return buildkit, base
}

// historyBuilds are a successful and a failing build of the test's own on
// a remote builder over the env's buildkitd, which other tests share: the
// builds are told apart by their IDs and unique names, and only they are
// ever removed.
type historyBuilds struct {
	cfg              string
	okID, failID     string
	okName, failName string
	unique           string
}

func newHistoryBuilds(t *testing.T) *historyBuilds {
	t.Helper()
	buildkit, base := historyEnv(t)
	h := &historyBuilds{cfg: t.TempDir(), unique: fmt.Sprint(time.Now().UnixNano())}
	h.okName, h.failName = "xb-hist-ok-"+h.unique, "xb-hist-fail-"+h.unique
	mustXB(t, h.cfg, []string{"create", "--name", "r", "--driver", "remote", buildkit})

	dir := t.TempDir()
	writeHistoryDockerfile(t, dir, "ok", "RUN echo ok-"+h.unique+" > /f")
	md := filepath.Join(dir, "md.json")
	mustXB(t, h.cfg, []string{"--builder", "r", "build", "--metadata-file", md, "--provenance", "mode=min",
		"--output", "type=oci,dest=" + filepath.Join(dir, "o.tar"), "--build-arg", "BASE=" + base,
		"--build-arg", "BUILDKIT_BUILD_NAME=" + h.okName, filepath.Join(dir, "ok")})
	h.okID = historyRefFromMetadata(t, md)

	writeHistoryDockerfile(t, dir, "fail", `RUN echo "failing-`+h.unique+`" && exit 3`)
	r := xb(t, h.cfg, []string{"--builder", "r", "build", "--build-arg", "BASE=" + base,
		"--build-arg", "BUILDKIT_BUILD_NAME=" + h.failName, filepath.Join(dir, "fail")})
	if r.Code == 0 {
		t.Fatalf("the failing build succeeded:\n%s", r)
	}
	h.failID = h.idByName(t, h.failName)
	t.Cleanup(func() {
		// Only this test's records: the daemon's history is everyone's.
		xb(t, h.cfg, []string{"--builder", "r", "history", "rm", h.okID})
		xb(t, h.cfg, []string{"--builder", "r", "history", "rm", h.failID})
	})
	return h
}

func writeHistoryDockerfile(t *testing.T, dir, name, run string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	df := "ARG BASE\nFROM $BASE\n" + run + "\n"
	if err := os.WriteFile(filepath.Join(dir, name, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
}

// historyRefFromMetadata is the build ID in a metadata file's
// buildx.build.ref, BUILDER/NODE/ID.
func historyRefFromMetadata(t *testing.T, path string) string {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	if err := json.Unmarshal(dt, &md); err != nil {
		t.Fatal(err)
	}
	ref, _ := md["buildx.build.ref"].(string)
	if parts := strings.Split(ref, "/"); len(parts) == 3 && parts[0] == "r" {
		return parts[2]
	}
	t.Fatalf("metadata buildx.build.ref = %q, want r/NODE/ID", ref)
	return ""
}

// ls runs `history ls --format json` and returns its rows.
func (h *historyBuilds) ls(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	r := mustXB(t, h.cfg, append([]string{"--builder", "r", "history", "ls", "--format", "json"}, args...))
	var rows []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("history ls --format json line %q: %v", line, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func (h *historyBuilds) idByName(t *testing.T, name string) string {
	t.Helper()
	for _, row := range h.ls(t) {
		if row["name"] == name {
			ref, _ := row["ref"].(string)
			return ref[strings.LastIndex(ref, "/")+1:]
		}
	}
	t.Fatalf("history ls lists no build named %s", name)
	return ""
}

func (h *historyBuilds) run(t *testing.T, args ...string) result {
	t.Helper()
	return mustXB(t, h.cfg, append([]string{"--builder", "r", "history"}, args...))
}

func TestHistory(t *testing.T) {
	t.Parallel()
	h := newHistoryBuilds(t)
	t.Run("ls", func(t *testing.T) { testHistoryLs(t, h) })
	t.Run("inspect", func(t *testing.T) { testHistoryInspect(t, h) })
	t.Run("logs", func(t *testing.T) { testHistoryLogs(t, h) })
	t.Run("attachment", func(t *testing.T) { testHistoryAttachment(t, h) })
	t.Run("export and import", func(t *testing.T) { testHistoryExport(t, h) })
	t.Run("trace and open", func(t *testing.T) { testHistoryTrace(t, h) })
	t.Run("rm", func(t *testing.T) { testHistoryRm(t, h) })
}

func testHistoryLs(t *testing.T, h *historyBuilds) {
	r := h.run(t, "ls", "--no-trunc")
	if !strings.HasPrefix(r.Stdout, "BUILD ID") || !strings.Contains(r.Stdout, "CREATED AT") || !strings.Contains(r.Stdout, "DURATION") {
		t.Errorf("history ls has no header:\n%s", r.Stdout)
	}
	for id, want := range map[string]string{h.okID: "Completed", h.failID: "Error"} {
		line := historyLine(r.Stdout, id)
		if !strings.Contains(line, want) {
			t.Errorf("history ls line of %s = %q, want status %s", id, line, want)
		}
	}
	status := map[string]any{}
	for _, row := range h.ls(t, "--filter", "ref="+h.failID) {
		status[row["name"].(string)] = row["status"]
	}
	if status[h.failName] != "Error" || len(status) != 1 {
		t.Errorf("history ls --filter ref=%s = %v, want only %s, Error", h.failID, status, h.failName)
	}
	for _, row := range h.ls(t, "--filter", "status=error") {
		if row["name"] == h.okName {
			t.Errorf("history ls --filter status=error lists the successful build %s", h.okID)
		}
	}
	r = h.run(t, "ls", "--filter", "status=completed", "--format", "{{.Ref}} {{.Status}}")
	if !strings.Contains(r.Stdout, h.okID+" Completed") || strings.Contains(r.Stdout, h.failID) {
		t.Errorf("history ls --filter status=completed with a template =\n%s", r.Stdout)
	}
}

func testHistoryInspect(t *testing.T, h *historyBuilds) {
	r := h.run(t, "inspect", h.failID)
	for _, want := range []string{"Name:", h.failName, "Error:", "exit code: 3", ">>> RUN echo", "Logs:", "failing-" + h.unique, "Print build logs: xbuild history logs " + h.failID} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("history inspect %s lacks %q:\n%s", h.failID, want, r.Stdout)
		}
	}
	r = h.run(t, "inspect", h.failID, "--format", "json")
	var d history.Details
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		t.Fatalf("history inspect --format json: %v\n%s", err, r.Stdout)
	}
	if d.Status != "failed" || d.Error == nil || !strings.Contains(d.Error.Message, "exit code: 3") || d.Ref != h.failID {
		t.Errorf("history inspect --format json = status %q, ref %q, error %+v", d.Status, d.Ref, d.Error)
	}
	r = h.run(t, "inspect", "r/r0/"+h.okID, "--format", "{{.Name}} {{.Status}} {{.NumTotalSteps}}")
	if got := strings.TrimSpace(r.Stdout); !strings.HasPrefix(got, h.okName+" completed ") {
		t.Errorf("history inspect --format template = %q, want %q", got, h.okName+" completed N")
	}
	r = h.run(t, "inspect", h.okID)
	for _, want := range []string{"Attachments:", "https://slsa.dev/provenance/", "Materials:"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("history inspect %s lacks %q:\n%s", h.okID, want, r.Stdout)
		}
	}
}

func testHistoryLogs(t *testing.T, h *historyBuilds) {
	r := h.run(t, "logs", h.failID)
	for _, want := range []string{`RUN echo "failing-` + h.unique, "ERROR: process", "exit code: 3"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("history logs %s lacks %q:\n%s", h.failID, want, r.Stderr)
		}
	}
	r = h.run(t, "logs", h.okID, "--progress", "rawjson")
	first, _, _ := strings.Cut(r.Stderr, "\n")
	if !json.Valid([]byte(first)) || !strings.Contains(r.Stderr, "ok-"+h.unique) {
		t.Errorf("history logs --progress rawjson =\n%s", r.Stderr)
	}
}

func testHistoryAttachment(t *testing.T, h *historyBuilds) {
	r := h.run(t, "inspect", "attachment", h.okID, "--type", "provenance")
	var pred map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &pred); err != nil || (pred["buildDefinition"] == nil && pred["buildType"] == nil) {
		t.Errorf("history inspect attachment --type provenance = %v, %.300s", err, r.Stdout)
	}
	r = xb(t, h.cfg, []string{"--builder", "r", "history", "inspect", "attachment", h.okID, "--type", "sbom"})
	if r.Code != 1 || !strings.Contains(r.Stderr, "has no attachment of type sbom") {
		t.Errorf("history inspect attachment --type sbom of a build without SBOM:\n%s", r)
	}
}

func testHistoryExport(t *testing.T, h *historyBuilds) {
	out := filepath.Join(t.TempDir(), "b.dockerbuild")
	h.run(t, "export", h.okID, h.failID, "-o", out)
	dt, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := history.ReadBundle(bytes.NewReader(dt))
	if err != nil {
		t.Fatalf("reading the exported bundle: %v", err)
	}
	var refs []string
	for _, rec := range recs {
		refs = append(refs, rec.Ref)
	}
	if strings.Join(refs, " ") != h.okID+" "+h.failID {
		t.Errorf("exported bundle holds %q, want %s %s", refs, h.okID, h.failID)
	}
	// BuildKit cannot take records back, so import goes to Docker Desktop
	// only, as in buildx; there is none here, which import says after it
	// has checked the bundle.
	noDesktop := withEnv("HOME=" + t.TempDir())
	r := xb(t, h.cfg, []string{"history", "import", "-f", out}, noDesktop)
	if r.Code != 1 || !strings.Contains(r.Stderr, "Docker Desktop is not running") {
		t.Errorf("history import without Docker Desktop:\n%s", r)
	}
	r = xb(t, h.cfg, []string{"history", "import"}, noDesktop, withStdin(string(dt)))
	if r.Code != 1 || !strings.Contains(r.Stderr, "importing stdin") {
		t.Errorf("history import < bundle without Docker Desktop:\n%s", r)
	}
	r = xb(t, h.cfg, []string{"history", "import"}, noDesktop, withStdin("not a bundle"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "not a build record bundle") {
		t.Errorf("history import of garbage:\n%s", r)
	}
}

func testHistoryTrace(t *testing.T, h *historyBuilds) {
	r := h.run(t, "trace", h.okID)
	var tr struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []any  `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &tr); err != nil || len(tr.Data) != 1 || len(tr.Data[0].Spans) == 0 {
		t.Errorf("history trace = %v, %.300s", err, r.Stdout)
	}
	r = h.run(t, "open", h.okID)
	if got, want := strings.TrimSpace(r.Stdout), "docker-desktop://dashboard/build/r/r0/"+h.okID; got != want {
		t.Errorf("history open = %q, want %q", got, want)
	}
}

func testHistoryRm(t *testing.T, h *historyBuilds) {
	h.run(t, "rm", h.failID)
	r := xb(t, h.cfg, []string{"--builder", "r", "history", "inspect", h.failID})
	if r.Code != 1 || !strings.Contains(r.Stderr, "no build record") {
		t.Errorf("history inspect of a removed build:\n%s", r)
	}
	for _, row := range h.ls(t) {
		if row["name"] == h.failName {
			t.Errorf("history ls still lists the removed build %s", h.failID)
		}
	}
	if r := h.run(t, "inspect", h.okID); !strings.Contains(r.Stdout, h.okName) {
		t.Errorf("removing %s removed %s too", h.failID, h.okID)
	}
}

// Bad input to history commands gets one clear line and exit 1, before
// any builder is reached.
func TestHistoryBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "bad filter", args: []string{"ls", "--filter", "color=red"}, want: `invalid filter "color=red": unknown key "color"`},
		{name: "bad status", args: []string{"ls", "--filter", "status=failed"}, want: "status is one of running, completed, error, canceled"},
		{name: "bad format", args: []string{"ls", "--format", "{{.Ref"}, want: `invalid --format "{{.Ref"`},
		{name: "bad offset", args: []string{"inspect", "^x"}, want: `invalid offset "^x"`},
		{name: "bad reference", args: []string{"logs", "a/b"}, want: `invalid build reference "a/b"`},
		{name: "bad progress", args: []string{"logs", "--progress", "fancy"}, want: `invalid progress mode "fancy"`},
		{name: "attachment unnamed", args: []string{"inspect", "attachment"}, want: "give --type, --platform or a DIGEST"},
		{name: "bad digest", args: []string{"inspect", "attachment", "^0", "sha256:nope"}, want: `invalid digest "sha256:nope"`},
		{name: "rm nothing", args: []string{"rm"}, want: "name the builds to remove"},
		{name: "rm both", args: []string{"rm", "--all", "abc"}, want: "either --all or build references"},
		{name: "export both", args: []string{"export", "--all", "abc"}, want: "either --all or build references"},
		{name: "import missing file", args: []string{"import", "-f", "/no/such.dockerbuild"}, want: "reading build bundle /no/such.dockerbuild"},
		{name: "trace viewer", args: []string{"trace", "--addr", "127.0.0.1:1"}, want: "serves no trace viewer"},
		{name: "unknown subcommand", args: []string{"nope"}, want: `unknown command "nope"`},
		{name: "unknown builder", args: []string{"--builder", "nosuch", "ls"}, want: `no builder found named "nosuch"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, t.TempDir(), append([]string{"history"}, tt.args...), withDir(t.TempDir()))
			if r.Code != 1 {
				t.Fatalf("exit code = %d, want 1\n%s", r.Code, r)
			}
			if !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.Stderr, tt.want)
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, r.Stderr)
			}
		})
	}
}

// historyLine is the first line of s containing sub.
func historyLine(s, sub string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
