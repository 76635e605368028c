// Package kubernetes runs a node's BuildKit as a Deployment of one or more
// buildkitd pods on a Kubernetes cluster, as buildx's kubernetes driver
// does, so a builder made by either tool is used by the other. The
// Deployment and its ConfigMap come from buildx's manifest package and the
// connection from its execconn package (pod exec of `buildctl dial-stdio`
// through the API server: no Service, no port-forward, no kubectl); what
// is xbuild's own is the waiting, which reports the pods' own reasons, the
// choice of pod per build, and the watch that ends a build whose pod goes.
package kubernetes
