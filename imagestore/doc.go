// Package imagestore knows what a Docker Engine's image store is: the classic
// store built on graph drivers, or the containerd store built on snapshotters.
// The kind decides what a build may load into the engine: only the containerd
// store holds image indexes, so only it takes multi-platform images and
// attestations.
package imagestore
