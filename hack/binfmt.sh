#!/usr/bin/env bash
# Makes foreign-architecture binaries (arm64 for now) run on this host through
# qemu-user-static, in a way that also works inside containers: the binfmt_misc
# entry gets the F (fix-binary) flag, so the kernel opens the interpreter at
# registration time and containers need no qemu in their own rootfs.
#
# usage: hack/binfmt.sh ensure  [MARKDIR]  mount binfmt_misc and register qemu-aarch64
#                                          when needed; records what it changed in MARKDIR
#        hack/binfmt.sh restore  MARKDIR   undo exactly what `ensure` recorded in MARKDIR
#        hack/binfmt.sh status             exit 0 when qemu-aarch64 is enabled with flag F
#
# Needs root and the Debian packages qemu-user-static and binfmt-support.
set -euo pipefail

MNT=/proc/sys/fs/binfmt_misc
NAME=qemu-aarch64
ENTRY=$MNT/$NAME

log() { echo "binfmt: $*" >&2; }

mounted() { grep -qs " $MNT binfmt_misc " /proc/mounts; }

# enabled with the F flag?
registered_ok() {
	[ -f "$ENTRY" ] || return 1
	grep -qx enabled "$ENTRY" || return 1
	grep -Eq '^flags: .*F' "$ENTRY"
}

# The registration Debian's qemu-user-static ships (/var/lib/binfmts/qemu-aarch64),
# written by hand for when update-binfmts cannot do it. Flags: P (preserve argv[0],
# which the /usr/libexec/qemu-binfmt/*-P wrapper expects) and F (fix binary).
register_by_hand() {
	local interp=/usr/libexec/qemu-binfmt/aarch64-binfmt-P flags=PF
	if [ ! -e "$interp" ]; then
		interp=/usr/bin/qemu-aarch64-static
		flags=F
	fi
	local magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
	local mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
	printf ':%s:M::%s:%s:%s:%s' "$NAME" "$magic" "$mask" "$interp" "$flags" >"$MNT/register"
}

ensure() {
	local markdir=${1:-}
	[ -n "$markdir" ] && mkdir -p "$markdir"
	if ! mounted; then
		log "mounting binfmt_misc at $MNT"
		mount -t binfmt_misc binfmt_misc "$MNT"
		[ -n "$markdir" ] && touch "$markdir/binfmt-mounted"
	fi
	registered_ok && return 0

	if [ -f "$ENTRY" ]; then
		# registered by someone else without F (or disabled): containers would not
		# find the interpreter, so replace it
		log "replacing $NAME entry that lacks flag F or is disabled: $(tr '\n' ' ' <"$ENTRY")"
		echo -1 >"$ENTRY"
	fi
	log "registering $NAME"
	if command -v update-binfmts >/dev/null &&
		update-binfmts --enable "$NAME" >&2 && registered_ok; then
		:
	else
		log "update-binfmts could not register $NAME, writing the registration by hand"
		[ -f "$ENTRY" ] && echo -1 >"$ENTRY"
		register_by_hand
	fi
	if ! registered_ok; then
		log "error: $NAME is still not registered with flag F:"
		cat "$ENTRY" >&2 2>/dev/null || true
		exit 1
	fi
	[ -n "$markdir" ] && touch "$markdir/binfmt-registered"
	return 0
}

restore() {
	local markdir=$1
	if [ -f "$markdir/binfmt-registered" ]; then
		if [ -f "$ENTRY" ]; then
			log "unregistering $NAME"
			echo -1 >"$ENTRY" || true
		fi
		rm -f "$markdir/binfmt-registered"
	fi
	if [ -f "$markdir/binfmt-mounted" ]; then
		if mounted; then
			log "unmounting $MNT"
			umount "$MNT" || true
		fi
		rm -f "$markdir/binfmt-mounted"
	fi
}

case ${1:-} in
ensure) ensure "${2:-}" ;;
restore)
	[ -n "${2:-}" ] || { echo "usage: $0 restore MARKDIR" >&2; exit 2; }
	restore "$2"
	;;
status) mounted && registered_ok ;;
*)
	echo "usage: $0 ensure [MARKDIR] | restore MARKDIR | status" >&2
	exit 2
	;;
esac
