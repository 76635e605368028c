#!/usr/bin/env bash
# Builds the pinned daemons and tools the test env needs, from the Go modules
# under hack/tools/<name>/. Each tool has a module of its own so minimal version
# selection cannot lift one daemon's dependencies to another's (dockerd's
# embedded BuildKit must stay at the version its own go.mod names).
#
# Usage: hack/tools/build.sh [TOOL...]   (default: the daemons the env runs and
#        act, which runs the action's example workflow in the tests, buildx,
#        which the tests share builder state with and the benchmarks measure,
#        Docker Compose, which the tests run xbuild under as docker-buildx, and
#        the env's Kubernetes cluster: kubernetes (kube-apiserver,
#        kube-controller-manager, kube-scheduler, kubelet, kubectl), etcd, and
#        cni, whose plugins land in hack/tools/bin/cni)
#        hack/tools/build.sh runc-static  prints a folder holding runc-amd64 and
#        runc-arm64, static (the BuildKit image's runtime; the arm64 one is
#        cross-compiled with Debian's aarch64 gcc and libseccomp)
#
# Each tool's binaries land in a cache folder keyed by its pins, and
# hack/tools/bin holds links to them: a tool is rebuilt only when its go.mod,
# go.sum or build line changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${XBUILD_CACHE:-$HOME/.cache/xbuild}/tools

# name | build tags | ldflags (MODVER is the pinned version) | packages
tools() {
	cat <<'LIST'
buildkit||-X github.com/moby/buildkit/version.Version=MODVER|github.com/moby/buildkit github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
containerd|no_btrfs|-X github.com/containerd/containerd/v2/version.Version=MODVER|github.com/containerd/containerd/v2 github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr
runc|seccomp|-X main.version=MODVER|github.com/opencontainers/runc github.com/opencontainers/runc
moby|exclude_graphdriver_btrfs|-X github.com/moby/moby/v2/dockerversion.Version=MODVER -X github.com/moby/moby/v2/dockerversion.GitCommit=MODVER|github.com/moby/moby/v2 github.com/moby/moby/v2/cmd/dockerd
registry||-X github.com/distribution/distribution/v3/version.version=MODVER|github.com/distribution/distribution/v3 github.com/distribution/distribution/v3/cmd/registry
buildx||-X github.com/docker/buildx/version.Version=MODVER|github.com/docker/buildx github.com/docker/buildx/cmd/buildx
act||-X main.version=MODVER|github.com/nektos/act github.com/nektos/act
compose||-X github.com/docker/compose/v5/internal.Version=MODVER|github.com/docker/compose/v5 github.com/docker/compose/v5/cmd
kubernetes||-X k8s.io/component-base/version.gitVersion=MODVER -X k8s.io/component-base/version.gitMajor=MODMAJOR -X k8s.io/component-base/version.gitMinor=MODMINOR -X k8s.io/component-base/version.gitTreeState=clean|k8s.io/kubernetes k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
etcd||-X go.etcd.io/etcd/api/v3/version.GitSHA=MODVER|go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3
cni||-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=MODVER|github.com/containernetworking/plugins github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/main/loopback
LIST
}

# runc_static: the pinned runc for amd64 and arm64, linked statically so it
# runs in an image without a C library (nsexec needs cgo, seccomp its lib).
runc_static() {
	local mod=github.com/opencontainers/runc key out ver arch cc
	key=$( (cat "$here/runc/go.mod" "$here/runc/go.sum"; echo "runc-static|seccomp|$(go env GOVERSION)") | sha256sum | cut -c1-16)
	out=$cache/runc-static-$key
	if [ ! -f "$out/.complete" ]; then
		ver=$(cd "$here/runc" && go list -m -f '{{.Version}}' "$mod")
		rm -rf "$out" && mkdir -p "$out"
		for arch in amd64 arm64; do
			cc=gcc
			[ "$arch" = arm64 ] && cc=aarch64-linux-gnu-gcc
			echo "building runc ${ver#v} static for $arch" >&2
			(cd "$here/runc" && CGO_ENABLED=1 GOARCH=$arch CC=$cc \
				PKG_CONFIG_LIBDIR=/usr/lib/$($cc -dumpmachine)/pkgconfig \
				go build -trimpath -tags "seccomp netgo osusergo" \
				-ldflags "-s -w -X main.version=${ver#v} -extldflags -static" -o "$out/runc-$arch" "$mod")
		done
		touch "$out/.complete"
	fi
	echo "$out"
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(buildkit containerd runc moby registry act buildx compose kubernetes etcd cni)
if [ "${want[*]}" = runc-static ]; then
	runc_static
	exit 0
fi

# Older checkouts kept bin as a link to one folder; it is a folder of links now.
[ -L "$here/bin" ] && rm "$here/bin"
mkdir -p "$here/bin"
while IFS='|' read -r name tags ldflags pkgs; do
	case " ${want[*]} " in *" $name "*) ;; *) continue ;; esac
	line="$name|$tags|$ldflags|$pkgs|$(go env GOVERSION)"
	key=$( (cat "$here/$name/go.mod" "$here/$name/go.sum"; echo "$line") | sha256sum | cut -c1-16)
	out=$cache/$name-$key
	if [ ! -f "$out/.complete" ]; then
		read -r mod pkglist <<<"$pkgs"
		ver=$(cd "$here/$name" && go list -m -f '{{.Version}}' "$mod")
		[ "$name" = runc ] && ver=${ver#v}
		[ "$name" = moby ] && ver=${ver#v}
		echo "building $name $ver" >&2
		rm -rf "$out" && mkdir -p "$out"
		# Kubernetes reports MAJOR.MINOR apart from its version
		minor=${ver#v} major=${minor%%.*} minor=${minor#*.} minor=${minor%%.*}
		ldflags=${ldflags//MODMAJOR/$major} ldflags=${ldflags//MODMINOR/$minor}
		# shellcheck disable=SC2086 # pkglist is a word list
		(cd "$here/$name" && go build -trimpath -tags "$tags" \
			-ldflags "-s -w ${ldflags//MODVER/$ver}" -o "$out/" $pkglist)
		# the Docker CLI finds Compose by its plugin name
		[ "$name" = compose ] && mv "$out/cmd" "$out/docker-compose"
		# a main package at a /v3 module root is named after the element before
		[ "$name" = etcd ] && mv "$out/server" "$out/etcd"
		touch "$out/.complete"
	fi
	if [ "$name" = cni ]; then
		# CNI plugins have generic names (bridge, loopback) that must not
		# shadow host commands on the daemons' PATH: one link to the folder
		ln -sfn "$out" "$here/bin/cni"
		continue
	fi
	for f in "$out"/*; do
		ln -sfn "$f" "$here/bin/$(basename "$f")"
	done
done < <(tools)
