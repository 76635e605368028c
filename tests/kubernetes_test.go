package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
)

// cluster is the env's Kubernetes cluster, asked directly (not through
// xbuild) to check what the kubernetes driver did.
type cluster struct {
	cs  *k8s.Clientset
	rc  *rest.Config
	cfg string
}

func kubeCluster(t *testing.T) *cluster {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatalf("reading %s: %v", env.Kubeconfig, err)
	}
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{cs: cs, rc: rc, cfg: env.Kubeconfig}
}

// namespace makes a namespace for one test and deletes it, with whatever
// is left in it, when the test ends.
func (k *cluster) namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("xbt-%d", time.Now().UnixNano())
	_, err := k.cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		_ = k.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	// The default service account comes from the controller manager a
	// moment after the namespace; pods cannot be created before.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := k.cs.CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{})
		if err == nil {
			return ns
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s has no default service account after 30s: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// on runs xbuild with KUBECONFIG naming the env's cluster.
func (k *cluster) on() runOpt { return withEnv("KUBECONFIG=" + k.cfg) }

// kubeBuildkitdConfig lets the pods' buildkitd use the env registry over
// plain HTTP under the name pods reach it by.
func kubeBuildkitdConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "buildkitd.toml")
	cfg := fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", env.KubeRegistry)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeBase is the base image under the name pods pull it by.
func kubeBase() string { return "BASE=" + env.KubeRegistry + "/busybox:latest" }

// builder creates and boots a kubernetes builder in ns with node
// name node, the env's BuildKit image and buildkitd config, and opts.
func (k *cluster) builder(t *testing.T, cfg, ns, node string, opts ...string) string {
	t.Helper()
	name := fmt.Sprintf("kb%d", time.Now().UnixNano())
	args := []string{"create", "--driver", "kubernetes", "--name", name, "--node", node, "--bootstrap",
		"--buildkitd-config", kubeBuildkitdConfig(t),
		"--driver-opt", "namespace=" + ns, "--driver-opt", "image=" + env.BuildKitImage}
	for _, o := range opts {
		args = append(args, "--driver-opt", o)
	}
	mustXB(t, cfg, args, k.on())
	return name
}

func (k *cluster) pods(t *testing.T, ns, deployment string) []corev1.Pod {
	t.Helper()
	list, err := k.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + deployment})
	if err != nil {
		t.Fatalf("listing pods of %s: %v", deployment, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// exec runs a command in a pod's buildkitd container, as an admin would
// with kubectl exec, and returns its output.
func (k *cluster) exec(t *testing.T, ns, pod string, cmd ...string) string {
	t.Helper()
	req := k.cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "buildkitd", Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(k.rc, "POST", req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("exec %v in pod %s: %v\n%s", cmd, pod, err, errOut.String())
	}
	return out.String()
}

// leftovers lists what the driver could have made in ns and still exists.
func (k *cluster) leftovers(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	deps, err := k.cs.AppsV1().Deployments(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if d.DeletionTimestamp == nil {
			out = append(out, "deployment/"+d.Name)
		}
	}
	cms, err := k.cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		if c.Name != "kube-root-ca.crt" && c.Name != "sentinel" {
			out = append(out, "configmap/"+c.Name)
		}
	}
	for _, p := range k.pods(t, ns, "") {
		out = append(out, "pod/"+p.Name)
	}
	return out
}

// lsRows reads `ls --format json` for one builder.
func lsRows(t *testing.T, cfg, name string, opts ...runOpt) []map[string]any {
	t.Helper()
	out := mustXB(t, cfg, []string{"ls", "--format", "json"}, opts...).Stdout
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var b struct {
			Name  string
			Nodes []map[string]any
		}
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("ls --format json line %q: %v", line, err)
		}
		if b.Name == name {
			return b.Nodes
		}
	}
	t.Fatalf("builder %s not in ls:\n%s", name, out)
	return nil
}

