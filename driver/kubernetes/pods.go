package kubernetes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/docker/buildx/driver/kubernetes/kubeclient"
	"github.com/docker/buildx/driver/kubernetes/podchooser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pods lists the pods of the node's workload, terminating ones included.
func (d *Driver) pods(ctx context.Context) ([]*corev1.Pod, error) {
	cl := d.clients
	sel, err := metav1.LabelSelectorAsSelector(d.selector())
	if err != nil {
		return nil, err
	}
	list, err := cl.Pods.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s on %s: %w", d.where(), d.rest.Host, err)
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (d *Driver) selector() *metav1.LabelSelector {
	if d.statefulSet != nil {
		return d.statefulSet.Spec.Selector
	}
	return d.deployment.Spec.Selector
}

// isReady: running, not going away, and its readiness probe (buildctl
// debug workers) passed, so buildkitd answers in it.
func isReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if isReady(p) {
			out = append(out, p)
		}
	}
	return out
}

// readyPodClient lists only ready pods, so buildx's pod choosers never
// pick a pod whose buildkitd does not answer yet (a replacement pod is
// Running some seconds before it is ready).
type readyPodClient struct{ kubeclient.PodClient }

func (c readyPodClient) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	list, err := c.PodClient.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	kept := list.Items[:0]
	for i := range list.Items {
		if isReady(&list.Items[i]) {
			kept = append(kept, list.Items[i])
		}
	}
	list.Items = kept
	return list, nil
}

// choosePod picks the pod a build goes to, by the node's loadbalance:
// sticky hashes the key over the ready pods with buildx's chooser, so both
// tools send a context to the same pod; random picks at random among the
// ready pods this command has sent the fewest builds to, so a bake's
// targets spread evenly instead of by chance; build says the pick is a
// build's, to be counted.
func (d *Driver) choosePod(ctx context.Context, key string, build bool) (*corev1.Pod, error) {
	cl := d.clients
	pc := readyPodClient{cl.Pods}
	if d.opts.loadbalance == LoadbalanceRandom {
		pods, err := podchooser.ListRunningPods(ctx, pc, d.deployment, d.statefulSet)
		switch {
		case err != nil:
			return nil, fmt.Errorf("choosing a buildkit pod of %s: %w", d.where(), err)
		case len(pods) == 0:
			return nil, fmt.Errorf("choosing a buildkit pod of %s: no pod is ready", d.where())
		}
		return d.spread.pick(pods, build), nil
	}
	chooser := &podchooser.StickyPodChooser{Key: key, PodClient: pc, Deployment: d.deployment, StatefulSet: d.statefulSet}
	pod, err := chooser.ChoosePod(ctx)
	if err != nil {
		return nil, fmt.Errorf("choosing a buildkit pod of %s: %w", d.where(), err)
	}
	return pod, nil
}

// spread counts the builds a command sent to each pod.
type spread struct {
	mu   sync.Mutex
	sent map[string]int
}

func (s *spread) pick(pods []*corev1.Pod, count bool) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	least := []*corev1.Pod{}
	for _, p := range pods {
		switch n := s.sent[p.Name]; {
		case len(least) == 0 || n < s.sent[least[0].Name]:
			least = []*corev1.Pod{p}
		case n == s.sent[least[0].Name]:
			least = append(least, p)
		}
	}
	p := least[rand.IntN(len(least))] // #nosec G404 -- spreading load, not a secret
	if count {
		s.sent[p.Name]++
	}
	return p
}

// podGone says why a pod can no longer serve a build, nil while it can.
func (d *Driver) podGone(ctx context.Context, name string) error {
	cl := d.clients
	list, err := cl.Pods.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return nil // the cluster not answering is not the pod going
	}
	what := ""
	switch {
	case len(list.Items) == 0:
		what = "was deleted"
	case list.Items[0].DeletionTimestamp != nil:
		what = "is being deleted"
	case list.Items[0].Status.Phase == corev1.PodFailed || list.Items[0].Status.Phase == corev1.PodSucceeded:
		what = "stopped"
	default:
		return nil
	}
	return fmt.Errorf("buildkit pod %s of builder %q (node %s) %s: the build lost its daemon; run it again on the remaining or replacement pods", name, d.cfg.Builder, d.cfg.Node, what)
}

// podReasons tells, for pods that are not ready, what Kubernetes says
// keeps them: scheduling, image pulls, crashes. Empty when nothing is known.
func podReasons(pods []*corev1.Pod, st workloadStatus) string {
	var out []string
	for _, p := range pods {
		if isReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		if r := podReason(p); r != "" {
			out = append(out, fmt.Sprintf("pod %s: %s", p.Name, r))
		}
	}
	if len(out) == 0 {
		out = st.failures
	}
	if len(out) == 0 {
		return ""
	}
	return ": " + oneLine(strings.Join(out, "; "))
}

func podReason(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "PodInitializing":
			return fmt.Sprintf("container %s: %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			t := cs.State.Terminated
			return fmt.Sprintf("container %s exited with code %d (%s) %s", cs.Name, t.ExitCode, t.Reason, t.Message)
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "buildkitd does not answer its readiness probe (buildctl debug workers) yet"
	}
	if p.Status.Phase == corev1.PodPending {
		return "pending: its containers are being created"
	}
	return ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
