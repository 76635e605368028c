package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/go-units"
	bkclient "github.com/moby/buildkit/client"
)

// These tests read the env's addresses themselves, so they do not depend
// on how the rest of the suite holds the env.

func duGetenv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is unset: run `eval \"$(hack/env print)\"` first", name)
	}
	return v
}

// duLine is one line of `du --format json`.
type duLine struct {
	ID, Description, Size, Type string
	Parents                     []string
	Reclaimable, Mutable        bool
}

// duJSON runs `du --format json` with args and parses every line.
func duJSON(t *testing.T, cfg string, args ...string) []duLine {
	t.Helper()
	r := mustXB(t, cfg, append([]string{"du", "--format", "json"}, args...))
	var out []duLine
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l duLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("du --format json printed %q: %v", sc.Text(), err)
		}
		if l.ID == "" || l.Parents == nil {
			t.Fatalf("du --format json line without ID or Parents: %s", sc.Text())
		}
		out = append(out, l)
	}
	return out
}

func (l duLine) bytes(t *testing.T) int64 {
	t.Helper()
	n, err := strconv.ParseInt(l.Size, 10, 64)
	if err != nil {
		t.Fatalf("du --format json Size %q is no number of bytes", l.Size)
	}
	return n
}

// duSum adds up sizes as du's totals do: unknown (negative) sizes count
// nowhere.
func duSum(t *testing.T, recs []duLine) int64 {
	t.Helper()
	var n int64
	for _, l := range recs {
		if b := l.bytes(t); b > 0 {
			n += b
		}
	}
	return n
}

func duIDs(recs []duLine) []string {
	ids := make([]string, len(recs))
	for i, l := range recs {
		ids[i] = l.ID
	}
	slices.Sort(ids)
	return ids
}

// totalLine is the value of the "Total:" line of du or prune.
func totalLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Total:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Total: line in\n%s", out)
	return ""
}

// prunedIDs are the IDs of prune's table rows, marks dropped.
func prunedIDs(out string) []string {
	var ids []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] == "ID" || f[0] == "Total:" || strings.Contains(l, "[y/N]") {
			continue
		}
		ids = append(ids, strings.TrimSuffix(f[0], "*"))
	}
	slices.Sort(ids)
	return ids
}

