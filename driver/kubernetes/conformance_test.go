package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/drivertest"
	"github.com/xbuild/xbuild/driver/kubernetes"
)

// The suite runs against the env's cluster with the BuildKit image the env
// builds; every check gets a node (a Deployment) of its own.
func TestConformance(t *testing.T) {
	kubeconfig := drivertest.Getenv(t, "XBUILD_TEST_KUBECONFIG")
	image := drivertest.Getenv(t, "XBUILD_TEST_BUILDKIT_IMAGE")
	cs := clientset(t, kubeconfig)
	drivertest.Run(t, "cluster", drivertest.Opener{
		Node: func(t *testing.T) drivertest.Node {
			node := fmt.Sprintf("drivertest-%d", time.Now().UnixNano())
			t.Cleanup(func() { removeNode(cs, node) })
			ids := map[string]int{}
			return drivertest.Node{
				New:     func(t *testing.T) driver.Driver { return newDriver(t, kubeconfig, node, image) },
				Daemons: func(t *testing.T) []int { return daemons(t, cs, node, ids) },
			}
		},
		Unreachable: func(t *testing.T) (driver.Driver, string) {
			kc := filepath.Join(t.TempDir(), "config")
			addr := "https://127.0.0.1:1"
			cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\n"+
				"contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n", addr)
			if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			return newDriver(t, kc, "gone", image), "127.0.0.1:1"
		},
	})
}

func newDriver(t *testing.T, kubeconfig, node, image string) driver.Driver {
	t.Helper()
	getenv := func(k string) string {
		if k == "KUBECONFIG" {
			return kubeconfig
		}
		return ""
	}
	ep, err := kubernetes.NewEndpoint("drivertest", node, "", getenv)
	if err != nil {
		t.Fatal(err)
	}
	d, err := kubernetes.Factory{}.New(t.Context(), driver.Config{
		Builder: "drivertest", Node: node, Endpoint: ep, Getenv: getenv,
		Options: map[string]string{"image": image, "namespace": "default", "timeout": "90s"},
	})
	if err != nil {
		t.Fatalf("kubernetes.Factory.New(%s) = %v", node, err)
	}
	return d
}

func clientset(t *testing.T, kubeconfig string) *k8s.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("reading %s: %v", kubeconfig, err)
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// daemons lists the node's pods that run and are not on their way out,
// asked of the cluster, not the driver; each pod gets a number of its own
// for the suite to compare.
func daemons(t *testing.T, cs *k8s.Clientset, node string, ids map[string]int) []int {
	t.Helper()
	pods, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + node})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	var out []int
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			continue
		}
		id, ok := ids[string(p.UID)]
		if !ok {
			id = len(ids) + 1
			ids[string(p.UID)] = id
		}
		out = append(out, id)
	}
	return out
}

// removeNode takes away whatever a check left.
func removeNode(cs *k8s.Clientset, node string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fg := metav1.DeletePropagationForeground
	_ = cs.AppsV1().Deployments("default").Delete(ctx, node, metav1.DeleteOptions{PropagationPolicy: &fg})
	_ = cs.CoreV1().ConfigMaps("default").Delete(ctx, node+"-config", metav1.DeleteOptions{})
}
