package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

func TestBuildRunOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		o       buildOptions
		noCache bool
		outputs []exporter.Output
		want    builder.Request
		wantErr string
	}{
		{name: "none"},
		{name: "every flag", o: buildOptions{
			network: "none", addHosts: []string{"db:10.0.0.2"}, shmSize: "2g", ulimits: []string{"nofile=1024:2048"},
			cgroupParent: "/ci", noCacheFilter: []string{"a,b"}, allow: []string{"security.insecure"},
			resources: []string{"memory=1g"},
		}, want: builder.Request{
			Network: "none", ExtraHosts: []string{"db=10.0.0.2"}, ShmSize: 2 << 30, Ulimits: []string{"nofile=1024:2048"},
			CgroupParent: "/ci", NoCacheFilter: []string{"a", "b"}, Allow: []string{"security.insecure"},
			Resources: map[string]string{"memory": "1073741824"},
		}},
		{name: "--resource wins over --memory", o: buildOptions{legacyResources: []string{"memory=1g", "cpu-quota=1000"}, resources: []string{"memory=2g"}},
			want: builder.Request{Resources: map[string]string{"memory": "2147483648", "cpuquota": "1000"}}},
		{name: "named network", o: buildOptions{network: "ci"}, wantErr: `invalid network mode "ci"`},
		{name: "bad shm size", o: buildOptions{shmSize: "big"}, wantErr: `invalid shm-size "big"`},
		{name: "bad ulimit", o: buildOptions{ulimits: []string{"nofile"}}, wantErr: `invalid ulimit "nofile"`},
		{name: "bad host", o: buildOptions{addHosts: []string{"db"}}, wantErr: `invalid extra host "db"`},
		{name: "bad legacy resource", o: buildOptions{legacyResources: []string{"memory=lots"}}, wantErr: `invalid resource "memory=lots"`},
		{name: "bad entitlement", o: buildOptions{allow: []string{"root"}}, wantErr: `invalid entitlement "root"`},
		{name: "no-cache with a filter", o: buildOptions{noCacheFilter: []string{"a"}}, noCache: true,
			wantErr: "--no-cache and --no-cache-filter cannot be used together"},
		{name: "delete without --allow", outputs: []exporter.Output{{Type: exporter.TypeLocal, Dest: "out", Attrs: map[string]string{"mode": "delete"}}},
			wantErr: "output out has mode=delete, which removes files the build did not write there: pass --allow=buildx.local.delete"},
		{name: "delete with --allow", o: buildOptions{allow: []string{"buildx.local.delete"}},
			outputs: []exporter.Output{{Type: exporter.TypeLocal, Dest: "out", Attrs: map[string]string{"mode": "delete"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &builder.Request{NoCache: tt.noCache, Outputs: tt.outputs}
			err := tt.o.runOptions(req)
			checkFlagErr(t, "runOptions", err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			got := runFields(req)
			if want := runFields(&tt.want); got != want {
				t.Errorf("runOptions(%+v) = %s, want %s", tt.o, got, want)
			}
		})
	}
}

// runFields prints the request fields runOptions sets, for comparison.
func runFields(r *builder.Request) string {
	res := map[string]string{}
	maps.Copy(res, r.Resources)
	return fmt.Sprintf("network=%q hosts=%q shm=%d ulimits=%q cgroup=%q filter=%q allow=%q resources=%v",
		r.Network, r.ExtraHosts, r.ShmSize, r.Ulimits, r.CgroupParent, r.NoCacheFilter, r.Allow, res)
}

func TestBuildDisplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		progress    string
		quiet       bool
		want        progressui.DisplayMode
		wantPrintID bool
		wantErr     string
	}{
		{progress: "auto", want: progressui.AutoMode},
		{progress: "plain", want: progressui.PlainMode},
		{progress: "none", want: progressui.QuietMode},
		{progress: "quiet", want: progressui.QuietMode, wantPrintID: true},
		{progress: "auto", quiet: true, want: progressui.QuietMode, wantPrintID: true},
		{progress: "quiet", quiet: true, want: progressui.QuietMode, wantPrintID: true},
		{progress: "none", quiet: true, wantErr: "--progress=none and --quiet cannot be used together: keep one"},
		{progress: "plain", quiet: true, wantErr: "--progress=plain and --quiet cannot be used together: keep one"},
		{progress: "fancy", wantErr: `invalid progress mode "fancy"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s quiet=%v", tt.progress, tt.quiet), func(t *testing.T) {
			t.Parallel()
			o := buildOptions{progress: tt.progress, quiet: tt.quiet}
			got, printID, err := o.display(settings{})
			checkFlagErr(t, "display", err, tt.wantErr)
			if tt.wantErr == "" && (got != tt.want || printID != tt.wantPrintID) {
				t.Errorf("display(%q, quiet=%v) = %q, %v, want %q, %v", tt.progress, tt.quiet, got, printID, tt.want, tt.wantPrintID)
			}
		})
	}
}

func TestCompatFlags(t *testing.T) {
	t.Parallel()
	cmd := newBuildCommand(&Env{}, new(string))
	args := []string{"--squash", "--rm=false", "--force-rm", "--compress", "--isolation=hyperv", "--security-opt", "seccomp=unconfined",
		"-m", "1g", "--memory-swap=2g", "-c", "512", "--cpu-period=100000", "--cpu-quota=5000", "--cpuset-cpus=0", "--cpuset-mems=0"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("ParseFlags(%q) = %v", args, err)
	}
	for _, name := range []string{"squash", "rm", "force-rm", "compress", "isolation", "security-opt", "memory", "cpu-shares"} {
		if f := cmd.Flags().Lookup(name); f == nil || !f.Hidden {
			t.Errorf("flag --%s is not there or not hidden", name)
		}
	}
	var w bytes.Buffer
	warnIgnoredFlags(&w, cmd.Flags().Changed)
	want := "WARNING: --isolation is ignored: BuildKit has no isolation setting\n" +
		"WARNING: --security-opt is ignored: with BuildKit a step asks for it with RUN --security=insecure (and the build with --allow security.insecure)\n" +
		"WARNING: --squash is ignored: BuildKit does not squash layers; copy the result into a fresh stage of a multi-stage Dockerfile instead\n"
	if w.String() != want {
		t.Errorf("warnIgnoredFlags = %q, want %q", w.String(), want)
	}
	w.Reset()
	warnIgnoredFlags(&w, func(string) bool { return false })
	if w.Len() != 0 {
		t.Errorf("warnIgnoredFlags without ignored flags = %q, want nothing", w.String())
	}
}

func TestLegacyResourceFlags(t *testing.T) {
	t.Parallel()
	var got []string
	for _, kv := range [][2]string{{"memory", "1g"}, {"cpu-shares", "512"}} {
		if err := (legacyResource{key: kv[0], to: &got}).Set(kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"memory=1g", "cpu-shares=512"}; !slices.Equal(got, want) {
		t.Errorf("legacy resource flags = %q, want %q", got, want)
	}
}

func TestActionRunInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		inputs  map[string]string
		want    string
		wantErr string
	}{
		{name: "every input", inputs: map[string]string{
			"shm-size": "64m", "ulimit": "nofile=1024:2048\ncore=0", "cgroup-parent": "/ci", "no-cache-filters": "a,b\nc",
			"network": "host", "add-hosts": "db:10.0.0.2,v6=[::1]", "allow": "security.insecure",
		}, want: `network="host" hosts=["db=10.0.0.2" "v6=::1"] shm=67108864 ulimits=["core=0:0" "nofile=1024:2048"] cgroup="/ci" filter=["a" "b" "c"] allow=["security.insecure"] resources=map[]`},
		{name: "bad shm-size", inputs: map[string]string{"shm-size": "lots"}, wantErr: `invalid shm-size "lots"`},
		{name: "bad ulimit", inputs: map[string]string{"ulimit": "nofile=x"}, wantErr: `invalid ulimit "nofile=x"`},
		{name: "named network", inputs: map[string]string{"network": "ci"}, wantErr: `invalid network mode "ci"`},
		{name: "bad allow", inputs: map[string]string{"allow": "root"}, wantErr: `invalid entitlement "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tt.inputs[strings.ToLower(strings.TrimPrefix(k, "INPUT_"))] }
			env := &Env{Getenv: getenv}
			jobs, _, err := actionJobs(context.Background(), env, settings{}, actionInputs{env: env}, false)
			checkFlagErr(t, "actionJobs", err, tt.wantErr)
			if tt.wantErr == "" {
				if got := runFields(jobs[0].Req); got != tt.want {
					t.Errorf("actionJobs(%v) = %s, want %s", tt.inputs, got, tt.want)
				}
			}
		})
	}
}

func TestDebugPrintsTheErrorChain(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	inner := errors.New("connection refused")
	printErrorChain(&w, fmt.Errorf("booting node %q: %w", "n1", errors.Join(inner, errors.New("second"))))
	for _, want := range []string{
		"DEBUG: error chain, outermost first:\n",
		`DEBUG: *fmt.wrapError: booting node "n1": connection refused` + "\n",
		"DEBUG:   *errors.joinError: connection refused\n",
		"DEBUG:     *errors.errorString: connection refused\n",
		"DEBUG:     *errors.errorString: second\n",
	} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("printErrorChain output lacks %q:\n%s", want, w.String())
		}
	}
}

func checkFlagErr(t *testing.T, call string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error %v", call, err)
	case want != "" && err == nil:
		t.Errorf("%s = nil error, want %q", call, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s error = %q, want it to contain %q", call, err, want)
	case err != nil && strings.Contains(err.Error(), "\n"):
		t.Errorf("%s error %q is not one line", call, err)
	}
}
