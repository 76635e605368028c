package docker_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/docker"
	"github.com/xbuild/xbuild/driver/drivertest"
)

// The suite runs against both engines of the test env: what the node can
// export depends on the engine's image store, so each store is its own case.
func TestConformance(t *testing.T) {
	engines := []struct{ name, host string }{
		{"containerd-store", drivertest.Getenv(t, "XBUILD_TEST_DOCKER_CONTAINERD")},
		{"classic-store", drivertest.Getenv(t, "XBUILD_TEST_DOCKER_CLASSIC")},
	}
	for _, e := range engines {
		drivertest.Run(t, e.name, opener(e.host))
	}
}

// opener gives every check the same engine: the driver manages no daemon,
// so a fresh node is only a fresh driver value.
func opener(host string) drivertest.Opener {
	return drivertest.Opener{
		Node: func(*testing.T) drivertest.Node {
			return drivertest.Node{New: func(t *testing.T) driver.Driver { return newDriver(t, host) }}
		},
		Unreachable: func(t *testing.T) (driver.Driver, string) {
			host := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
			return newDriver(t, host), host
		},
	}
}

func newDriver(t *testing.T, host string) driver.Driver {
	t.Helper()
	d, err := docker.Factory{}.New(t.Context(), driver.Config{Builder: "drivertest", Node: "drivertest", Endpoint: host, Getenv: os.Getenv})
	if err != nil {
		t.Fatalf("docker.Factory.New(%s) = %v", host, err)
	}
	return d
}
