// Package history reads the build records BuildKit keeps on every node of a
// builder, through its history API (ListenBuildHistory, UpdateBuildHistory)
// and the node's content store, where each record's logs, trace, error and
// attestations live.
//
// Records are found by build ID, by offset from the latest build (^N) or
// with buildx's filters; they are exported as the .dockerbuild bundle buildx
// writes, with buildx's own bundle package, so Docker Desktop reads ours.
package history
