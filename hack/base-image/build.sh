#!/usr/bin/env bash
# Prepares the tests' base image: Debian's busybox-static for linux/amd64 and
# linux/arm64, unpacked into one root filesystem per architecture
# (WORKDIR/context/rootfs-ARCH). The repository's docker-bake.hcl builds the
# image from them (target base-image, BASE_IMAGE_CONTEXT=WORKDIR/context);
# hack/env up does both and pushes it.
#
# usage: hack/base-image/build.sh WORKDIR
#   WORKDIR  where the debs, the extracted packages and the root filesystems go
#
# Needs root (apt-get download for a foreign architecture needs arm64 added to
# dpkg's architectures and apt's lists fetched).
set -euo pipefail

[ $# -eq 1 ] || { sed -n '8,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }
work=$1
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
