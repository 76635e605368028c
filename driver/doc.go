// Package driver defines how xbuild reaches a BuildKit daemon and what that
// daemon can do. Each driver lives in a subpackage and is registered by name
// through a Registry that cmd/xbuild fills in; generic code never asks which
// driver it holds, only what the driver's Capabilities say.
package driver
