package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// probeDockerfile records what a RUN step sees: /dev/shm, the open-files
// limits, its cgroup, its network interfaces, /etc/hosts and its memory
// limit (cgroup v1 or v2), copied into a scratch stage for a local output.
const probeDockerfile = `ARG BASE
FROM ${BASE} AS probe
RUN df -k /dev/shm | tail -n 1 > /shm; ulimit -Sn > /nofile; ulimit -Hn > /nofile-hard; \
    cat /proc/self/cgroup > /cgroup; cat /proc/net/dev > /netdev; cat /etc/hosts > /hosts; \
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes > /memory 2>/dev/null || cat /sys/fs/cgroup/memory.max > /memory
FROM scratch
COPY --from=probe /shm /nofile /nofile-hard /cgroup /netdev /hosts /memory /
`

// probe is what a probe build must have seen; empty fields are not checked.
type probe struct {
	shmKB, nofile, nofileHard, cgroup, host, memory string
	onlyLoopback                                    bool
}

// check reads the probe's files from out.
func (p probe) check(t *testing.T, out string) {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("the probe wrote no /%s: %v", name, err)
		}
		return string(data)
	}
	if p.shmKB != "" {
		if f := strings.Fields(read("shm")); len(f) < 2 || f[1] != p.shmKB {
			t.Errorf("/dev/shm = %q, want %s KiB", read("shm"), p.shmKB)
		}
	}
	for file, want := range map[string]string{"nofile": p.nofile, "nofile-hard": p.nofileHard, "memory": p.memory} {
		if got := strings.TrimSpace(read(file)); want != "" && got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if p.cgroup != "" && !strings.Contains(read("cgroup"), p.cgroup) {
		t.Errorf("/proc/self/cgroup lacks %q:\n%s", p.cgroup, read("cgroup"))
	}
	if p.host != "" && !strings.Contains(read("hosts"), p.host) {
		t.Errorf("/etc/hosts lacks %q:\n%s", p.host, read("hosts"))
	}
	if ifaces := regexp.MustCompile(`(?m)^\s*([^\s:|]+):`).FindAllStringSubmatch(read("netdev"), -1); p.onlyLoopback && (len(ifaces) != 1 || ifaces[0][1] != "lo") {
		t.Errorf("RUN saw interfaces %v, want only lo:\n%s", ifaces, read("netdev"))
	}
}

func probeContext(t *testing.T) string {
	t.Helper()
	return writeContext(t, map[string]string{"Dockerfile": probeDockerfile})
}

// The run flags reach the RUN steps on a remote builder and on the
// engine's own one; docker build's ignored flags warn, and the legacy
// resource flags apply as buildx applies them.
func TestRunFlagsBuild(t *testing.T) {
	t.Parallel()
	remote := remoteBuilder(t)
	tests := []struct {
		name  string
		cfg   string
		opts  []runOpt
		extra []string
		want  probe
	}{
		{name: "remote", cfg: remote,
			extra: []string{"--cgroup-parent", "xbuild-env-buildkitd/runflags", "-m", "64m", "--squash", "--rm", "--force-rm", "--compress"},
			want:  probe{shmKB: "131072", nofile: "1024", nofileHard: "2048", cgroup: "/xbuild-env-buildkitd/runflags/", host: "10.1.2.3\tdb", memory: "67108864", onlyLoopback: true}},
		{name: "docker", cfg: t.TempDir(), opts: []runOpt{withDockerHost(env.DockerContainerd)},
			want: probe{shmKB: "131072", nofile: "1024", nofileHard: "2048", host: "10.1.2.3\tdb", onlyLoopback: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"build", "--build-arg", baseArg(), "--shm-size", "128m", "--ulimit", "nofile=1024:2048",
				"--network", "none", "--add-host", "db=10.1.2.3", "-o", out}, tt.extra...)
			r := mustXB(t, tt.cfg, append(args, probeContext(t)), tt.opts...)
			tt.want.check(t, out)
			if squash := strings.Contains(r.Stderr, "WARNING: --squash is ignored"); squash != strings.Contains(strings.Join(tt.extra, " "), "--squash") {
				t.Errorf("--squash warning shown: %v, want it exactly with --squash:\n%s", squash, r.Stderr)
			}
		})
	}
}

