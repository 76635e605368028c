// Package docker is the driver for a Docker Engine's own BuildKit, reached
// through the Engine API's /grpc and /session endpoints. Results load
// straight into the engine's image store, so what the node can produce
// depends on that store.
package docker
