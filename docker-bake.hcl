# xbuild's own builds, with xbuild itself (targets share ./Dockerfile):
#
#   xbuild bake                    release binaries into bin/release and the
#                                  SBOM generator image
#   xbuild bake binaries           xbuild-linux-amd64, xbuild-linux-arm64 and
#                                  their .sha256 files in bin/release
#   xbuild bake --push sbom-generator
#   xbuild bake sbom-generator-test  the generator's tests
#   xbuild bake --push base-image  the tests' busybox (after hack/base-image/build.sh)
#   xbuild bake --push buildkit    the docker-container driver's BuildKit image
#                                  (RUNC_CONTEXT from hack/tools/build.sh runc-static)
#
# hack/env up pushes the base image and the SBOM generator to the test
# registry this way. The targets read the host's CA bundle (the named
# context "certs"), outside this folder: as with buildx, bake asks for
# --allow fs.read=/etc/ssl/certs (and the contexts' folders for base-image
# and buildkit).
variable "REGISTRY" {
  default = "127.0.0.1:5555"
}

# A busybox image with linux/amd64 and linux/arm64; hack/env up pushes one.
variable "BASE_IMAGE" {
  default = "${REGISTRY}/busybox:latest"
}

# Where hack/base-image/build.sh left the root filesystems (hack/env's).
variable "BASE_IMAGE_CONTEXT" {
  default = "/var/tmp/xbuild-env/base-image/context"
}

# A folder with static runc-amd64 and runc-arm64: hack/tools/build.sh
# runc-static prints one.
variable "RUNC_CONTEXT" {
  default = ""
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
  output = ["type=local,dest=bin/release,platform-split=false"]
}

# The generator's unit tests alone (the image target runs them too).
target "sbom-generator-test" {
  inherits  = ["_common"]
  target    = "sbom-generator-test"
  platforms = []
  output    = ["type=cacheonly"]
}

# Implements BuildKit's SBOM scanner protocol with syft (hack/sbom-generator),
# so --sbom works without Docker Hub.
target "sbom-generator" {
  inherits = ["_common"]
  target   = "sbom-generator"
  tags     = ["${REGISTRY}/xbuild/sbom-generator:latest"]
}

# The tests' base image, which every other target here starts from. It
# stands in for a public busybox image: a plain index of two platforms.
target "base-image" {
  context   = "hack/base-image"
  contexts  = {
    rootfs = BASE_IMAGE_CONTEXT
  }
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = [BASE_IMAGE]
  attest    = ["type=provenance,disabled=true"]
}

# BuildKit for the docker-container driver: buildkitd and buildctl from
# hack/tools/buildkit, the pinned runc; hack/env up pushes it and loads it
# into both engines.
target "buildkit" {
  inherits = ["_common"]
  target   = "buildkit"
  contexts = {
    certs = "/etc/ssl/certs"
    runc  = RUNC_CONTEXT
  }
  tags = ["${REGISTRY}/xbuild/buildkit:latest"]
}