// The options buildx documents reach the cluster's objects (the unit
// tests of driver/kubernetes check every one on the manifest); ls and
// inspect list each replica; a build runs; stop leaves the pods (as
// buildx); rm takes what create made and nothing else.
func TestKubernetesDriverLifecycle(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	ns := k.namespace(t)
	sentinel := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sentinel"}}
	if _, err := k.cs.CoreV1().ConfigMaps(ns).Create(t.Context(), sentinel, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	name := k.builder(t, cfg, ns, "opts", "replicas=2", "labels=team=build", "annotations=owner=ci",
		"env.BUILDKIT_STEP_LOG_MAX_SIZE=1048576", "requests.cpu=100m", "requests.memory=64Mi",
		"requests.ephemeral-storage=1Gi", "limits.memory=2Gi", "limits.cpu=2", "limits.ephemeral-storage=4Gi",
		`"tolerations=key=build,operator=Exists,effect=NoSchedule"`, "nodeselector=kubernetes.io/os=linux",
		"serviceaccount=default", "schedulername=default-scheduler", "timeout=90s")
	dep, err := k.cs.AppsV1().Deployments(ns).Get(t.Context(), "opts", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the builder's deployment: %v", err)
	}
	if *dep.Spec.Replicas != 2 || dep.Spec.Template.Labels["team"] != "build" || dep.Spec.Template.Annotations["owner"] != "ci" {
		t.Errorf("deployment replicas %d, labels %v, annotations %v", *dep.Spec.Replicas, dep.Spec.Template.Labels, dep.Spec.Template.Annotations)
	}
	pods := k.pods(t, ns, "opts")
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	checkPodSpec(t, pods[0].Spec)
	cm, err := k.cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "opts-config", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["buildkitd.toml"], env.KubeRegistry) {
		t.Errorf("configmap opts-config: %v %v", err, cm)
	}
	checkReplicasListed(t, cfg, name, pods, k.on())
	mustXB(t, cfg, []string{"build", "--builder", name, "--build-arg", kubeBase(), helloContext(t)}, k.on())
	mustXB(t, cfg, []string{"stop", name}, k.on())
	if got := len(k.pods(t, ns, "opts")); got != 2 {
		t.Errorf("%d pods after stop, want the 2 still running (stop leaves them, as buildx)", got)
	}
	mustXB(t, cfg, []string{"rm", name}, k.on())
	if left := k.leftovers(t, ns); len(left) != 0 {
		t.Errorf("left after rm: %v", left)
	}
	if _, err := k.cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "sentinel", metav1.GetOptions{}); err != nil {
		t.Errorf("rm took a configmap it did not make: %v", err)
	}
}

func checkPodSpec(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	c := spec.Containers[0]
	res := c.Resources
	for what, ok := range map[string]bool{
		"env":                        len(c.Env) == 1 && c.Env[0].Name == "BUILDKIT_STEP_LOG_MAX_SIZE" && c.Env[0].Value == "1048576",
		"requests.cpu":               res.Requests.Cpu().String() == "100m",
		"requests.memory":            res.Requests.Memory().String() == "64Mi",
		"requests.ephemeral-storage": res.Requests.StorageEphemeral().String() == "1Gi",
		"limits.cpu":                 res.Limits.Cpu().String() == "2",
		"limits.memory":              res.Limits.Memory().String() == "2Gi",
		"limits.ephemeral-storage":   res.Limits.StorageEphemeral().String() == "4Gi",
		"tolerations":                len(spec.Tolerations) > 0 && spec.Tolerations[0].Key == "build" && spec.Tolerations[0].Effect == corev1.TaintEffectNoSchedule,
		"nodeselector":               spec.NodeSelector["kubernetes.io/os"] == "linux",
		"serviceaccount":             spec.ServiceAccountName == "default",
		"schedulername":              spec.SchedulerName == "default-scheduler",
		"image":                      c.Image == env.BuildKitImage,
		"buildkitd config mounted":   len(c.VolumeMounts) > 0 && c.VolumeMounts[0].MountPath == "/etc/buildkit",
	} {
		if !ok {
			t.Errorf("option %s did not reach the pod: container %+v, tolerations %v, node selector %v", what, c, spec.Tolerations, spec.NodeSelector)
		}
	}
}

// checkReplicasListed: ls (table and JSON) and inspect show one node per
// pod, as buildx lists a kubernetes builder.
func checkReplicasListed(t *testing.T, cfg, name string, pods []corev1.Pod, opts ...runOpt) {
	t.Helper()
	rows := lsRows(t, cfg, name, opts...)
	if len(rows) != len(pods) {
		t.Fatalf("ls lists %d nodes, want one per pod (%d): %v", len(rows), len(pods), rows)
	}
	inspect := mustXB(t, cfg, []string{"inspect", name}, opts...).Stdout
	table := mustXB(t, cfg, []string{"ls"}, opts...).Stdout
	for _, p := range pods {
		found := false
		for _, r := range rows {
			found = found || r["Name"] == p.Name && r["Status"] == "running"
		}
		if !found {
			t.Errorf("ls --format json lacks pod %s running: %v", p.Name, rows)
		}
		if !strings.Contains(inspect, p.Name) || !strings.Contains(table, p.Name) {
			t.Errorf("inspect or ls lacks pod %s:\n%s\n%s", p.Name, inspect, table)
		}
	}
}

