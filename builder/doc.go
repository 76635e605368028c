// Package builder runs builds: it resolves the builder a command asked for,
// boots its node, plans the build against the node's capabilities (this is
// the one place where the image-store rules live), runs the solve through
// BuildKit's client with one progress display, and hands the result to the
// exporter package to finish.
//
// A build is a list of named steps: resolve -> plan -> prepare -> solve ->
// finalize, each its own function.
package builder
