// Package drivertest is the conformance suite for driver.Driver. Each
// driver's own tests call Run against a real daemon, so every driver is held
// to the same contract: bootstrapping is idempotent and safe to race, an
// unreachable node is reported rather than hung on, the client builds, the
// capabilities a node claims are the ones its daemon honours, removal is
// idempotent, and a cancelled bootstrap leaves nothing behind.
//
// The suite needs the daemons of hack/env and never skips: a missing daemon
// is a failure of the caller's setup, reported by the caller.
package drivertest