// random spreads a bake's eight targets over both replicas; sticky sends
// builds of one context to one pod, whose cache serves them.
func TestKubernetesLoadbalance(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	ns := k.namespace(t)
	cfg := t.TempDir()
	t.Run("random", func(t *testing.T) {
		name := k.builder(t, cfg, ns, "spread", "replicas=2", "loadbalance=random")
		token := uniqueNumber()
		dir := t.TempDir()
		var hcl strings.Builder
		var targets []string
		for i := range 8 {
			tgt := fmt.Sprintf("t%d", i)
			targets = append(targets, `"`+tgt+`"`)
			fmt.Fprintf(&hcl, "target %q {\n  dockerfile-inline = \"FROM %s/busybox:latest\\nRUN echo kmark-%s-%d > /m\\n\"\n}\n", tgt, env.KubeRegistry, token, i)
		}
		fmt.Fprintf(&hcl, "group \"default\" {\n  targets = [%s]\n}\n", strings.Join(targets, ", "))
		writeFiles(t, dir, map[string]string{"docker-bake.hcl": hcl.String()})
		mustXB(t, cfg, []string{"bake", "--builder", name}, k.on(), withDir(dir))
		counts := k.markers(t, ns, "spread", "kmark-"+token)
		if len(counts) != 2 || total(counts) != 8 {
			t.Fatalf("8 targets on 2 replicas with loadbalance=random built as %v, want both pods used", counts)
		}
		for pod, n := range counts {
			if n != 4 {
				t.Errorf("pod %s built %d of the 8 targets, want 4 (%v)", pod, n, counts)
			}
		}
	})
	t.Run("sticky", func(t *testing.T) {
		name := k.builder(t, cfg, ns, "stick", "replicas=2")
		token := uniqueNumber()
		dir := t.TempDir()
		for i := range 3 {
			writeFiles(t, dir, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s/busybox:latest\nRUN echo smark-%s-%d > /m\n", env.KubeRegistry, token, i)})
			mustXB(t, cfg, []string{"build", "--builder", name, dir}, k.on())
		}
		counts := k.markers(t, ns, "stick", "smark-"+token)
		if len(counts) != 1 || total(counts) != 3 {
			t.Errorf("3 builds of one context with loadbalance=sticky built as %v, want all on one pod", counts)
		}
	})
}

// markers counts, per pod of the deployment, the build records whose
// step ran a command holding prefix (buildctl du lists each step's cache).
func (k *cluster) markers(t *testing.T, ns, deployment, prefix string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range k.pods(t, ns, deployment) {
		seen := map[string]bool{}
		for _, f := range strings.Fields(k.exec(t, ns, p.Name, "buildctl", "du", "--verbose")) {
			if strings.HasPrefix(f, prefix) && !seen[f] {
				seen[f] = true
				out[p.Name]++
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Two nodes, one per platform, each a Deployment placed by its node
// selector: the build is split over them, pushed to the env registry as
// one index with provenance, then loaded into the containerd-store engine.
func TestKubernetesMultiPlatformPushAndLoad(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	ns := k.namespace(t)
	cfg := t.TempDir()
	name := k.builder(t, cfg, ns, "amd", "nodeselector=kubernetes.io/arch=amd64")
	// The env's one node is amd64: the arm64 node runs on it under qemu,
	// placed by a selector it matches.
	mustXB(t, cfg, []string{"create", "--append", "--name", name, "--node", "arm", "--platform", "linux/arm64",
		"--buildkitd-config", kubeBuildkitdConfig(t), "--driver-opt", "namespace=" + ns,
		"--driver-opt", "image=" + env.BuildKitImage, "--driver-opt", "nodeselector=kubernetes.io/os=linux"}, k.on())
	repo := "xbuild-test/kube-" + name
	args := []string{"build", "--builder", name, "--platform", "linux/amd64,linux/arm64", "--provenance", "mode=max",
		"--build-arg", kubeBase()}
	mustXB(t, cfg, append(args, "--push", "-t", env.KubeRegistry+"/"+repo+":1", helloContext(t)), k.on())
	idx, _ := indexOf(t, env.Registry+"/"+repo+":1")
	images, attested := platformsAttested(idx)
	if want := []string{"linux/amd64", "linux/arm64"}; !equalStrings(images, want) || !equalStrings(attested, want) {
		t.Errorf("pushed index: images %v, attested %v; want both platforms each", images, attested)
	}
	if got := len(k.pods(t, ns, "arm")); got != 1 {
		t.Errorf("the appended node has %d pods, want its own deployment's 1", got)
	}
	host := env.DockerContainerd
	tag := uniqueTag(t, "kube")
	mustXB(t, cfg, append(args, "--load", "-t", tag, helloContext(t)), k.on(), withDockerHost(host))
	api := engine(t, host)
	kinds := manifestKinds(t, api, tag)
	if !equalStrings(kinds["image"], []string{"linux/amd64", "linux/arm64"}) || len(kinds["attestation"]) != 2 {
		t.Errorf("loaded manifests %v, want both platforms with their attestations", kinds)
	}
	if got := runImage(t, api, tag, "linux/arm64"); !strings.Contains(got, "hello from aarch64") {
		t.Errorf("running %s for linux/arm64 printed %q", tag, got)
	}
	// A classic store takes one platform, through its load endpoint.
	classic := env.DockerClassic
	ctag := uniqueTag(t, "kube-classic")
	mustXB(t, cfg, []string{"build", "--builder", name, "--platform", "linux/arm64", "--load", "-t", ctag,
		"--build-arg", kubeBase(), helloContext(t)}, k.on(), withDockerHost(classic))
	if got := runImage(t, engine(t, classic), ctag, "linux/arm64"); !strings.Contains(got, "hello from aarch64") {
		t.Errorf("running %s from the classic engine printed %q", ctag, got)
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// An image that cannot be pulled and a node selector no node matches each
// fail the bootstrap within its timeout with the pods' own reason, and
// leave nothing in the cluster or the builder list.
func TestKubernetesBootstrapFailures(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	for _, tc := range []struct{ name, opt, reason string }{
		{"image-pull", "image=" + env.Registry + "/xbuild-test/no-such-buildkit:1", "ImagePull"},
		{"unschedulable", "nodeselector=kubernetes.io/arch=s390x", "Unschedulable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := k.namespace(t)
			cfg := t.TempDir()
			start := time.Now()
			r := xb(t, cfg, []string{"create", "--driver", "kubernetes", "--name", "broken", "--node", "broken", "--bootstrap",
				"--driver-opt", "namespace=" + ns, "--driver-opt", "timeout=15s", "--driver-opt", tc.opt}, k.on())
			took := time.Since(start)
			if r.Code == 0 {
				t.Fatalf("create --bootstrap succeeded:\n%s", r)
			}
			if !strings.Contains(r.Stderr, tc.reason) || !strings.Contains(r.Stderr, "pod broken-") {
				t.Errorf("error lacks the pod's reason %q:\n%s", tc.reason, r.Stderr)
			}
			if took > 15*time.Second+30*time.Second {
				t.Errorf("create took %s with timeout=15s", took)
			}
			if left := k.leftovers(t, ns); len(left) != 0 {
				t.Errorf("left in the cluster: %v", left)
			}
			if out := mustXB(t, cfg, []string{"ls"}, k.on()).Stdout; strings.Contains(out, "broken") {
				t.Errorf("the failed builder is listed:\n%s", out)
			}
		})
	}
}

// A remote builder at kube-pod://POD reaches a buildkitd pod of the env's
// cluster through `kubectl exec` (BuildKit's connection helper), with the
// kubectl the env builds on PATH, and builds there.
func TestRemoteKubePodOnCluster(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	ns := k.namespace(t)
	cfg := t.TempDir()
	k.builder(t, cfg, ns, "target")
	pods := k.pods(t, ns, "target")
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	path := "PATH=" + filepath.Dir(env.RegistryBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	addr := "kube-pod://" + pods[0].Name + "?namespace=" + ns + "&container=buildkitd"
	mustXB(t, cfg, []string{"create", "--name", "viapod", "--driver", "remote", addr}, k.on(), withEnv(path))
	out := filepath.Join(t.TempDir(), "out")
	mustXB(t, cfg, []string{"build", "--builder", "viapod", "-o", out, "--build-arg", kubeBase(), helloContext(t)}, k.on(), withEnv(path))
	if _, err := os.Stat(filepath.Join(out, "built-for")); err != nil {
		entries, _ := os.ReadDir(out)
		t.Errorf("the build through kube-pod:// wrote %v: %v", entries, err)
	}
	if rows := lsRows(t, cfg, "viapod", k.on(), withEnv(path)); len(rows) != 1 || rows[0]["Status"] != "running" {
		t.Errorf("ls of the kube-pod builder: %v", rows)
	}
}

// The endpoint argument names a context of the kubeconfig; one it does
// not hold is refused at create, naming it, and nothing is saved.
func TestKubernetesContextArgument(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--driver", "kubernetes", "--name", "ctx", "--node", "ctxnode", "xbuild-env"}, k.on())
	if out := mustXB(t, cfg, []string{"inspect", "ctx"}, k.on()).Stdout; !strings.Contains(out, "context=xbuild-env") || !strings.Contains(out, "deployment=ctxnode") {
		t.Errorf("inspect of a builder made for context xbuild-env:\n%s", out)
	}
	r := xb(t, cfg, []string{"create", "--driver", "kubernetes", "--name", "nope", "no-such-context"}, k.on())
	if r.Code == 0 || !strings.Contains(r.Stderr, "no-such-context") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
		t.Errorf("create for a context the kubeconfig lacks: %s", r)
	}
	if out := mustXB(t, cfg, []string{"ls"}, k.on()).Stdout; strings.Contains(out, "nope") {
		t.Errorf("the refused builder is listed:\n%s", out)
	}
}
