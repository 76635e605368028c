package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// jobsBake writes a definition of the targets named, each writing the
// times its step started and ended into out-NAME; a name starting with
// "bad" fails its step instead after a second.
func jobsBake(t *testing.T, sleep int, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "group \"default\" {\n  targets = [\"%s\"]\n}\n", strings.Join(names, `", "`))
	for _, n := range names {
		run := fmt.Sprintf(`date +%%s > /start && sleep %d && date +%%s > /end`, sleep)
		if strings.HasPrefix(n, "bad") {
			run = "sleep 1 && false"
		}
		df := fmt.Sprintf(`FROM %s AS work\nRUN %s\nFROM scratch\nCOPY --from=work /start /end /\n`, env.BaseImage, run)
		fmt.Fprintf(&b, "target %q {\n  dockerfile-inline = \"%s\"\n  output = [\"type=local,dest=out-%s\"]\n}\n", n, df, n)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stepTimes reads the start and end a target's step recorded.
func stepTimes(t *testing.T, dir, name string) (start, end int64) {
	t.Helper()
	read := func(f string) int64 {
		dt, err := os.ReadFile(filepath.Join(dir, "out-"+name, f))
		if err != nil {
			t.Fatalf("target %s wrote no %s: %v", name, f, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(dt)), 10, 64)
		if err != nil {
			t.Fatalf("target %s wrote %q as %s: %v", name, dt, f, err)
		}
		return n
	}
	return read("start"), read("end")
}

// With defer-error the targets that do not fail finish and write their
// outputs and metadata; the error names the failed target.
func TestBakeJobsDeferError(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := jobsBake(t, 3, "bad", "one", "two")
	r := xb(t, cfg, []string{"bake", "--no-cache", "--jobs=defer-error", "--metadata-file", "md.json"}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: target bad:") {
		t.Fatalf("%s\nwant exit 1 naming target bad", r)
	}
	for _, n := range []string{"one", "two"} {
		stepTimes(t, dir, n)
	}
	dt, err := os.ReadFile(filepath.Join(dir, "md.json"))
	if err != nil {
		t.Fatalf("no metadata file for the targets that finished: %v", err)
	}
	var md map[string]any
	if err := json.Unmarshal(dt, &md); err != nil {
		t.Fatalf("metadata file: %v\n%s", err, dt)
	}
	for _, n := range []string{"one", "two"} {
		if _, ok := md[n]; !ok {
			t.Errorf("metadata file lacks %s: %s", n, dt)
		}
	}
}

// The default, fail-fast, cancels the other targets at the first failure
// and names the failed one.
func TestBakeJobsFailFast(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := jobsBake(t, 60, "bad", "one", "two")
	r := xb(t, cfg, []string{"bake", "--no-cache", "-j", "fail-fast"}, withDir(dir))
	if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: target bad:") {
		t.Fatalf("%s\nwant exit 1 naming target bad", r)
	}
	for _, n := range []string{"one", "two"} {
		if _, err := os.Stat(filepath.Join(dir, "out-"+n)); err == nil {
			t.Errorf("target %s finished although bad failed first", n)
		}
	}
}

// -j 1 runs the targets one at a time: no target's step starts before the
// one before it ended.
func TestBakeJobsOneAtATime(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	names := []string{"one", "two", "three"}
	dir := jobsBake(t, 2, names...)
	mustXB(t, cfg, []string{"bake", "--no-cache", "-j", "1"}, withDir(dir))
	type span struct {
		name       string
		start, end int64
	}
	var spans []span
	for _, n := range names {
		s, e := stepTimes(t, dir, n)
		spans = append(spans, span{n, s, e})
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.start - b.start) })
	for i := 1; i < len(spans); i++ {
		if prev := spans[i-1]; spans[i].start < prev.end {
			t.Errorf("target %s started at %d, before %s ended at %d", spans[i].name, spans[i].start, prev.name, prev.end)
		}
	}
}

// Bad --jobs values stop before any build.
func TestBakeJobsBadValue(t *testing.T) {
	t.Parallel()
	dir := jobsBake(t, 1, "one")
	for _, v := range []string{"-1", "later", "parallel=x", "speed=fast"} {
		r := xb(t, t.TempDir(), []string{"bake", "--jobs", v}, withDir(dir))
		if r.Code != 1 || !strings.Contains(r.Stderr, "--jobs") {
			t.Errorf("--jobs %s: %s\nwant exit 1 naming --jobs", v, r)
		}
	}
}

// deferBake writes a definition of targets one and two, which write their
// files at once, and last, which uses one as a context and, when fail is
// set, fails its step after a few seconds, long after the others have
// their results.
func deferBake(t *testing.T, fail bool) string {
	t.Helper()
	dir := t.TempDir()
	run := "true"
	if fail {
		run = "sleep 4 && false"
	}
	def := fmt.Sprintf(`group "default" {
  targets = ["one", "two", "last"]
}
target "one" {
  dockerfile-inline = "FROM %[1]s AS work\nRUN echo one > /file\nFROM scratch\nCOPY --from=work /file /\n"
  output = ["type=local,dest=out-one"]
}
target "two" {
  dockerfile-inline = "FROM %[1]s AS work\nRUN echo two > /file\nFROM scratch\nCOPY --from=work /file /\n"
  output = ["type=local,dest=out-two"]
}
target "last" {
  contexts = { base = "target:one" }
  dockerfile-inline = "FROM %[1]s AS work\nCOPY --from=base /file /file\nRUN %[2]s\nFROM scratch\nCOPY --from=work /file /\n"
  output = ["type=local,dest=out-last"]
}
`, env.BaseImage, run)
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// With defer-output no target writes its output unless every target has
// its result: one failing leaves no output at all; all succeeding, even
// one using another as a context, write them all.
func TestBakeJobsDeferOutput(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	names := []string{"one", "two", "last"}
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		dir := deferBake(t, true)
		r := xb(t, cfg, []string{"bake", "--no-cache", "--jobs", "defer-output"}, withDir(dir))
		if r.Code != 1 || !strings.Contains(r.Stderr, "ERROR: target last:") {
			t.Fatalf("%s\nwant exit 1 naming target last", r)
		}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, "out-"+n)); err == nil {
				t.Errorf("target %s wrote its output although last failed", n)
			}
		}
	})
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		dir := deferBake(t, false)
		mustXB(t, cfg, []string{"bake", "--no-cache", "-j", "mode=defer-output,parallel=3"}, withDir(dir))
		for n, want := range map[string]string{"one": "one", "two": "two", "last": "one"} {
			dt, err := os.ReadFile(filepath.Join(dir, "out-"+n, "file"))
			if err != nil || strings.TrimSpace(string(dt)) != want {
				t.Errorf("out-%s/file = %q, %v; want %q", n, dt, err, want)
			}
		}
	})
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		dir := deferBake(t, false)
		r := xb(t, cfg, []string{"bake", "-j", "defer-output,parallel=1"}, withDir(dir))
		if r.Code != 1 || !strings.Contains(r.Stderr, "defer-output") || !strings.Contains(r.Stderr, "parallel=1 is below the 3 targets") {
			t.Fatalf("%s\nwant exit 1 refusing parallel=1 below the 3 targets", r)
		}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, "out-"+n)); err == nil {
				t.Errorf("target %s ran although the limit was refused", n)
			}
		}
	})
}