// A bake file's run fields take effect.
func TestRunFlagsBake(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	dir := probeContext(t)
	hcl := `target "default" {
  args = { BASE = "` + env.BaseImage + `" }
  shm-size = "96m"
  ulimits = ["nofile=1536:3072"]
  network = "none"
  extra-hosts = { db = "10.4.5.6" }
  resources = { memory = "48m" }
  output = ["type=local,dest=out"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	mustXB(t, cfg, []string{"bake"}, withDir(dir))
	probe{shmKB: "98304", nofile: "1536", nofileHard: "3072", host: "10.4.5.6\tdb", memory: "50331648", onlyLoopback: true}.check(t, filepath.Join(dir, "out"))
}

// The action's inputs take effect, through the same parsers.
func TestRunFlagsAction(t *testing.T) {
	t.Parallel()
	r := newRunner(t, false)
	out := filepath.Join(t.TempDir(), "out")
	res := r.step("main.js", map[string]string{
		"context":       probeContext(t),
		"build-args":    baseArg(),
		"outputs":       "type=local,dest=" + out,
		"shm-size":      "80m",
		"ulimit":        "nofile=1280:2560",
		"cgroup-parent": "xbuild-env-buildkitd/runflags-action",
		"network":       "none",
		"add-hosts":     "db:10.7.8.9",
		"driver":        "remote",
		"endpoint":      env.BuildKit,
		"xbuild-path":   xbuildBin,
	}, "DOCKER_HOST="+env.DockerContainerd)
	if res.Code != 0 {
		t.Fatalf("the step failed:\n%s", res)
	}
	probe{shmKB: "81920", nofile: "1280", nofileHard: "2560", cgroup: "/xbuild-env-buildkitd/runflags-action/", host: "10.7.8.9\tdb", onlyLoopback: true}.check(t, out)
}

// --no-cache-filter rebuilds the stage it names and only that one.
func TestRunFlagsNoCacheFilter(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	df := `ARG BASE
FROM ${BASE} AS first
RUN echo first > /first
FROM ${BASE} AS second
RUN echo second > /second
FROM scratch
COPY --from=first /first /
COPY --from=second /second /
`
	ctxDir := writeContext(t, map[string]string{"Dockerfile": df})
	out := filepath.Join(t.TempDir(), "out")
	build := func(flags ...string) result {
		t.Helper()
		return mustXB(t, cfg, append(append([]string{"build"}, flags...), "--build-arg", baseArg(), "-o", out, ctxDir))
	}
	// The first build fills the cache, without a display.
	if r := build("--progress=none"); strings.TrimSpace(r.Stderr) != "" || r.Stdout != "" {
		t.Errorf("--progress=none printed something:\n%s", r)
	}
	r := build("--progress=plain", "--no-cache-filter", "second")
	if !stepCached(t, r.Stderr, "[first 2/2] RUN") {
		t.Errorf("stage first was rebuilt, want it CACHED:\n%s", r.Stderr)
	}
	if stepCached(t, r.Stderr, "[second 2/2] RUN") {
		t.Errorf("stage second came from the cache despite --no-cache-filter second:\n%s", r.Stderr)
	}
}

// stepCached reports whether the step named in plain progress was CACHED.
func stepCached(t *testing.T, progress, step string) bool {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(#\d+) ` + regexp.QuoteMeta(step)).FindStringSubmatch(progress)
	if m == nil {
		t.Fatalf("no step %q in:\n%s", step, progress)
	}
	return strings.Contains(progress, m[1]+" CACHED\n")
}

// A bake definition that writes outside its folder is refused before any
// build, naming the --allow to add; with it, the build runs. The same
// holds for the action's bake step and its allow input.
func TestRunFlagsBakeEntitlements(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	parent := t.TempDir()
	dir, out := filepath.Join(parent, "work"), filepath.Join(parent, "out")
	hcl := `target "default" {
  dockerfile-inline = "FROM scratch\nCOPY x /x\n"
  output = ["type=local,dest=../out"]
}
`
	for _, d := range []string{dir, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"docker-bake.hcl": hcl, "x": "from the context\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The check is on unless switched off; a harness that switches it off
	// for other tests does not reach these runs.
	checksOn := withEnv("BUILDX_BAKE_ENTITLEMENTS_FS=", "XBUILD_BAKE_ENTITLEMENTS_FS=")
	r := xb(t, cfg, []string{"bake"}, withDir(dir), checksOn)
	for _, want := range []string{"ERROR: additional privileges requested: the bake definition needs", "write access to ../out", "pass --allow=fs.write=../out to grant it"} {
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Errorf("bake writing outside its folder: exit %d, want 1 and %q:\n%s", r.Code, want, r)
		}
	}
	if strings.Contains(r.Stderr, "#1 ") || strings.Contains(r.Stderr, "[+] Building") {
		t.Errorf("a build started before the refusal:\n%s", r.Stderr)
	}
	mustXB(t, cfg, []string{"bake", "--allow", "fs.write=../out"}, withDir(dir), checksOn)
	if data, err := os.ReadFile(filepath.Join(out, "x")); err != nil || string(data) != "from the context\n" {
		t.Errorf("../out/x = %q (%v) after --allow fs.write=../out", data, err)
	}
	mustXB(t, cfg, []string{"bake"}, withDir(dir), withEnv("BUILDX_BAKE_ENTITLEMENTS_FS=0"))

	run := newRunner(t, false)
	inputs := map[string]string{"source": dir, "xbuild-path": xbuildBin, "driver": "remote", "endpoint": env.BuildKit}
	res := run.step("main.js", inputs, "DOCKER_HOST="+env.DockerContainerd, "BUILDX_BAKE_ENTITLEMENTS_FS=")
	if res.Code != 1 || !strings.Contains(res.Stderr, "pass --allow=fs.write=../out") {
		t.Errorf("the action's bake step writing outside its source: exit %d, want 1 and the --allow hint:\n%s", res.Code, res)
	}
	inputs["allow"] = "fs.write=../out"
	if res := newRunner(t, false).step("main.js", inputs, "DOCKER_HOST="+env.DockerContainerd); res.Code != 0 {
		t.Errorf("the action's bake step with allow failed:\n%s", res)
	}
}

