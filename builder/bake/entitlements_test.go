package bake

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bxbake "github.com/docker/buildx/bake"
)

// inFolder writes a bake file into a fresh working folder and changes into
// it. The folder's siblings out, ctx, cache and cache2 exist: a path that
// does not is checked as its closest existing parent, as in buildx.
func inFolder(t *testing.T, hcl string) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "work")
	for _, d := range []string{"work", "out", "ctx", "cache", "cache2"} {
		if err := os.MkdirAll(filepath.Join(parent, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
}

// Not parallel: each case changes the working folder, which the check
// reads.
func TestCheckEntitlements(t *testing.T) {
	tests := []struct {
		name    string
		hcl     string
		allow   []string
		set     []string
		noFS    bool
		wantErr string
	}{
		{name: "inside the folder", hcl: `target "default" { output = ["type=local,dest=out"] }`},
		{name: "writes outside", hcl: `target "default" { output = ["type=local,dest=../out"] }`,
			wantErr: "additional privileges requested: the bake definition needs write access to ../out; pass --allow=fs.write=../out to grant it (BUILDX_BAKE_ENTITLEMENTS_FS=0 turns the filesystem checks off)"},
		{name: "writes into a folder still missing", hcl: `target "default" { output = ["type=local,dest=../new/out"] }`, allow: []string{"fs.write=../new/out"},
			wantErr: "needs write access to ..; pass --allow=fs.write=.. to grant it"},
		{name: "writes outside, granted", hcl: `target "default" { output = ["type=local,dest=../out"] }`, allow: []string{"fs.write=../out"}},
		{name: "writes outside, parent granted", hcl: `target "default" { output = ["type=local,dest=../out/sub"] }`, allow: []string{"fs.write=.."}},
		{name: "writes outside, all granted", hcl: `target "default" { output = ["type=local,dest=../out"] }`, allow: []string{"fs=*"}},
		{name: "writes outside, read granted only", hcl: `target "default" { output = ["type=local,dest=../out"] }`, allow: []string{"fs.read=../out"},
			wantErr: "--allow=fs.write=../out"},
		{name: "writes outside, checks off", hcl: `target "default" { output = ["type=local,dest=../out"] }`, noFS: true},
		{name: "output typed in --set", hcl: `target "default" {}`, set: []string{"default.output=type=local,dest=../out"}},
		{name: "reads and writes outside", hcl: `target "default" {
  context = "../ctx"
  output = ["type=local,dest=../ctx"]
}`, wantErr: "needs read and write access to ../ctx; pass --allow=fs=../ctx"},
		{name: "cache outside", hcl: `target "default" {
  cache-from = ["type=local,src=../cache"]
  cache-to = ["type=local,dest=../cache2"]
}`, wantErr: "read access to ../cache, write access to ../cache2; pass --allow=fs.read=../cache --allow=fs.write=../cache2"},
		{name: "network.host", hcl: `target "default" { entitlements = ["network.host"] }`,
			wantErr: "needs the host's network; pass --allow=network.host to grant it"},
		{name: "network.host granted", hcl: `target "default" { entitlements = ["network.host"] }`, allow: []string{"network.host"}},
		{name: "insecure, checks off", hcl: `target "default" { entitlements = ["security.insecure"] }`, noFS: true,
			wantErr: "needs privileged (insecure) RUN steps; pass --allow=security.insecure to grant it"},
		{name: "device", hcl: `target "default" { entitlements = ["device=vendor.com/gpu"] }`,
			wantErr: "needs access to device vendor.com/gpu; pass --allow=device=vendor.com/gpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inFolder(t, tt.hcl)
			def, err := Load(context.Background(), LoadOptions{Allow: tt.allow, Overrides: tt.set})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = def.CheckEntitlements(!tt.noFS)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckEntitlements = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckEntitlements = %v, want %q", err, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(err, ErrNotGranted):
				t.Errorf("CheckEntitlements = %v, not ErrNotGranted", err)
			}
		})
	}
}

