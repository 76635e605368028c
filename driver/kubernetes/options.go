package kubernetes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/buildx/driver/kubernetes/manifest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The ways a node's builds are spread over its replicas.
const (
	// LoadbalanceSticky sends builds of the same context to the same pod,
	// so its cache serves them.
	LoadbalanceSticky = "sticky"
	// LoadbalanceRandom sends each build to any ready pod.
	LoadbalanceRandom = "random"
)

// defaultTimeout bounds how long a bootstrap waits for the pods, as buildx.
const defaultTimeout = 120 * time.Second

// Images a node runs unless its image option or ImageEnv names another:
// the ones buildx runs.
const (
	DefaultImage         = "moby/buildkit:buildx-stable-1"
	DefaultRootlessImage = DefaultImage + "-rootless"
)

// ImageEnv names the image for every node that does not set its own (the
// same variable as the docker-container driver's).
const ImageEnv = "XBUILD_BUILDKIT_IMAGE"

// The --driver-opt keys this driver takes, besides env.NAME: buildx's.
var optionKeys = []string{
	"image", "namespace", "replicas", "rootless", "schedulername", "serviceaccount",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"persistent-volume-claim.requests.storage", "buildkit-root-volume-memory",
	"nodeselector", "annotations", "labels", "tolerations",
	"loadbalance", "timeout", "default-load", "qemu.install", "qemu.image",
}

// OptionKeys lists the --driver-opt keys, for completion and messages.
func OptionKeys() []string { return slices.Clone(optionKeys) }

// options are a node's parsed --driver-opt values.
type options struct {
	deploy      manifest.DeploymentOpt
	namespace   string
	loadbalance string
	timeout     time.Duration
	defaultLoad bool
	imageGiven  bool
}

// parseOptions checks every option now, so a typo never reaches the
// cluster; keys are read in order, so the same typo gives the same message.
func parseOptions(opts map[string]string) (options, error) {
	o := options{loadbalance: LoadbalanceSticky, timeout: defaultTimeout}
	o.deploy.Replicas = 1
	o.deploy.Qemu.Image = "tonistiigi/binfmt:latest"
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := o.set(k, opts[k]); err != nil {
			return options{}, fmt.Errorf("kubernetes driver option %s=%q: %w", k, opts[k], err)
		}
	}
	return o, nil
}

func (o *options) set(k, v string) error {
	if name, ok := strings.CutPrefix(k, "env."); ok {
		if name == "" {
			return fmt.Errorf("env. needs a variable name (env.NAME=VALUE)")
		}
		o.deploy.Env = append(o.deploy.Env, corev1.EnvVar{Name: name, Value: v})
		return nil
	}
	if s := o.stringField(k); s != nil {
		if isQuantity(k) {
			if _, err := resource.ParseQuantity(v); err != nil {
				return fmt.Errorf("give a Kubernetes quantity such as 500m, 2 or 4Gi")
			}
		}
		*s = v
		return nil
	}
	var err error
	switch k {
	case "image":
		o.deploy.Image, o.imageGiven = v, v != ""
	case "namespace":
		o.namespace = v
	case "replicas":
		err = o.setReplicas(v)
	case "rootless":
		o.deploy.Rootless, err = parseBool(v)
	case "default-load":
		o.defaultLoad, err = parseBool(v)
	case "qemu.install":
		o.deploy.Qemu.Install, err = parseBool(v)
	case "qemu.image":
		if v != "" {
			o.deploy.Qemu.Image = v
		}
	case "nodeselector":
		o.deploy.NodeSelector, err = parsePairs(v)
	case "annotations":
		o.deploy.CustomAnnotations, err = parsePairs(v)
	case "labels":
		o.deploy.CustomLabels, err = parsePairs(v)
	case "tolerations":
		o.deploy.Tolerations, err = parseTolerations(v)
	case "loadbalance":
		if v != LoadbalanceSticky && v != LoadbalanceRandom {
			return fmt.Errorf("give %s or %s", LoadbalanceSticky, LoadbalanceRandom)
		}
		o.loadbalance = v
	case "timeout":
		o.timeout, err = time.ParseDuration(v)
		if err == nil && o.timeout <= 0 {
			err = fmt.Errorf("give a positive duration such as 2m")
		}
	default:
		return fmt.Errorf("unknown option: the kubernetes driver takes %s and env.NAME", strings.Join(optionKeys, ", "))
	}
	return err
}

// stringField is where an option kept as given goes (Kubernetes checks
// quantities and names when the Deployment is created), nil for others.
func (o *options) stringField(k string) *string {
	d := &o.deploy
	return map[string]*string{
		"schedulername":                            &d.SchedulerName,
		"serviceaccount":                           &d.ServiceAccountName,
		"requests.cpu":                             &d.RequestsCPU,
		"requests.memory":                          &d.RequestsMemory,
		"requests.ephemeral-storage":               &d.RequestsEphemeralStorage,
		"limits.cpu":                               &d.LimitsCPU,
		"limits.memory":                            &d.LimitsMemory,
		"limits.ephemeral-storage":                 &d.LimitsEphemeralStorage,
		"persistent-volume-claim.requests.storage": &d.RequestsPersistentStorage,
		"buildkit-root-volume-memory":              &d.BuildKitRootVolumeMemory,
	}[k]
}

func isQuantity(k string) bool {
	return strings.HasPrefix(k, "requests.") || strings.HasPrefix(k, "limits.") ||
		strings.HasPrefix(k, "persistent-volume-claim.") || k == "buildkit-root-volume-memory"
}

func (o *options) setReplicas(v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 {
		return fmt.Errorf("give a whole number of pods, 1 or more")
	}
	o.deploy.Replicas = int32(n)
	return nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("give true or false")
	}
	return b, nil
}

// parsePairs reads k1=v1,k2=v2 (a value may hold '=' no more than buildx
// lets it: one '=' per pair). Quotes around the whole list are dropped, as
// a CSV-quoted --driver-opt leaves them.
func parsePairs(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(strings.Trim(v, `"`), ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.Contains(val, "=") {
			return nil, fmt.Errorf("%q is not KEY=VALUE (pairs are separated by commas)", kv)
		}
		out[k] = val
	}
	return out, nil
}

// parseTolerations reads tolerations separated by ';', each a list of
// key=,operator=,value=,effect=,tolerationSeconds= fields.
func parseTolerations(v string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, one := range strings.Split(v, ";") {
		var t corev1.Toleration
		for _, kv := range strings.Split(one, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if err := setToleration(&t, k, val); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func setToleration(t *corev1.Toleration, k, v string) error {
	switch k {
	case "key":
		t.Key = v
	case "operator":
		t.Operator = corev1.TolerationOperator(v)
	case "value":
		t.Value = v
	case "effect":
		t.Effect = corev1.TaintEffect(v)
	case "tolerationSeconds":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("toleration field tolerationSeconds=%q: give a whole number of seconds", v)
		}
		t.TolerationSeconds = &n
	default:
		return fmt.Errorf("toleration field %q: give key, operator, value, effect or tolerationSeconds", k)
	}
	return nil
}
