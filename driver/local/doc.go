// Package local is the driver for a buildkitd that xbuild runs itself on
// this host, as a process of its own (root needed for the OCI worker). It
// suits CI runners whose Docker Engine keeps the classic store: the daemon
// builds every platform, and --load goes to the engine like a remote
// builder's. The daemon outlives the command that started it, like a
// builder's container does; `xbuild rm` stops it.
package local
