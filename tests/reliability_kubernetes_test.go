package tests

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubernetes driver: the pod running a build deleted under it. The
// command must end well within the pod's grace period, naming the
// builder, and the next build runs on the replacement pod.
func TestReliabilityKubernetesPodDeleted(t *testing.T) {
	t.Parallel()
	k := kubeCluster(t)
	ns := k.namespace(t)
	cfg := t.TempDir()
	name := k.builder(t, cfg, ns, "victim", "timeout=90s")
	t.Run("pod-deleted-run", func(t *testing.T) {
		s := newScenario(t)
		token := uniqueNumber()
		before := snapshot(t, cfg)
		ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM " + env.KubeRegistry + "/busybox:latest\nRUN echo started-" + token + " && sleep " + token + "\n"})
		b := startXB(t, cfg, []string{"build", "--builder", name, "--no-cache", ctxDir}, k.on())
		b.waitFor(t, "started-"+token)
		pods := k.pods(t, ns, "victim")
		if len(pods) != 1 {
			t.Fatalf("%d pods, want 1", len(pods))
		}
		if err := k.cs.CoreV1().Pods(ns).Delete(t.Context(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		s.expectDeath(b, deleted, `builder "`+name+`"`)
		s.checkState(cfg, before)
		s.recoversWith(deleted, cfg, []string{"build", "--builder", name, "--build-arg", kubeBase(), helloContext(t)}, k.on())
		if now := k.pods(t, ns, "victim"); len(now) != 1 || now[0].Name == pods[0].Name {
			t.Errorf("pods after the recovery: %v, want one new pod", now)
		}
	})
}
