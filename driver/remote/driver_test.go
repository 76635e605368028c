package remote_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xbuild/xbuild/driver"
	"github.com/xbuild/xbuild/driver/drivertest"
	"github.com/xbuild/xbuild/driver/remote"
)

// The suite runs against the test env's buildkitd on both of its
// addresses: the unix socket, and TCP with mutual TLS, which goes through
// the driver's certificate options.
func TestConformance(t *testing.T) {
	tlsDir := drivertest.Getenv(t, "XBUILD_TEST_BUILDKIT_TLS_DIR")
	tlsOpts := map[string]string{
		"cacert": filepath.Join(tlsDir, "ca.pem"),
		"cert":   filepath.Join(tlsDir, "client-cert.pem"),
		"key":    filepath.Join(tlsDir, "client-key.pem"),
	}
	daemons := []struct {
		name, addr string
		opts       map[string]string
	}{
		{"unix", drivertest.Getenv(t, "XBUILD_TEST_BUILDKIT"), nil},
		{"tcp-tls", drivertest.Getenv(t, "XBUILD_TEST_BUILDKIT_TLS"), tlsOpts},
	}
	for _, d := range daemons {
		drivertest.Run(t, d.name, opener(d.addr, d.opts))
	}
}

// opener gives every check the same daemon: the driver manages none, so a
// fresh node is only a fresh driver value. Nothing listens on port 1.
func opener(addr string, opts map[string]string) drivertest.Opener {
	return drivertest.Opener{
		Node: func(*testing.T) drivertest.Node {
			return drivertest.Node{New: func(t *testing.T) driver.Driver { return newDriver(t, addr, opts) }}
		},
		Unreachable: func(t *testing.T) (driver.Driver, string) {
			addr := "tcp://127.0.0.1:1"
			return newDriver(t, addr, opts), addr
		},
	}
}

func newDriver(t *testing.T, addr string, opts map[string]string) driver.Driver {
	t.Helper()
	d, err := remote.Factory{}.New(t.Context(), driver.Config{Builder: "drivertest", Node: "drivertest", Endpoint: addr, Options: opts, Getenv: os.Getenv})
	if err != nil {
		t.Fatalf("remote.Factory.New(%s) = %v", addr, err)
	}
	return d
}
