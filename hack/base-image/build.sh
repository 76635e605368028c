#!/usr/bin/env bash
# Builds the tests' base image, a multi-platform (linux/amd64, linux/arm64) OCI
# image index made of Debian's busybox-static, and pushes it to a registry.
# Called by hack/env up; can be run alone against any buildkitd.
#
# usage: hack/base-image/build.sh WORKDIR BUILDKIT_ADDR IMAGE
#   WORKDIR        where the debs, the extracted packages and the build context go
#   BUILDKIT_ADDR  buildkitd address for buildctl (unix:///...)
#   IMAGE          name to push, e.g. 127.0.0.1:5555/busybox:latest (pushed over
#                  plain http: the registry is expected to be a local one)
# BUILDCTL (env) is the buildctl binary to use (default: buildctl in PATH).
#
# Needs root (apt-get download for a foreign architecture needs arm64 added to
# dpkg's architectures and apt's lists fetched).
set -euo pipefail

[ $# -eq 3 ] || { sed -n '5,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$1 addr=$2 image=$3
buildctl=${BUILDCTL:-buildctl}
arches=(amd64 arm64)
host_arch=$(dpkg --print-architecture)

log() { echo "base-image: $*" >&2; }

mkdir -p "$work/debs"
work=$(cd "$work" && pwd)

deb_of() { compgen -G "$work/debs/busybox-static_*_$1.deb" | head -n1; }

# 1. the packages, for each architecture
missing=()
for a in "${arches[@]}"; do
	[ -n "$(deb_of "$a")" ] || missing+=("busybox-static:$a")
done
if [ ${#missing[@]} -gt 0 ]; then
	for a in "${arches[@]}"; do
		if [ "$a" != "$host_arch" ] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
			log "dpkg --add-architecture $a"
			dpkg --add-architecture "$a"
		fi
	done
	# a foreign architecture just added has no package lists yet
	lists_ok=true
	for p in "${missing[@]}"; do
		apt-cache show "$p" >/dev/null 2>&1 || lists_ok=false
	done
	if ! $lists_ok; then
		log "apt-get update (package lists for ${arches[*]})"
		apt-get update >&2
	fi
	log "downloading ${missing[*]}"
	(cd "$work/debs" && apt-get -o APT::Sandbox::User=root download "${missing[@]}" >&2)
fi

# 2. a rootfs per architecture: /bin/busybox, every applet as a link to it in the
# folder busybox itself would install it to, /tmp, /root and a root user
ctx=$work/context
stamp=$ctx/.complete
key=$(cat "$(deb_of amd64)" "$(deb_of arm64)" "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
	rm -rf "$ctx" "$work/extract"
	mkdir -p "$ctx"
	for a in "${arches[@]}"; do
		x=$work/extract/$a
		mkdir -p "$x"
		dpkg-deb -x "$(deb_of "$a")" "$x"
	done
	# the applet list of the host's busybox; both packages are the same build of
	# the same version, so the list holds for both
	applets=$("$work/extract/$host_arch/bin/busybox" --list-full | grep -vx -e bin/busybox -e linuxrc | sort)
	[ -n "$applets" ] || { log "error: empty busybox applet list"; exit 1; }
	for a in "${arches[@]}"; do
		r=$ctx/rootfs-$a
		mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp}
		install -m 0755 "$work/extract/$a/bin/busybox" "$r/bin/busybox"
		while read -r p; do
			[ -e "$r/$p" ] || [ -L "$r/$p" ] || ln -s /bin/busybox "$r/$p"
		done <<<"$applets"
		chmod 1777 "$r/tmp"
		chmod 0700 "$r/root"
		printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$r/etc/passwd"
		printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$r/etc/group"
	done
	echo "$key" >"$stamp"
	log "rootfs ready in $ctx ($(wc -l <<<"$applets") applets)"
fi

# 3. build and push one image index for all the architectures
platforms=$(printf 'linux/%s,' "${arches[@]}")
platforms=${platforms%,}
log "building $image for $platforms"
"$buildctl" --addr "$addr" build \
	--progress plain \
	--frontend dockerfile.v0 \
	--local context="$ctx" \
	--local dockerfile="$here" \
	--opt filename=Dockerfile \
	--opt platform="$platforms" \
	--output "type=image,name=$image,push=true,registry.insecure=true,oci-mediatypes=true"
