package drivertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/xbuild/xbuild/driver"
)

// Node is one node under test, fresh for each check.
type Node struct {
	// New makes another driver value for the node, as a separate xbuild
	// command would. Checks call it several times and use the values
	// concurrently, so values must not share mutable state.
	New func(t *testing.T) driver.Driver
	// Daemons lists the processes on this host that serve the node, found
	// without asking the driver (its own records are what is checked).
	// Drivers that start no daemon leave it nil, and the suite then judges
	// by Info alone.
	Daemons func(t *testing.T) []int
}

// Opener gives the suite the nodes it checks.
type Opener struct {
	// Node prepares a fresh node for one check; its daemon, if the driver
	// manages one, is not running yet. Whatever Node creates it releases
	// with t.Cleanup, whether or not the check removed the node.
	Node func(t *testing.T) Node
	// Unreachable makes a driver for a node whose daemon cannot be reached,
	// and returns the address the driver tries: Info's error must name it,
	// because that is what a user has to fix.
	Unreachable func(t *testing.T) (driver.Driver, string)
}

// checkTimeout bounds one check, so a hung daemon fails the check instead
// of stalling the whole test binary until its global timeout.
const checkTimeout = 3 * time.Minute

type check struct {
	name string
	fn   func(ctx context.Context, t *testing.T, open Opener)
}

var checks = []check{
	{"BootstrapTwice", checkBootstrapTwice},
	{"InfoUnreachable", checkInfoUnreachable},
	{"Solve", checkSolve},
	{"Capabilities", checkCapabilities},
	{"RemoveTwice", checkRemoveTwice},
	{"ConcurrentBootstrap", checkConcurrentBootstrap},
	{"CancelBootstrap", checkCancelBootstrap},
}

// Run runs every check of the suite as a subtest of t named name. The
// checks run one after another: some count daemon processes, and parallel
// checks of the same driver would see each other's.
func Run(t *testing.T, name string, open Opener) {
	t.Helper()
	if open.Node == nil || open.Unreachable == nil {
		t.Fatalf("drivertest.Run(%q): Opener needs both Node and Unreachable", name)
	}
	t.Run(name, func(t *testing.T) {
		for _, c := range checks {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), checkTimeout)
				defer cancel()
				c.fn(ctx, t, open)
			})
		}
	})
}

// Getenv returns the test env variable name, one of those `hack/env print`
// exports, and fails t when it is unset: a driver's tests need their
// daemon, and a missing one is a setup error, never a reason to skip.
func Getenv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is unset: the test env is not up; run `hack/env up` and `eval \"$(hack/env print)\"`", name)
	}
	return v
}
