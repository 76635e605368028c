package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/xbuild/xbuild/driver"
)

// workloadStatus is what the Deployment (or StatefulSet) says.
type workloadStatus struct {
	exists bool
	// deleting: a removal is under way; the workload goes once its pods
	// have.
	deleting bool
	// failures are its conditions that say why it has no pods (a missing
	// service account, a quota).
	failures []string
}

func (d *Driver) status(ctx context.Context) (workloadStatus, error) {
	cl := d.clients
	var st workloadStatus
	if d.statefulSet != nil {
		s, err := cl.StatefulSets.Get(ctx, d.workloadName(), metav1.GetOptions{})
		if err == nil {
			st = workloadStatus{exists: true, deleting: s.DeletionTimestamp != nil}
		}
		return st, d.statusErr(err)
	}
	dep, err := cl.Deployments.Get(ctx, d.workloadName(), metav1.GetOptions{})
	if err == nil {
		st = workloadStatus{exists: true, deleting: dep.DeletionTimestamp != nil, failures: deploymentFailures(dep)}
	}
	return st, d.statusErr(err)
}

func (d *Driver) statusErr(err error) error {
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("reading %s on %s: %w", d.where(), d.rest.Host, err)
}

func deploymentFailures(dep *appsv1.Deployment) []string {
	var out []string
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == "True" {
			out = append(out, fmt.Sprintf("%s: %s", c.Reason, c.Message))
		}
	}
	return out
}

// Bootstrap implements driver.Driver: create the ConfigMaps and the
// workload when missing, then wait up to the timeout option for every
// replica to be ready. A bootstrap that fails takes back what it created,
// so a builder whose pods never start leaves nothing in the cluster.
func (d *Driver) Bootstrap(ctx context.Context) error {
	st, err := d.status(ctx)
	if err != nil {
		return err
	}
	want := int(d.opts.deploy.Replicas)
	if st.deleting {
		// Removed a moment ago (an rm, a cancelled bootstrap): make it
		// again once it is gone.
		if st, err = d.waitGone(ctx); err != nil {
			return err
		}
	}
	if st.exists {
		// Ready pods, not the workload's count: a pod being deleted is
		// counted ready there until it is gone.
		pods, err := d.pods(ctx)
		if err != nil {
			return err
		}
		if len(readyPods(pods)) >= want {
			return nil
		}
	}
	created := false
	if !st.exists {
		if created, err = d.create(ctx); err != nil {
			return err
		}
	}
	err = d.waitReady(ctx, want)
	if err != nil && created {
		if rmErr := d.Remove(context.WithoutCancel(ctx), driver.RemoveOptions{}); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

// create makes the ConfigMaps, then the workload; false when another
// command created the workload meanwhile (it then owns the undo).
func (d *Driver) create(ctx context.Context) (bool, error) {
	cl := d.clients
	for _, cm := range d.configMaps {
		_, err := cl.ConfigMaps.Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = cl.ConfigMaps.Update(ctx, cm, metav1.UpdateOptions{})
		}
		if err != nil {
			return false, fmt.Errorf("creating configmap %s in namespace %s: %w", cm.Name, d.opts.namespace, err)
		}
	}
	driver.BootLog(ctx, "creating %s (replicas: %d, image %s)", d.where(), d.opts.deploy.Replicas, d.template().Spec.Containers[0].Image)
	var err error
	if d.statefulSet != nil {
		_, err = cl.StatefulSets.Create(ctx, d.statefulSet, metav1.CreateOptions{})
	} else {
		_, err = cl.Deployments.Create(ctx, d.deployment, metav1.CreateOptions{})
	}
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return true, fmt.Errorf("creating %s: %w", d.where(), err)
	}
	return true, nil
}

// waitReady polls until want pods are ready, telling the boot display
// what changes; past the timeout it fails with the pods' own reasons.
func (d *Driver) waitReady(ctx context.Context, want int) error {
	deadline := time.Now().Add(d.opts.timeout)
	driver.BootLog(ctx, "waiting up to %s for %d ready pods", d.opts.timeout, want)
	last := ""
	for {
		st, err := d.status(ctx)
		var pods []*corev1.Pod
		if err == nil {
			pods, err = d.pods(ctx)
		}
		ready := len(readyPods(pods))
		if err == nil && st.exists && ready >= want {
			driver.BootLog(ctx, "%d of %d pods ready", ready, want)
			return nil
		}
		why := podReasons(pods, st)
		if now := fmt.Sprintf("%d of %d pods ready%s", ready, want, why); now != last {
			driver.BootLog(ctx, "%s", now)
			last = now
		}
		if !time.Now().Before(deadline) {
			if err != nil {
				return fmt.Errorf("%s: no ready pods within the timeout %s: %w", d.where(), d.opts.timeout, err)
			}
			return fmt.Errorf("%s: %d of %d pods ready within the timeout %s%s (give more time with --driver-opt timeout=DURATION)",
				d.where(), ready, want, d.opts.timeout, why)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Remove implements driver.Driver: the workload and its ConfigMaps, what
// Bootstrap created and nothing else. What is already gone is no error.
// The pods go with the workload (their cache with them: KeepState keeps
// nothing here, as with buildx); Remove returns once every pod is on its
// way out, so no later command picks one.
func (d *Driver) Remove(ctx context.Context, _ driver.RemoveOptions) error {
	cl := d.clients
	// Foreground: the ReplicaSet stops replacing pods before they go.
	fg := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &fg}
	var err error
	if d.statefulSet != nil {
		err = cl.StatefulSets.Delete(ctx, d.workloadName(), opts)
	} else {
		err = cl.Deployments.Delete(ctx, d.workloadName(), opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", d.where(), err)
	}
	d.waitPodsLeaving(ctx)
	for _, cm := range d.configMaps {
		if err := cl.ConfigMaps.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting configmap %s in namespace %s: %w", cm.Name, d.opts.namespace, err)
		}
	}
	return nil
}

// waitPodsLeaving waits, a bounded time, until every pod of the workload
// is terminating or gone; the garbage collector marks them within moments.
func (d *Driver) waitPodsLeaving(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		pods, err := d.pods(ctx)
		if err != nil {
			return
		}
		leaving := true
		for _, p := range pods {
			leaving = leaving && p.DeletionTimestamp != nil
		}
		if leaving {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitGone waits, within the timeout option, for a workload being deleted
// to be gone.
func (d *Driver) waitGone(ctx context.Context) (workloadStatus, error) {
	driver.BootLog(ctx, "waiting for the removal of %s to finish", d.where())
	deadline := time.Now().Add(d.opts.timeout)
	for {
		st, err := d.status(ctx)
		if err != nil || !st.deleting {
			return st, err
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s is still being deleted after %s: try again once it is gone", d.where(), d.opts.timeout)
		}
		select {
		case <-ctx.Done():
			return st, context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
