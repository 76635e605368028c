package kubernetes

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/buildx/driver/kubernetes/kubeclient"
	"github.com/docker/buildx/driver/kubernetes/manifest"
	bkclient "github.com/moby/buildkit/client"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"

	"github.com/xbuild/xbuild/driver"
)

// Name is the --driver value of this driver.
const Name = "kubernetes"

// Factory makes kubernetes drivers.
type Factory struct{}

var _ driver.Factory = Factory{}

// Name implements driver.Factory.
func (Factory) Name() string { return Name }

// New implements driver.Factory: it reads the options and the kubeconfig
// (files only; the cluster is first asked by Bootstrap or Info).
func (Factory) New(_ context.Context, cfg driver.Config) (driver.Driver, error) {
	o, err := parseOptions(cfg.Options)
	if err != nil {
		return nil, err
	}
	ep, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	cc := ep.clientConfig(cfg.Getenv)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubernetes driver needs a cluster: %w; point KUBECONFIG at a kubeconfig file, or create ~/.kube/config", err)
	}
	if o.namespace == "" {
		if o.namespace, _, err = cc.Namespace(); err != nil {
			return nil, fmt.Errorf("reading the namespace of the kubeconfig context: %w; give one with --driver-opt namespace=NAME", err)
		}
	}
	d := &Driver{cfg: cfg, opts: o, rest: rc}
	if err := d.makeManifest(); err != nil {
		return nil, err
	}
	// Made now (no request is sent), so concurrent builds share them.
	if d.clients, err = kubeclient.New(rc, o.namespace); err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	return d, nil
}

// Driver runs one node as a Deployment (a StatefulSet with persistent
// storage) of buildkitd pods.
type Driver struct {
	cfg  driver.Config
	opts options
	rest *rest.Config

	deployment  *appsv1.Deployment
	statefulSet *appsv1.StatefulSet
	configMaps  []*corev1.ConfigMap

	clients *kubeclient.Clients
	spread  spread
}

var (
	_ driver.Driver   = (*Driver)(nil)
	_ driver.Balancer = (*Driver)(nil)
)

// makeManifest builds what Bootstrap creates, with buildx's manifest
// package, so both tools make the same objects for the same options.
func (d *Driver) makeManifest() error {
	o := d.opts.deploy
	o.Namespace, o.Name = d.opts.namespace, deploymentName(d.cfg.Node)
	switch {
	case d.opts.imageGiven:
	case d.cfg.Getenv(ImageEnv) != "":
		o.Image = d.cfg.Getenv(ImageEnv)
	case o.Rootless:
		o.Image = DefaultRootlessImage
	default:
		o.Image = DefaultImage
	}
	o.BuildkitFlags = driver.WithHostNetworkEntitlement(d.cfg.BuildkitdFlags)
	if d.cfg.BuildkitdConfig != nil {
		o.ConfigFiles = map[string][]byte{"buildkitd.toml": d.cfg.BuildkitdConfig}
	}
	o.Platforms = d.cfg.Platforms
	var err error
	d.deployment, d.statefulSet, d.configMaps, err = manifest.NewDeployment(&o)
	if err != nil {
		return fmt.Errorf("kubernetes driver options: %w", err)
	}
	fixEphemeralRequest(d.template(), o)
	quickReadiness(d.template())
	return nil
}

// quickReadiness probes a new pod's buildkitd every 2s until it answers:
// with the manifest's 30s period the kubelet first probes a pod about 30s
// after it starts (it skips the probes before the initial delay), so every
// bootstrap and every replacement pod would wait that long for a daemon
// that answers within a second. Liveness keeps buildx's timing.
func quickReadiness(t *corev1.PodTemplateSpec) {
	if p := t.Spec.Containers[0].ReadinessProbe; p != nil {
		p.InitialDelaySeconds, p.PeriodSeconds = 1, 2
	}
}

