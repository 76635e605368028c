package container

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// The --driver-opt keys this driver takes, besides env.NAME.
var optionKeys = []string{
	"image", "network", "memory", "memory-swap", "cpu-period", "cpu-quota", "cpu-shares",
	"cpuset-cpus", "cpuset-mems", "cgroup-parent", "restart-policy", "default-load",
}

// options are the parsed --driver-opt values of one node.
type options struct {
	image        string
	network      string
	env          []string
	resources    container.Resources
	restart      container.RestartPolicy
	defaultLoad  bool
	cgroupParent string
}

// parseOptions checks every option now, so a typo never reaches the store.
func parseOptions(opts map[string]string) (options, error) {
	o := options{network: defaultNetwork, restart: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same typo gives the same message every time
	for _, k := range keys {
		if err := o.set(k, opts[k]); err != nil {
			return options{}, fmt.Errorf("docker-container driver option %s=%q: %w", k, opts[k], err)
		}
	}
	return o, nil
}

func (o *options) set(k, v string) error {
	if name, ok := strings.CutPrefix(k, "env."); ok {
		if name == "" {
			return fmt.Errorf("env. needs a variable name (env.NAME=VALUE)")
		}
		o.env = append(o.env, name+"="+v)
		return nil
	}
	var err error
	switch k {
	case "image":
		o.image = v
	case "network":
		o.network = v
	case "cgroup-parent":
		o.cgroupParent = v
	case "cpuset-cpus":
		o.resources.CpusetCpus = v
	case "cpuset-mems":
		o.resources.CpusetMems = v
	case "memory":
		o.resources.Memory, err = units.RAMInBytes(v)
	case "memory-swap":
		o.resources.MemorySwap, err = swapBytes(v)
	case "cpu-period":
		o.resources.CPUPeriod, err = strconv.ParseInt(v, 10, 64)
	case "cpu-quota":
		o.resources.CPUQuota, err = strconv.ParseInt(v, 10, 64)
	case "cpu-shares":
		o.resources.CPUShares, err = strconv.ParseInt(v, 10, 64)
	case "restart-policy":
		o.restart, err = parseRestartPolicy(v)
	case "default-load":
		o.defaultLoad, err = strconv.ParseBool(v)
	default:
		return fmt.Errorf("unknown option (known: %s, env.NAME)", strings.Join(optionKeys, ", "))
	}
	return err
}

// swapBytes reads memory-swap, where -1 means unlimited as for docker run.
func swapBytes(v string) (int64, error) {
	if v == "-1" {
		return -1, nil
	}
	return units.RAMInBytes(v)
}

// parseRestartPolicy reads NAME[:MAX-RETRIES] as docker run --restart does.
func parseRestartPolicy(v string) (container.RestartPolicy, error) {
	name, retries, hasRetries := strings.Cut(v, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch p.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if hasRetries {
			return p, fmt.Errorf("only on-failure takes a retry count")
		}
	case container.RestartPolicyOnFailure:
		if hasRetries {
			n, err := strconv.Atoi(retries)
			if err != nil || n < 0 {
				return p, fmt.Errorf("retry count %q is not a number", retries)
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, fmt.Errorf("want no, always, unless-stopped or on-failure[:N]")
	}
	return p, nil
}
