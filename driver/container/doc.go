// Package container is the docker-container driver: BuildKit in a container
// on a Docker Engine, named and labelled as buildx names its own
// (buildx_buildkit_<node>, state in the volume buildx_buildkit_<node>_state),
// reached through the engine API by exec'ing `buildctl dial-stdio` in it, so
// no port is published.
package container
