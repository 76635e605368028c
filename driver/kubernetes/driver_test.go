package kubernetes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/xbuild/xbuild/driver"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:1"}
- name: c2
  cluster: {server: "https://127.0.0.1:2"}
contexts:
- name: one
  context: {cluster: c1, user: u, namespace: team-one}
- name: two
  context: {cluster: c2, user: u}
current-context: one
users:
- name: u
  user: {token: secret}
`

func newTestDriver(t *testing.T, endpoint string, opts map[string]string) (*Driver, error) {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KUBECONFIG": kc}
	getenv := func(k string) string { return env[k] }
	if endpoint == "" {
		var err error
		if endpoint, err = NewEndpoint("b", "n_0", "", getenv); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Factory{}.New(context.Background(), driver.Config{
		Builder: "b", Node: "n_0", Endpoint: endpoint, Options: opts, Getenv: getenv,
		BuildkitdConfig: []byte("debug = true\n"),
		Platforms:       []ocispecs.Platform{{OS: "linux", Architecture: "arm64"}},
	})
	if err != nil {
		return nil, err
	}
	return d.(*Driver), nil
}

func TestOptionsReachTheDeployment(t *testing.T) {
	d, err := newTestDriver(t, "", map[string]string{
		"image": "reg/bk:1", "replicas": "3", "namespace": "builds",
		"requests.cpu": "500m", "requests.memory": "1Gi", "requests.ephemeral-storage": "2Gi",
		"limits.cpu": "2", "limits.memory": "4Gi", "limits.ephemeral-storage": "8Gi",
		"nodeselector": "kubernetes.io/arch=arm64", "annotations": "a=1,b=2", "labels": "team=x",
		"tolerations":    "key=k,operator=Equal,value=v,effect=NoSchedule,tolerationSeconds=30;key=other,operator=Exists",
		"serviceaccount": "builder-sa", "schedulername": "sched", "env.FOO": "bar",
		"loadbalance": "random", "timeout": "45s", "default-load": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	dep := d.deployment
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	checks := map[string]bool{
		"name":                       dep.Name == "n-0" && dep.Namespace == "builds",
		"image":                      c.Image == "reg/bk:1",
		"replicas":                   *dep.Spec.Replicas == 3,
		"requests.cpu":               c.Resources.Requests.Cpu().String() == "500m",
		"requests.memory":            c.Resources.Requests.Memory().String() == "1Gi",
		"requests.ephemeral-storage": c.Resources.Requests.StorageEphemeral().String() == "2Gi",
		"limits.cpu":                 c.Resources.Limits.Cpu().String() == "2",
		"limits.memory":              c.Resources.Limits.Memory().String() == "4Gi",
		"limits.ephemeral-storage":   c.Resources.Limits.StorageEphemeral().String() == "8Gi",
		"nodeselector":               spec.NodeSelector["kubernetes.io/arch"] == "arm64",
		"annotations":                dep.Spec.Template.Annotations["a"] == "1" && dep.Spec.Template.Annotations["b"] == "2",
		"platform annotation":        dep.Spec.Template.Annotations["buildx.docker.com/platform"] == "linux/arm64",
		"labels":                     dep.Spec.Template.Labels["team"] == "x" && dep.Spec.Template.Labels["app"] == "n-0",
		"tolerations":                len(spec.Tolerations) == 2 && spec.Tolerations[0].Effect == corev1.TaintEffectNoSchedule && *spec.Tolerations[0].TolerationSeconds == 30 && spec.Tolerations[1].Operator == corev1.TolerationOpExists,
		"serviceaccount":             spec.ServiceAccountName == "builder-sa",
		"schedulername":              spec.SchedulerName == "sched",
		"env":                        len(c.Env) == 1 && c.Env[0].Name == "FOO" && c.Env[0].Value == "bar",
		"entitlement flag":           strings.Join(c.Args, " ") == "--allow-insecure-entitlement=network.host",
		"configmap":                  len(d.configMaps) == 1 && d.configMaps[0].Data["buildkitd.toml"] == "debug = true\n",
		"loadbalance":                d.opts.loadbalance == LoadbalanceRandom,
		"timeout":                    d.opts.timeout == 45*time.Second,
		"default-load":               d.opts.defaultLoad,
		"quick readiness":            c.ReadinessProbe.PeriodSeconds == 2 && c.LivenessProbe.PeriodSeconds == 30,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("option %s did not reach the deployment: %+v", name, dep)
		}
	}
}

func TestRootlessDefaultsAndContext(t *testing.T) {
	d, err := newTestDriver(t, "", map[string]string{"rootless": "true"})
	if err != nil {
		t.Fatal(err)
	}
	c := d.deployment.Spec.Template.Spec.Containers[0]
	if c.Image != DefaultRootlessImage || d.opts.namespace != "team-one" || d.rest.Host != "https://127.0.0.1:1" {
		t.Fatalf("image %s, namespace %s, host %s", c.Image, d.opts.namespace, d.rest.Host)
	}
	if c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
		t.Fatal("a rootless pod runs privileged")
	}
	ep := "kubernetes:///b?context=two&deployment=n_0"
	d, err = newTestDriver(t, ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.rest.Host != "https://127.0.0.1:2" || d.opts.namespace != "default" || d.opts.loadbalance != LoadbalanceSticky || d.opts.timeout != defaultTimeout {
		t.Fatalf("context two: host %s namespace %s loadbalance %s timeout %s", d.rest.Host, d.opts.namespace, d.opts.loadbalance, d.opts.timeout)
	}
}

func TestBadOptions(t *testing.T) {
	for opt, want := range map[string]string{
		"replicas=0":                 "replicas",
		"replicas=two":               "replicas",
		"loadbalance=roundrob":       "sticky or random",
		"timeout=soon":               "timeout",
		"timeout=-1s":                "positive",
		"nodeselector=a":             "KEY=VALUE",
		"tolerations=key=k,when=now": "when",
		"bogus=1":                    "unknown option",
		"requests.cpu=lots":          "requests.cpu",
		"env.=x":                     "variable name",
		"rootless=maybe":             "true or false",
	} {
		k, v, _ := strings.Cut(opt, "=")
		_, err := newTestDriver(t, "", map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line naming %q", opt, err, want)
		}
	}
	if _, err := NewEndpoint("b", "n", "tcp://1.2.3.4:1", func(string) string { return "" }); err == nil {
		t.Error("an address was taken as a kubeconfig context")
	}
}

func TestNodeName(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		n, err := NodeName(func(s string) bool { return seen[s] })
		if err != nil {
			t.Fatal(err)
		}
		if len(n) > 63 || !strings.HasPrefix(n, "buildkit-") || n != strings.ToLower(n) || seen[n] {
			t.Fatalf("bad or repeated node name %q", n)
		}
		seen[n] = true
	}
}

func TestSpreadEvenly(t *testing.T) {
	pods := []*corev1.Pod{{}, {}}
	pods[0].Name, pods[1].Name = "a", "b"
	var s spread
	got := map[*corev1.Pod]int{}
	s.pick(pods, false) // a client for no build: not counted
	for range 8 {
		got[s.pick(pods, true)]++
	}
	if got[pods[0]] != 4 || got[pods[1]] != 4 {
		t.Fatalf("8 builds over 2 pods went %v, want 4 each", got)
	}
}
