// Package remote is the driver for a BuildKit daemon that xbuild does not
// manage: a buildkitd listening on a unix socket or TCP, optionally with
// TLS. --load streams results to the current Docker Engine.
package remote