func TestLoadRefusesABadAllow(t *testing.T) {
	inFolder(t, `target "default" {}`)
	_, err := Load(context.Background(), LoadOptions{Allow: []string{"fs.read=.", "network.hots"}})
	if err == nil || err.Error() != `invalid --allow "network.hots": unknown entitlement key "network.hots"; use fs.read=PATH, fs.write=PATH, fs=PATH, network.host, security.insecure, device[=NAME] or ssh` {
		t.Errorf("Load(--allow network.hots) = %v", err)
	}
}

func TestDescribeMissing(t *testing.T) {
	t.Parallel()
	m := bxbake.EntitlementConf{
		NetworkHost: true, SSH: true, LocalOutputDelete: true,
		Devices: &bxbake.EntitlementsDevicesConf{Devices: map[string]struct{}{"b": {}, "a": {}}},
		FSRead:  []string{"/w/x/../both", "/elsewhere/r"}, FSWrite: []string{"/w/x/../both", "/w/x/sub"},
	}
	needs, flags := describeMissing(m, true, "/w/x")
	wantFlags := []string{"--allow=network.host", "--allow=device=a", "--allow=device=b", "--allow=buildx.local.delete", "--allow=ssh",
		"--allow=fs=../both", "--allow=fs.read=/elsewhere/r", "--allow=fs.write=sub"}
	if !slices.Equal(flags, wantFlags) || len(needs) != len(flags) {
		t.Errorf("describeMissing flags = %q (needs %q), want %q", flags, needs, wantFlags)
	}
	_, flags = describeMissing(m, false, "/w/x")
	if want := []string{"--allow=network.host", "--allow=device=a", "--allow=device=b", "--allow=buildx.local.delete"}; !slices.Equal(flags, want) {
		t.Errorf("describeMissing without the filesystem checks = %q, want %q", flags, want)
	}
}

// Not parallel: the definition is read from the working folder.
func TestJobsCarryTheRunFields(t *testing.T) {
	inFolder(t, `target "default" {
  shm-size = "128m"
  ulimits = ["nofile=1024:2048", "core=0"]
  no-cache-filter = ["deps", "test"]
  network = "none"
  extra-hosts = { db = "10.0.0.2", v6 = "[::1]" }
  entitlements = ["security.insecure"]
  resources = { memory = "1g" }
}
target "bad-ulimit" { ulimits = ["nofile"] }
target "bad-network" { network = "ci" }
target "bad-host" { extra-hosts = { gw = "10.0.0" } }
target "bad-output" { output = ["type=zip,dest=x"] }
target "bad-cache" { cache-to = ["type=floppy"] }
target "bad-shm" { shm-size = "huge" }
target "call-foo" { call = "foo" }
target "call-build" { call = "build" }
`)
	def, err := Load(context.Background(), LoadOptions{Targets: []string{"default", "call-build"}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := def.Jobs(os.Getenv)
	if err != nil {
		t.Fatalf("Jobs: %v", err)
	}
	req := jobs[1].Req
	if jobs[1].Name != "default" {
		t.Fatalf("jobs = %v", jobs)
	}
	if req.ShmSize != 128<<20 || !slices.Equal(req.Ulimits, []string{"core=0:0", "nofile=1024:2048"}) ||
		!slices.Equal(req.NoCacheFilter, []string{"deps", "test"}) || req.Network != "none" ||
		!slices.Equal(req.ExtraHosts, []string{"db=10.0.0.2", "v6=::1"}) || !slices.Equal(req.Allow, []string{"security.insecure"}) ||
		req.Resources["memory"] != "1073741824" {
		t.Errorf("request = %+v", req)
	}
	for target, want := range map[string]string{
		"bad-ulimit":  `target bad-ulimit: invalid ulimit "nofile"`,
		"bad-network": `target bad-network: invalid network mode "ci"`,
		"bad-host":    `target bad-host: invalid extra host "gw=10.0.0"`,
		"bad-output":  `target bad-output: invalid output: unknown type "zip"`,
		"bad-cache":   `target bad-cache: invalid cache-to: unknown cache type "floppy"`,
		"bad-shm":     `target bad-shm: invalid shm-size "huge"`,
		"call-foo":    `target call-foo: invalid call "foo": unknown method "foo"`,
	} {
		def, err := Load(context.Background(), LoadOptions{Targets: []string{target}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := def.Jobs(os.Getenv); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Jobs(%s) = %v, want %q", target, err, want)
		}
	}
}
