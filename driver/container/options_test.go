package container

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      map[string]string
		check   func(options) bool
		wantErr string
	}{
		{name: "defaults", in: nil, check: func(o options) bool {
			return o.network == "host" && o.restart.Name == container.RestartPolicyUnlessStopped && o.image == "" && !o.defaultLoad
		}},
		{name: "resources", in: map[string]string{"memory": "512m", "memory-swap": "-1", "cpu-period": "100000", "cpu-quota": "50000", "cpu-shares": "512", "cpuset-cpus": "0", "cpuset-mems": "0"},
			check: func(o options) bool {
				r := o.resources
				return r.Memory == 512<<20 && r.MemorySwap == -1 && r.CPUPeriod == 100000 && r.CPUQuota == 50000 && r.CPUShares == 512 && r.CpusetCpus == "0" && r.CpusetMems == "0"
			}},
		{name: "env and network", in: map[string]string{"env.JAEGER_TRACE": "x:1", "network": "bridge", "cgroup-parent": "/xb", "default-load": "true", "image": "r/bk:1"},
			check: func(o options) bool {
				return reflect.DeepEqual(o.env, []string{"JAEGER_TRACE=x:1"}) && o.network == "bridge" && o.cgroupParent == "/xb" && o.defaultLoad && o.image == "r/bk:1"
			}},
		{name: "restart on failure", in: map[string]string{"restart-policy": "on-failure:3"}, check: func(o options) bool {
			return o.restart == container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}
		}},
		{name: "restart never", in: map[string]string{"restart-policy": "no"}, check: func(o options) bool { return o.restart.Name == container.RestartPolicyDisabled }},
		{name: "unknown option", in: map[string]string{"memroy": "1g"}, wantErr: `option memroy="1g": unknown option (known: image, network, memory`},
		{name: "bad memory", in: map[string]string{"memory": "lots"}, wantErr: `option memory="lots"`},
		{name: "bad cpu", in: map[string]string{"cpu-quota": "half"}, wantErr: `option cpu-quota="half"`},
		{name: "bad restart", in: map[string]string{"restart-policy": "sometimes"}, wantErr: "want no, always, unless-stopped or on-failure[:N]"},
		{name: "retries on always", in: map[string]string{"restart-policy": "always:2"}, wantErr: "only on-failure takes a retry count"},
		{name: "bad bool", in: map[string]string{"default-load": "maybe"}, wantErr: `option default-load="maybe"`},
		{name: "empty env name", in: map[string]string{"env.": "x"}, wantErr: "env. needs a variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseOptions(%v) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Errorf("parseOptions(%v) = %+v, %v", tc.in, o, err)
			}
		})
	}
}

func TestBuildkitdFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		user      []string
		hasConfig bool
		want      []string
	}{
		{"nothing given", nil, false, []string{"--allow-insecure-entitlement=network.host"}},
		{"config first", []string{"--debug"}, true, []string{"--config", "/etc/buildkit/buildkitd.toml", "--debug", "--allow-insecure-entitlement=network.host"}},
		{"own entitlements", []string{"--allow-insecure-entitlement=security.insecure"}, false, []string{"--allow-insecure-entitlement=security.insecure"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := buildkitdFlags(tc.user, tc.hasConfig); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("buildkitdFlags(%v, %v) = %v, want %v", tc.user, tc.hasConfig, got, tc.want)
			}
		})
	}
}