// --allow reaches the solve: this env's buildkitd grants no insecure
// entitlement, so asking for one fails in BuildKit's words; -D adds the
// error's chain.
func TestRunFlagsAllowReachesTheSolve(t *testing.T) {
	t.Parallel()
	cfg := remoteBuilder(t)
	r := xb(t, cfg, []string{"build", "-D", "--allow", "security.insecure", "--build-arg", baseArg(),
		"-o", filepath.Join(t.TempDir(), "out"), probeContext(t)})
	for _, want := range []string{"granting entitlement security.insecure is not allowed by build daemon configuration", "DEBUG: error chain, outermost first:"} {
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Errorf("--allow security.insecure -D: exit %d, want 1 and %q:\n%s", r.Code, want, r)
		}
	}
}

// Bad run flags and fields stop the command before any work, with one line
// naming the value.
func TestRunFlagsRefusedBeforeWork(t *testing.T) {
	t.Parallel()
	ctxDir := probeContext(t)
	bakeDir := writeContext(t, map[string]string{"docker-bake.hcl": `target "check" { call = "nope" }
target "net" { network = "ci" }
target "ok" {}
`})
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{name: "named network", args: []string{"build", "--network", "ci", ctxDir}, want: `ERROR: invalid network mode "ci": BuildKit runs RUN steps with default, host or none`},
		{name: "bad ulimit", args: []string{"build", "--ulimit", "nofile=2:1", ctxDir}, want: `ERROR: invalid ulimit "nofile=2:1": ulimit soft limit must be less than or equal to hard limit: 2 > 1`},
		{name: "bad shm-size", args: []string{"build", "--shm-size", "1q", ctxDir}, want: `ERROR: invalid shm-size "1q"`},
		{name: "no-cache with a filter", args: []string{"build", "--no-cache", "--no-cache-filter", "probe", ctxDir}, want: "ERROR: --no-cache and --no-cache-filter cannot be used together"},
		{name: "bad allow", args: []string{"build", "--allow", "everything", ctxDir}, want: `ERROR: invalid entitlement "everything"`},
		{name: "bake call", args: []string{"bake", "-f", filepath.Join(bakeDir, "docker-bake.hcl"), "check"}, want: `ERROR: target check: invalid call "nope": unknown method "nope"`},
		{name: "bake network", args: []string{"bake", "-f", filepath.Join(bakeDir, "docker-bake.hcl"), "net"}, want: `ERROR: target net: invalid network mode "ci"`},
		{name: "bake bad switch", args: []string{"bake", "-f", filepath.Join(bakeDir, "docker-bake.hcl"), "ok"}, env: "BUILDX_BAKE_ENTITLEMENTS_FS=maybe",
			want: "ERROR: BUILDX_BAKE_ENTITLEMENTS_FS=maybe is not valid: use true or false"},
		{name: "bake bad allow", args: []string{"bake", "-f", filepath.Join(bakeDir, "docker-bake.hcl"), "--allow", "fs.rwx=/", "net"}, want: `ERROR: invalid --allow "fs.rwx=/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := xb(t, t.TempDir(), tt.args, withDockerHost(env.DockerContainerd), withEnv(tt.env))
			if r.Code != 1 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", r.Code, tt.want, r)
			}
			if strings.Contains(r.Stderr, "#1 ") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("more than the one error line, or a build started:\n%s", r.Stderr)
			}
		})
	}
}

// host-gateway is the engine's own builder's address for the host, as in
// docker build; a builder that does not know one refuses it before work.
func TestRunFlagsHostGateway(t *testing.T) {
	t.Parallel()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.BaseImage + "\nRUN grep gw /etc/hosts\n"})
	cfg := t.TempDir()
	r := mustXB(t, cfg, []string{"build", "--no-cache", "--progress=plain", "--add-host", "gw:host-gateway", dir}, withDockerHost(env.DockerContainerd))
	if !regexp.MustCompile(`\d+\.\d+\.\d+\.\d+\s+gw`).MatchString(r.Stderr) {
		t.Errorf("the RUN step did not see gw at the engine's gateway:\n%s", r.Stderr)
	}
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	r = xb(t, cfg, []string{"build", "--builder", "r", "--add-host", "gw:host-gateway", dir})
	if r.Code != 1 || !strings.Contains(r.Stderr, `extra host "gw:host-gateway": host-gateway is only known to the docker driver's builder`) || strings.Contains(r.Stderr, "#1 ") {
		t.Errorf("host-gateway on a remote builder: %s", r)
	}
}