// fixEphemeralRequest puts requests.ephemeral-storage into the requests:
// the manifest package sets it as a limit.
func fixEphemeralRequest(t *corev1.PodTemplateSpec, o manifest.DeploymentOpt) {
	if o.RequestsEphemeralStorage == "" {
		return
	}
	res := &t.Spec.Containers[0].Resources
	res.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(o.RequestsEphemeralStorage) // checked by parseOptions
	if o.LimitsEphemeralStorage == "" {
		delete(res.Limits, corev1.ResourceEphemeralStorage)
	}
}

func (d *Driver) template() *corev1.PodTemplateSpec {
	if d.statefulSet != nil {
		return &d.statefulSet.Spec.Template
	}
	return &d.deployment.Spec.Template
}

func (d *Driver) workloadName() string { return deploymentName(d.cfg.Node) }

func (d *Driver) kind() string {
	if d.statefulSet != nil {
		return "statefulset"
	}
	return "deployment"
}

// where names the workload for messages: deployment NAME in namespace NS.
func (d *Driver) where() string {
	return fmt.Sprintf("%s %s in namespace %s", d.kind(), d.workloadName(), d.opts.namespace)
}

// Info implements driver.Driver: the workload's state, each replica, and
// what BuildKit says through one ready pod.
func (d *Driver) Info(ctx context.Context) driver.Info {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := d.status(ctx)
	switch {
	case err != nil:
		return driver.Info{Status: driver.StatusUnreachable, Err: err}
	case !st.exists:
		return driver.Info{Status: driver.StatusInactive, Err: fmt.Errorf("%s does not exist: the next build creates it", d.where())}
	}
	pods, err := d.pods(ctx)
	if err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Err: err}
	}
	replicas := d.replicas(pods)
	ready := readyPods(pods)
	if len(ready) == 0 {
		return driver.Info{Status: driver.StatusStopped, Replicas: replicas,
			Err: fmt.Errorf("no pod of %s is ready%s", d.where(), podReasons(pods, st))}
	}
	info := driver.Info{Status: driver.StatusRunning, Replicas: replicas}
	c, err := d.clientTo(ctx, ready[0])
	if err == nil {
		defer c.Close()
		err = driver.ReadDaemon(ctx, c, &info)
	}
	if err != nil {
		return driver.Info{Status: driver.StatusUnreachable, Replicas: replicas, Err: fmt.Errorf("reaching buildkitd in pod %s: %w", ready[0].Name, err)}
	}
	info.Capabilities = driver.DaemonCapabilities(d.cfg.LoadEngine, driver.LoadStore(ctx, d.cfg.LoadEngine), d.opts.defaultLoad)
	return info
}

// replicas are the pods as `ls` lists them, with the platforms the node
// was created for.
func (d *Driver) replicas(pods []*corev1.Pod) []driver.Replica {
	out := make([]driver.Replica, 0, len(pods))
	for _, p := range pods {
		r := driver.Replica{Name: p.Name, Status: driver.StatusStopped, Platforms: d.cfg.Platforms}
		if isReady(p) {
			r.Status = driver.StatusRunning
		}
		out = append(out, r)
	}
	return out
}

// Client implements driver.Driver: a client to the pod the node's
// loadbalance option picks for no particular context.
func (d *Driver) Client(ctx context.Context) (*bkclient.Client, error) {
	// Not a build of its own (the runner asks ClientFor per job): it does
	// not count in random's spread.
	pod, err := d.choosePod(ctx, "", false)
	if err != nil {
		return nil, err
	}
	return d.clientTo(ctx, pod)
}

// ClientFor implements driver.Balancer: random picks any ready pod,
// sticky the one the key hashes to among the ready pods.
func (d *Driver) ClientFor(ctx context.Context, key string) (*bkclient.Client, error) {
	pod, err := d.choosePod(ctx, key, true)
	if err != nil {
		return nil, err
	}
	return d.clientTo(ctx, pod)
}
