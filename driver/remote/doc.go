// Package remote is the driver for a BuildKit daemon that xbuild does not
// manage: a buildkitd listening on a unix socket or TCP (optionally with
// TLS), or one reached through BuildKit's connection helpers, which run
// `buildctl dial-stdio` beside the daemon over ssh, `docker exec` or
// `kubectl exec`. --load streams results to the current Docker Engine.
package remote
