// Package testenv is the test env of hack/env as one typed value: the
// addresses of its daemons, its images and its tools, read from the
// XBUILD_TEST_* variables `hack/env print` exports.
//
// hack/env.vars is the one list of those variables. `hack/env print` exports
// what it names, and this package's tests fail when Env's fields and that
// list differ, so a variable cannot be added to one side only.
package testenv
