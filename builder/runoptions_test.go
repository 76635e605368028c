package builder

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestValidateNetwork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: ""},
		{in: "default"},
		{in: "host"},
		{in: "none"},
		{in: "mynet", wantErr: `invalid network mode "mynet": BuildKit runs RUN steps with default, host or none; to use a named network, create a builder in it`},
		{in: "bridge", wantErr: `--driver-opt network=bridge`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			checkRunOptErr(t, "ValidateNetwork("+tt.in+")", ValidateNetwork(tt.in), tt.wantErr)
		})
	}
}

func TestParseExtraHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "colon", in: []string{"db:10.0.0.2"}, want: []string{"db=10.0.0.2"}},
		{name: "equals", in: []string{"db=10.0.0.2"}, want: []string{"db=10.0.0.2"}},
		{name: "ipv6 after equals", in: []string{"v6=2001:db8::1"}, want: []string{"v6=2001:db8::1"}},
		{name: "ipv6 in brackets", in: []string{"v6=[::1]"}, want: []string{"v6=::1"}},
		{name: "ipv6 in brackets after colon", in: []string{"v6:[::1]"}, want: []string{"v6=::1"}},
		{name: "several ips", in: []string{"multi=10.0.0.1,[::1]"}, want: []string{"multi=10.0.0.1", "multi=::1"}},
		{name: "several entries", in: []string{"a:1.1.1.1", "b=2.2.2.2"}, want: []string{"a=1.1.1.1", "b=2.2.2.2"}},
		{name: "no ip", in: []string{"db"}, wantErr: `invalid extra host "db": want NAME:IP or NAME=IP`},
		{name: "no name", in: []string{"=10.0.0.2"}, wantErr: `invalid extra host "=10.0.0.2": want NAME:IP or NAME=IP`},
		{name: "empty ip", in: []string{"db="}, wantErr: `invalid extra host "db=": want NAME:IP or NAME=IP`},
		{name: "not an ip", in: []string{"db:10.0.0"}, wantErr: `invalid extra host "db:10.0.0": "10.0.0" is not an IP address`},
		{name: "one bad of several", in: []string{"db=10.0.0.1,nope"}, wantErr: `"nope" is not an IP address`},
		{name: "bare ipv6 after colon", in: []string{"v6:::1"}, want: []string{"v6=::1"}},
		{name: "ipv6 name colon", in: []string{"v6:2001:db8::1"}, want: []string{"v6=2001:db8::1"}},
		{name: "host-gateway", in: []string{"host.docker.internal:host-gateway"}, want: []string{"host.docker.internal=host-gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExtraHosts(tt.in)
			checkRunOptErr(t, "ParseExtraHosts", err, tt.wantErr)
			if tt.wantErr == "" && !slices.Equal(got, tt.want) {
				t.Errorf("ParseExtraHosts(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseShmSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "", want: 0},
		{in: "1024", want: 1024},
		{in: "64m", want: 64 << 20},
		{in: "2g", want: 2 << 30},
		{in: "2GB", want: 2 << 30},
		{in: "2x", wantErr: `invalid shm-size "2x": want bytes with an optional unit (64m, 2g)`},
		{in: "-1", wantErr: `invalid shm-size "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseShmSize(tt.in)
			checkRunOptErr(t, "ParseShmSize", err, tt.wantErr)
			if tt.wantErr == "" && got != tt.want {
				t.Errorf("ParseShmSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseUlimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{name: "none"},
		{name: "soft only", in: []string{"nofile=1024"}, want: []string{"nofile=1024:1024"}},
		{name: "soft and hard", in: []string{"nofile=1024:2048"}, want: []string{"nofile=1024:2048"}},
		{name: "unlimited", in: []string{"memlock=-1:-1"}, want: []string{"memlock=-1:-1"}},
		{name: "sorted", in: []string{"nproc=10", "core=0"}, want: []string{"core=0:0", "nproc=10:10"}},
		{name: "last wins", in: []string{"nofile=1", "nofile=2"}, want: []string{"nofile=2:2"}},
		{name: "no value", in: []string{"nofile"}, wantErr: `invalid ulimit "nofile": invalid ulimit argument: nofile; want NAME=SOFT[:HARD]`},
		{name: "unknown name", in: []string{"files=1"}, wantErr: `invalid ulimit "files=1": invalid ulimit type: files`},
		{name: "not a number", in: []string{"nofile=lots"}, wantErr: `invalid ulimit "nofile=lots": "lots" is not a number`},
		{name: "soft over hard", in: []string{"nofile=10:5"}, wantErr: `invalid ulimit "nofile=10:5": ulimit soft limit must be less than or equal to hard limit: 10 > 5`},
		{name: "three values", in: []string{"nofile=1:2:3"}, wantErr: `invalid ulimit "nofile=1:2:3": too many limit value arguments`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseUlimits(tt.in)
			checkRunOptErr(t, "ParseUlimits", err, tt.wantErr)
			if tt.wantErr == "" && !slices.Equal(got, tt.want) {
				t.Errorf("ParseUlimits(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseNoCacheFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "none"},
		{name: "repeated", in: []string{"a", "b"}, want: []string{"a", "b"}},
		{name: "comma-separated", in: []string{"a,b", "c"}, want: []string{"a", "b", "c"}},
		{name: "blanks and duplicates", in: []string{" a , ,b", "a"}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ParseNoCacheFilter(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("ParseNoCacheFilter(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseResources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", want: map[string]string{}},
		{name: "all", in: []string{"memory=2g", "memory-swap=-1", "cpu-shares=512", "cpu-period=100000", "cpu-quota=50000", "cpuset-cpus=0-1", "cpuset-mems=0"},
			want: map[string]string{"memory": "2147483648", "memswap": "-1", "cpushares": "512", "cpuperiod": "100000",
				"cpuquota": "50000", "cpusetcpus": "0-1", "cpusetmems": "0"}},
		{name: "later wins", in: []string{"memory=1g", "memory=2m"}, want: map[string]string{"memory": "2097152"}},
		{name: "unknown key", in: []string{"disk=1g"}, wantErr: `invalid resource "disk=1g": want KEY=VALUE with KEY one of cpu-period, cpu-quota`},
		{name: "no value", in: []string{"memory"}, wantErr: `invalid resource "memory": want KEY=VALUE`},
		{name: "bad size", in: []string{"memory=lots"}, wantErr: `invalid resource "memory=lots": invalid value "lots" for resource memory`},
		{name: "bad number", in: []string{"cpu-quota=half"}, wantErr: `invalid resource "cpu-quota=half": invalid value "half" for resource cpu-quota`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseResources(tt.in)
			checkRunOptErr(t, "ParseResources", err, tt.wantErr)
			if tt.wantErr == "" && !maps.Equal(got, tt.want) {
				t.Errorf("ParseResources(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEntitlements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         []string
		want       []string
		wantDelete bool
		wantErr    string
	}{
		{name: "none"},
		{name: "known", in: []string{"network.host", "security.insecure", "device", "device=vendor.com/gpu=all"},
			want: []string{"network.host", "security.insecure", "device", "device=vendor.com/gpu=all"}},
		{name: "duplicates", in: []string{"network.host", "network.host"}, want: []string{"network.host"}},
		{name: "local delete stays here", in: []string{"buildx.local.delete", "network.host"}, want: []string{"network.host"}, wantDelete: true},
		{name: "unknown", in: []string{"network.hots"}, wantErr: `invalid entitlement "network.hots": unknown entitlement network.hots; use network.host`},
		{name: "local delete with a value", in: []string{"buildx.local.delete=yes"}, wantErr: `invalid entitlement "buildx.local.delete=yes": buildx.local.delete does not accept a value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, del, err := ParseEntitlements(tt.in)
			checkRunOptErr(t, "ParseEntitlements", err, tt.wantErr)
			if tt.wantErr == "" && (!slices.Equal(got, tt.want) || del != tt.wantDelete) {
				t.Errorf("ParseEntitlements(%q) = %q, %v, want %q, %v", tt.in, got, del, tt.want, tt.wantDelete)
			}
		})
	}
}

func TestRunAttrs(t *testing.T) {
	t.Parallel()
	req := &Request{
		Network: "none", ExtraHosts: []string{"a=1.1.1.1", "b=::1"}, ShmSize: 64 << 20,
		Ulimits: []string{"core=0:0", "nofile=1024:2048"}, CgroupParent: "/ci", Resources: map[string]string{"memory": "1024"},
	}
	attrs := map[string]string{}
	addRunAttrs(attrs, req, req.ExtraHosts)
	want := map[string]string{
		"force-network-mode": "none", "add-hosts": "a=1.1.1.1,b=::1", "shm-size": "67108864",
		"ulimit": "core=0:0,nofile=1024:2048", "cgroup-parent": "/ci", "memory": "1024",
	}
	if !maps.Equal(attrs, want) {
		t.Errorf("addRunAttrs = %v, want %v", attrs, want)
	}
	attrs = map[string]string{}
	addRunAttrs(attrs, &Request{Network: "default"}, nil)
	if len(attrs) != 0 {
		t.Errorf("addRunAttrs(default network) = %v, want no attributes (the frontend knows no \"default\")", attrs)
	}
}

func TestResolveHostGateway(t *testing.T) {
	t.Parallel()
	moby := map[string]string{hostGatewayLabel: "172.17.0.1"}
	for _, tc := range []struct {
		name    string
		hosts   []string
		labels  map[string]string
		want    []string
		wantErr string
	}{
		{"the engine's gateway", []string{"a=1.1.1.1", "host.docker.internal=host-gateway"}, moby, []string{"a=1.1.1.1", "host.docker.internal=172.17.0.1"}, ""},
		{"no gateway asked", []string{"a=1.1.1.1"}, nil, []string{"a=1.1.1.1"}, ""},
		{"a node without one", []string{"gw=host-gateway"}, map[string]string{}, nil, `extra host "gw:host-gateway": host-gateway is only known to the docker driver's builder`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveHostGateway(tc.hosts, tc.labels)
			checkRunOptErr(t, "resolveHostGateway", err, tc.wantErr)
			if tc.wantErr == "" && !slices.Equal(got, tc.want) {
				t.Errorf("resolveHostGateway(%q) = %q, want %q", tc.hosts, got, tc.want)
			}
		})
	}
}

func checkRunOptErr(t *testing.T, call string, err error, want string) {
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
