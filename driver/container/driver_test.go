package container_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/container"
	"github.com/xbuild/xbuild/driver/drivertest"
)

// The suite runs against both engines of the test env with the BuildKit
// image the env builds; every check gets a node (a container) of its own.
func TestConformance(t *testing.T) {
	image := drivertest.Getenv(t, "XBUILD_TEST_BUILDKIT_IMAGE")
	for _, e := range []struct{ name, env string }{
		{"containerd-store", "XBUILD_TEST_DOCKER_CONTAINERD"},
		{"classic-store", "XBUILD_TEST_DOCKER_CLASSIC"},
	} {
		host := drivertest.Getenv(t, e.env)
		drivertest.Run(t, e.name, opener(host, image))
	}
}

func opener(host, image string) drivertest.Opener {
	return drivertest.Opener{
		Node: func(t *testing.T) drivertest.Node {
			node := fmt.Sprintf("drivertest%d", time.Now().UnixNano())
			t.Cleanup(func() { removeNode(t, host, node) })
			return drivertest.Node{
				New:     func(t *testing.T) driver.Driver { return newDriver(t, host, node, image) },
				Daemons: func(t *testing.T) []int { return daemons(t, host, node) },
			}
		},
		Unreachable: func(t *testing.T) (driver.Driver, string) {
			host := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
			return newDriver(t, host, "gone", image), host
		},
	}
}

func newDriver(t *testing.T, host, node, image string) driver.Driver {
	t.Helper()
	d, err := container.Factory{}.New(t.Context(), driver.Config{
		Builder: "drivertest", Node: node, Endpoint: host,
		Options: map[string]string{"image": image}, Getenv: func(string) string { return "" },
	})
	if err != nil {
		t.Fatalf("container.Factory.New(%s) = %v", host, err)
	}
	return d
}

// daemons lists the running containers of the node: the engine, not the
// driver, says what runs.
func daemons(t *testing.T, host, node string) []int {
	t.Helper()
	api := engineClient(t, host)
	res, err := api.ContainerList(t.Context(), dockerclient.ContainerListOptions{
		All: true, Filters: dockerclient.Filters{}.Add("name", "^/"+container.ContainerName(node)+"$"),
	})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	var pids []int
	for _, c := range res.Items {
		in, err := api.ContainerInspect(t.Context(), c.ID, dockerclient.ContainerInspectOptions{})
		if err == nil && in.Container.State.Running {
			pids = append(pids, in.Container.State.Pid)
		}
	}
	return pids
}

// removeNode takes away whatever a check left: container and volume.
func removeNode(t *testing.T, host, node string) {
	api := engineClient(t, host)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = api.ContainerRemove(ctx, container.ContainerName(node), dockerclient.ContainerRemoveOptions{Force: true})
	_, _ = api.VolumeRemove(ctx, container.VolumeName(node), dockerclient.VolumeRemoveOptions{Force: true})
}

func engineClient(t *testing.T, host string) *dockerclient.Client {
	t.Helper()
	c, err := dockerclient.New(dockerclient.WithHost(host), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
