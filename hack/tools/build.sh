#!/usr/bin/env bash
# Builds the pinned daemons and tools the test env needs, from the Go modules
# under hack/tools/<name>/. Each tool has a module of its own so minimal version
# selection cannot lift one daemon's dependencies to another's (dockerd's
# embedded BuildKit must stay at the version its own go.mod names).
#
# Binaries land in a cache folder keyed by the pins, and hack/tools/bin links
# to it: a rebuild happens only when a go.mod, go.sum or this script changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${XBUILD_CACHE:-$HOME/.cache/xbuild}
key=$(cat "$here"/*/go.mod "$here"/*/go.sum "$here/build.sh" | sha256sum | cut -c1-16)
out=$cache/tools/$key

if [ -f "$out/.complete" ]; then
	ln -sfn "$out" "$here/bin"
	exit 0
fi
mkdir -p "$out"

# version of a module as its tool module pins it
modver() { (cd "$here/$1" && go list -m -f '{{.Version}}' "$2"); }

build() { # dir ldflags tags pkg...
	local dir=$1 ldflags=$2 tags=$3
	shift 3
	echo "building $* ($dir)" >&2
	(cd "$here/$dir" && CGO_ENABLED=${CGO_ENABLED:-1} go build -trimpath -tags "$tags" \
		-ldflags "-s -w $ldflags" -o "$out/" "$@")
}

bk=$(modver buildkit github.com/moby/buildkit)
build buildkit "-X github.com/moby/buildkit/version.Version=$bk" "" \
	github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl

ctd=$(modver containerd github.com/containerd/containerd/v2)
build containerd "-X github.com/containerd/containerd/v2/version.Version=$ctd" "no_btrfs" \
	github.com/containerd/containerd/v2/cmd/containerd \
	github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
	github.com/containerd/containerd/v2/cmd/ctr

rc=$(modver runc github.com/opencontainers/runc)
build runc "-X main.version=${rc#v}" "seccomp" github.com/opencontainers/runc

mb=$(modver moby github.com/moby/moby/v2)
build moby "-X github.com/moby/moby/v2/dockerversion.Version=${mb#v} -X github.com/moby/moby/v2/dockerversion.GitCommit=$mb" \
	"exclude_graphdriver_btrfs" github.com/moby/moby/v2/cmd/dockerd

rg=$(modver registry github.com/distribution/distribution/v3)
build registry "-X github.com/distribution/distribution/v3/version.version=$rg" "" \
	github.com/distribution/distribution/v3/cmd/registry

if [ -f "$here/buildx/go.mod" ] && [ "${XBUILD_TOOLS_BUILDX:-1}" = 1 ]; then
	bx=$(modver buildx github.com/docker/buildx)
	build buildx "-X github.com/docker/buildx/version.Version=$bx" "" github.com/docker/buildx/cmd/buildx
fi

touch "$out/.complete"
ln -sfn "$out" "$here/bin"
ls "$out" >&2