// cacheContext is a build context whose RUN step no other build has, so
// its cache record is new, and its description carries token.
func cacheContext(t *testing.T, token string) string {
	t.Helper()
	dir := t.TempDir()
	df := "ARG BASE\nFROM ${BASE}\nRUN echo " + token + " > /token && head -c 300000 /dev/urandom > /blob\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func uniqueToken(name string) string { return fmt.Sprintf("xbuild-%s-%d", name, time.Now().UnixNano()) }

// On the env's shared buildkitd, du sees a build's new cache, and prune
// with a filter removes exactly the matching records: other tests' cache
// stays. A prompt answered "n" removes nothing.
func TestDuPruneRemote(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", duGetenv(t, "XBUILD_TEST_BUILDKIT")})
	before := duSum(t, duJSON(t, cfg, "--builder", "r"))
	token := uniqueToken("du")
	mustXB(t, cfg, []string{"build", "--builder", "r", "--build-arg", baseArg(), cacheContext(t, token)})
	if after := duSum(t, duJSON(t, cfg, "--builder", "r")); after <= before {
		t.Errorf("du total after a build with new cache = %d bytes, before = %d; want it to grow", after, before)
	}
	filter := "description~=" + token
	mine := duJSON(t, cfg, "--builder", "r", "--filter", filter)
	if len(mine) == 0 {
		t.Fatalf("du --filter %s lists nothing after the build", filter)
	}
	r := mustXB(t, cfg, []string{"du", "--builder", "r", "--filter", filter})
	if !strings.HasPrefix(r.Stdout, "ID ") || strings.Contains(r.Stdout, "Total:") || !strings.Contains(r.Stdout, mine[0].ID) {
		t.Errorf("du --filter: want the table without totals, with %s:\n%s", mine[0].ID, r.Stdout)
	}

	r = xb(t, cfg, []string{"prune", "--builder", "r", "--filter", filter}, withStdin("n\n"))
	if r.Code != 0 || !strings.Contains(r.Stdout, "[y/N]") || strings.Contains(r.Stdout, "Total:") {
		t.Errorf("prune answered n: want the question and nothing removed:\n%s", r)
	}
	if got := duJSON(t, cfg, "--builder", "r", "--filter", filter); !slices.Equal(duIDs(got), duIDs(mine)) {
		t.Fatalf("after prune answered n, du lists %v; want %v", duIDs(got), duIDs(mine))
	}

	r = mustXB(t, cfg, []string{"prune", "--builder", "r", "--filter", filter, "--force"})
	if got, want := prunedIDs(r.Stdout), duIDs(mine); !slices.Equal(got, want) {
		t.Errorf("prune --filter %s removed %v; want exactly %v:\n%s", filter, got, want, r.Stdout)
	}
	if got, want := totalLine(t, r.Stdout), units.HumanSize(float64(duSum(t, mine))); got != want {
		t.Errorf("prune reclaimed %s; du sized the records at %s", got, want)
	}
	if left := duJSON(t, cfg, "--builder", "r", "--filter", filter); len(left) != 0 {
		t.Errorf("after prune, du still lists %v", duIDs(left))
	}
}

// newLocalBuilder creates a builder named name running a buildkitd of the
// test's own, and returns its socket address.
func newLocalBuilder(t *testing.T, cfg, name string) string {
	t.Helper()
	root := t.TempDir()
	conf := filepath.Join(t.TempDir(), "buildkitd.toml")
	toml := "[registry.\"" + duGetenv(t, "XBUILD_TEST_REGISTRY") + "\"]\n  http = true\n  insecure = true\n[worker.containerd]\n  enabled = false\n"
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	path := withEnv("PATH=" + filepath.Join(repoRoot, "hack", "tools", "bin") + string(os.PathListSeparator) + os.Getenv("PATH"))
	mustXB(t, cfg, []string{"create", "--name", name, "--driver", "local", "--driver-opt", "root=" + root,
		"--driver-opt", "config=" + conf, "--bootstrap"}, path)
	t.Cleanup(func() {
		xb(t, cfg, []string{"rm", name})
		if data, err := os.ReadFile(filepath.Join(root, "buildkitd.pid")); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return "unix://" + filepath.Join(root, "buildkitd.sock")
}

// daemonUsage asks the daemon itself for its cache.
func daemonUsage(t *testing.T, addr string) []*bkclient.UsageInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	du, err := c.DiskUsage(ctx)
	if err != nil {
		t.Fatalf("DiskUsage of %s: %v", addr, err)
	}
	return du
}

func daemonSum(du []*bkclient.UsageInfo) (ids []string, total int64) {
	for _, u := range du {
		ids = append(ids, u.ID)
		if u.Size > 0 {
			total += u.Size
		}
	}
	slices.Sort(ids)
	return ids, total
}

// On a buildkitd of the test's own, du agrees with the daemon, prune by id
// removes one record and its size, and prune --all, confirmed on stdin,
// empties the cache.
func TestPruneAllLocal(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	addr := newLocalBuilder(t, cfg, "l")
	token := uniqueToken("prune")
	mustXB(t, cfg, []string{"build", "--builder", "l", "--build-arg", baseArg(), cacheContext(t, token)})

	recs := duJSON(t, cfg, "--builder", "l")
	ids, total := daemonSum(daemonUsage(t, addr))
	if !slices.Equal(duIDs(recs), ids) || duSum(t, recs) != total {
		t.Fatalf("du lists %v (%d bytes); the daemon %v (%d bytes)", duIDs(recs), duSum(t, recs), ids, total)
	}
	r := mustXB(t, cfg, []string{"du", "--builder", "l"})
	if got, want := totalLine(t, r.Stdout), units.HumanSize(float64(total)); got != want {
		t.Errorf("du Total: %s; the daemon holds %s", got, want)
	}
	i := slices.IndexFunc(recs, func(l duLine) bool { return strings.Contains(l.Description, token) })
	if i < 0 {
		t.Fatalf("no record of the RUN step in %+v", recs)
	}
	one := recs[i]

	r = mustXB(t, cfg, []string{"prune", "--builder", "l", "--filter", "id=" + one.ID, "-f"})
	if got := prunedIDs(r.Stdout); !slices.Equal(got, []string{one.ID}) {
		t.Errorf("prune --filter id=%s removed %v:\n%s", one.ID, got, r.Stdout)
	}
	if got, want := totalLine(t, r.Stdout), units.HumanSize(float64(one.bytes(t))); got != want {
		t.Errorf("prune --filter id reclaimed %s; the record held %s", got, want)
	}
	_, left := daemonSum(daemonUsage(t, addr))
	if left != total-one.bytes(t) {
		t.Errorf("after pruning %d bytes the daemon holds %d, not %d", one.bytes(t), left, total-one.bytes(t))
	}

	r = xb(t, cfg, []string{"prune", "--builder", "l", "--all"}, withStdin("n\n"))
	if _, now := daemonSum(daemonUsage(t, addr)); r.Code != 0 || now != left || !strings.Contains(r.Stdout, "[y/N]") {
		t.Errorf("prune --all answered n left %d bytes of %d:\n%s", now, left, r)
	}
	r = xb(t, cfg, []string{"prune", "--builder", "l", "--all"}, withStdin("y\n"))
	if r.Code != 0 || totalLine(t, r.Stdout) != units.HumanSize(float64(left)) {
		t.Errorf("prune --all answered y: want Total: %s:\n%s", units.HumanSize(float64(left)), r)
	}
	if du := daemonUsage(t, addr); len(du) != 0 {
		t.Errorf("after prune --all the daemon still holds %d records", len(du))
	}
	if got := duJSON(t, cfg, "--builder", "l"); len(got) != 0 {
		t.Errorf("after prune --all du lists %v", duIDs(got))
	}
}

// The docker driver's builder (the engine's own BuildKit) answers du in
// every format.
func TestDuDockerDriver(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	host := withDockerHost(duGetenv(t, "XBUILD_TEST_DOCKER_CONTAINERD"))
	r := mustXB(t, cfg, []string{"du"}, host)
	if f := strings.Fields(strings.SplitN(r.Stdout, "\n", 2)[0]); !slices.Equal(f, []string{"ID", "RECLAIMABLE", "SIZE", "LAST", "ACCESSED"}) {
		t.Errorf("du header = %q", f)
	}
	totalLine(t, r.Stdout)
	r = mustXB(t, cfg, []string{"du", "--format", "json"}, host)
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if l != "" && !json.Valid([]byte(l)) {
			t.Errorf("du --format json printed %q", l)
		}
	}
	r = mustXB(t, cfg, []string{"du", "--verbose"}, host)
	if strings.Contains(r.Stdout, "RECLAIMABLE") || !strings.Contains(r.Stdout, "Total:") {
		t.Errorf("du --verbose:\n%s", r.Stdout)
	}
}

// Bad input is refused in one line, before the builder is even looked up.
func TestDuPruneBadInput(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"du", "--filter", "bogus=1"}, want: `unknown key "bogus"`},
		{args: []string{"du", "--format", "{{.Nope}}"}, want: "invalid --format"},
		{args: []string{"prune", "-f", "--max-used-space=lots"}, want: `invalid argument "lots" for "--max-used-space" flag`},
		{args: []string{"prune", "-f", "--filter", "description~=[x"}, want: "error parsing regexp"},
	}
	for _, tt := range tests {
		r := xb(t, cfg, append(tt.args, "--builder", "no-such-builder"))
		errLines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 1 || len(errLines) != 1 || !strings.HasPrefix(errLines[0], "ERROR: ") || !strings.Contains(r.Stderr, tt.want) {
			t.Errorf("xbuild %s: want exit 1 and one line with %q:\n%s", strings.Join(tt.args, " "), tt.want, r)
		}
	}
}
