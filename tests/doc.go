// Package tests runs the built xbuild binary against the real daemons of
// hack/env: two Docker Engines (containerd and classic image stores), a
// standalone buildkitd and a registry. `make test` starts them; a missing
// daemon fails the run, it is never skipped.
package tests
