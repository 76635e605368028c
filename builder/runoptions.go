package builder

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/buildx/build"
	"github.com/docker/buildx/util/buildflags"
	units "github.com/docker/go-units"
)

// The parsers below read what RUN steps get (network, hosts, /dev/shm,
// ulimits, resources, entitlements). Build's flags, bake's fields and the
// action's inputs all go through them, so each syntax has one reading and
// one set of error messages.

// hostGateway is Docker's name for the host as its containers reach it.
const hostGateway = "host-gateway"

// ValidateNetwork accepts the modes BuildKit's Dockerfile frontend knows.
// A named network belongs to the builder, not to a build.
func ValidateNetwork(mode string) error {
	switch mode {
	case "", "default", "host", "none":
		return nil
	}
	return fmt.Errorf("invalid network mode %q: BuildKit runs RUN steps with default, host or none; "+
		"to use a named network, create a builder in it (xbuild create --driver docker-container --driver-opt network=%s)", mode, mode)
}

// ParseExtraHosts reads NAME:IP or NAME=IP entries (= first, since IPv6
// addresses hold colons; an IP may be bracketed, several comma-separated)
// into the frontend's NAME=IP form, one entry per IP.
func ParseExtraHosts(in []string) ([]string, error) {
	var out []string
	for _, h := range in {
		name, ips, ok := strings.Cut(h, "=")
		if !ok {
			name, ips, ok = strings.Cut(h, ":")
		}
		if !ok || name == "" || ips == "" {
			return nil, fmt.Errorf("invalid extra host %q: want NAME:IP or NAME=IP (IPv6 as NAME=::1 or NAME=[::1])", h)
		}
		if ips == hostGateway {
			// Which address that is, only the node knows: the planner
			// puts it in (resolveHostGateway).
			out = append(out, name+"="+hostGateway)
			continue
		}
		for ip := range strings.SplitSeq(ips, ",") {
			if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
				ip = ip[1 : len(ip)-1]
			}
			if net.ParseIP(ip) == nil {
				return nil, fmt.Errorf("invalid extra host %q: %q is not an IP address", h, ip)
			}
			out = append(out, name+"="+ip)
		}
	}
	return out, nil
}

// hostGatewayLabel is the worker label in which the engine's own BuildKit
// names the host's address as its containers see it.
const hostGatewayLabel = "org.mobyproject.buildkit.worker.moby.host-gateway-ip"

// resolveHostGateway puts the node's host-gateway address into extra hosts
// that ask for it; a node that names none (any but the engine's own
// builder) refuses them, as buildx does.
func resolveHostGateway(hosts []string, labels map[string]string) ([]string, error) {
	var out []string
	for _, h := range hosts {
		name, ip, _ := strings.Cut(h, "=")
		if ip != hostGateway {
			out = append(out, h)
			continue
		}
		gw := labels[hostGatewayLabel]
		if net.ParseIP(gw) == nil {
			return nil, fmt.Errorf("extra host %q: host-gateway is only known to the docker driver's builder; give the host's IP instead", name+":"+hostGateway)
		}
		out = append(out, name+"="+gw)
	}
	return out, nil
}

// ParseShmSize reads the size of /dev/shm in RUN steps: bytes, with an
// optional unit (64m, 2g). Empty is 0, BuildKit's default.
func ParseShmSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid shm-size %q: want bytes with an optional unit (64m, 2g)", s)
	}
	return n, nil
}

// ParseUlimits reads NAME=SOFT[:HARD] entries as docker run does; a name
// given twice keeps the last. The result is sorted: it is part of the
// steps' definition, and so of their cache keys.
func ParseUlimits(in []string) ([]string, error) {
	byName := map[string]string{}
	for _, s := range in {
		u, err := units.ParseUlimit(s)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) {
				err = fmt.Errorf("%q is not a number", ne.Num)
			}
			return nil, fmt.Errorf("invalid ulimit %q: %v; want NAME=SOFT[:HARD] (nofile=1024:2048)", s, err)
		}
		byName[u.Name] = u.String()
	}
	return slices.Sorted(maps.Values(byName)), nil
}

// ParseNoCacheFilter reads stage names, repeated or comma-separated.
func ParseNoCacheFilter(in []string) []string {
	var out []string
	for _, s := range in {
		for stage := range strings.SplitSeq(s, ",") {
			if stage = strings.TrimSpace(stage); stage != "" && !slices.Contains(out, stage) {
				out = append(out, stage)
			}
		}
	}
	return out
}

// resourceAttrs are the Dockerfile frontend's attributes for the keys of
// buildx's resource syntax.
var resourceAttrs = map[string]string{
	"memory": "memory", "memory-swap": "memswap", "cpu-shares": "cpushares", "cpu-period": "cpuperiod",
	"cpu-quota": "cpuquota", "cpuset-cpus": "cpusetcpus", "cpuset-mems": "cpusetmems",
}

// ParseResources reads KEY=VALUE resource limits for RUN steps (memory=2g,
// cpu-quota=50000) with buildx's parser, into frontend attributes.
func ParseResources(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range in {
		k, _, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if _, known := resourceAttrs[k]; !ok || !known {
			keys := slices.Sorted(maps.Keys(resourceAttrs))
			return nil, fmt.Errorf("invalid resource %q: want KEY=VALUE with KEY one of %s", e, strings.Join(keys, ", "))
		}
		rl, err := build.ParseResourceLimits([]string{e})
		if err != nil {
			return nil, fmt.Errorf("invalid resource %q: %v", e, err)
		}
		var v string
		switch k {
		case "memory":
			v = strconv.FormatInt(rl.Memory.Value(), 10)
		case "memory-swap":
			v = strconv.FormatInt(rl.MemorySwap.Value(), 10)
		case "cpu-shares":
			v = strconv.FormatInt(rl.CPUShares, 10)
		case "cpu-period":
			v = strconv.FormatInt(rl.CPUPeriod, 10)
		case "cpu-quota":
			v = strconv.FormatInt(rl.CPUQuota, 10)
		case "cpuset-cpus":
			v = rl.CPUSetCPUs
		case "cpuset-mems":
			v = rl.CPUSetMems
		}
		out[resourceAttrs[k]] = v
	}
	return out, nil
}

// ParseEntitlements reads the entitlements a build asks BuildKit for
// (network.host, security.insecure, device[=NAME]). localDelete reports
// buildx's own buildx.local.delete, which BuildKit never sees.
func ParseEntitlements(in []string) (allow []string, localDelete bool, err error) {
	for _, e := range in {
		got, del, err := buildflags.ParseEntitlements([]string{e})
		if err != nil {
			return nil, false, fmt.Errorf("invalid entitlement %q: %v; use network.host, security.insecure, device[=NAME] or %s", e, err, buildflags.EntitlementBuildxLocalDelete)
		}
		localDelete = localDelete || del
		for _, g := range got {
			if !slices.Contains(allow, g) {
				allow = append(allow, g)
			}
		}
	}
	return allow, localDelete, nil
}
