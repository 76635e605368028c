# xbuild's own builds, with xbuild itself (targets share ./Dockerfile):
#
#   xbuild bake                    release binaries into bin/release and the
#                                  SBOM generator image
#   xbuild bake binaries           xbuild for linux/amd64 and linux/arm64
#   xbuild bake --push sbom-generator
#
# hack/env up pushes the SBOM generator to the test registry this way.
variable "REGISTRY" {
  default = "127.0.0.1:5555"
}

# A busybox image with linux/amd64 and linux/arm64; hack/env up pushes one.
variable "BASE_IMAGE" {
  default = "${REGISTRY}/busybox:latest"
}

variable "GOPROXY" {
  default = "https://proxy.golang.org"
}

variable "VERSION" {
  default = "dev"
}

group "default" {
  targets = ["binaries", "sbom-generator"]
}

target "_common" {
  context = "."
  args = {
    BASE_IMAGE = BASE_IMAGE
    GOPROXY    = GOPROXY
  }
  # The Go toolchain in the image fetches modules over TLS.
  contexts = {
    certs = "/etc/ssl/certs"
  }
  platforms = ["linux/amd64", "linux/arm64"]
}

target "binaries" {
  inherits = ["_common"]
  target   = "binaries"
  args = {
    VERSION = VERSION
  }
  output = ["type=local,dest=bin/release"]
}

# Implements BuildKit's SBOM scanner protocol with syft (hack/sbom-generator),
# so --sbom works without Docker Hub.
target "sbom-generator" {
  inherits = ["_common"]
  target   = "sbom-generator"
  tags     = ["${REGISTRY}/xbuild/sbom-generator:latest"]
}
