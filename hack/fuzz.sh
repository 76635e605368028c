#!/usr/bin/env bash
# Runs every Go fuzzer of the module, one at a time, for FUZZTIME each
# (default 20s), and prints a table: package, fuzzer, result (ok, or the
# failing input the fuzzer wrote under the package's testdata/fuzz/) and
# time. One fuzzer at a time with one worker (FUZZPARALLEL), so the run
# shares the machine. Packages may be given (default ./...), and FUZZ
# picks fuzzers by name (a regexp, default ^Fuzz).
#
#   FUZZTIME=10s hack/fuzz.sh
#   FUZZTIME=1m FUZZ='^FuzzParse$' hack/fuzz.sh ./exporter/
#
# It exits non-zero when a fuzzer fails or a package does not build.
# `go test ./...` runs the seed corpora only; this is what explores.
set -euo pipefail

FUZZTIME="${FUZZTIME:-20s}"
FUZZPARALLEL="${FUZZPARALLEL:-1}"
FUZZ="${FUZZ:-^Fuzz}"
GO="${GO:-go}"
cd "$(dirname "$0")/.."
if [[ $# -eq 0 ]]; then
	set -- ./...
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# go test -list prints, for each package, the fuzzers it holds and then
# "ok <package> <time>", or "FAIL <package> ..." when it cannot list: a
# package that does not build, or a TestMain that refuses to run (tests/
# without its env), which holds no fuzzer of its own.
"$GO" test -list "$FUZZ" "$@" >"$work/list" 2>&1 || true

fuzzers=() # "package fuzzer"
unlisted=()
broken=0
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*)
		if [[ $line =~ ^Fuzz[A-Za-z0-9_]*$ ]]; then
			names+=("$line")
		fi
		;;
	ok\ *)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in "${names[@]+"${names[@]}"}"; do
			fuzzers+=("$pkg $n")
		done
		names=()
		;;
	FAIL\ *|FAIL$'\t'*)
		pkg=$(awk '{print $2}' <<<"$line")
		if [[ $line == *"[build failed]"* || $line == *"[setup failed]"* ]]; then
			broken=1
			unlisted+=("$pkg: does not build")
		elif [[ -n $pkg ]]; then
			unlisted+=("$pkg: could not list its tests (a TestMain that needs more, most likely)")
		fi
		names=()
		;;
	esac
done <"$work/list"

if [[ ${#fuzzers[@]} -eq 0 ]]; then
	cat "$work/list" >&2
	echo "no fuzzers found" >&2
	exit 1
fi

rows=()
failed=0
for entry in "${fuzzers[@]}"; do
	read -r pkg fuzzer <<<"$entry"
	dir=$("$GO" list -f '{{.Dir}}' "$pkg")
	dir=${dir#"$PWD"/}
	echo "fuzzing $pkg $fuzzer for $FUZZTIME" >&2
	start=$(date +%s)
	if "$GO" test -run '^$' -fuzz "^${fuzzer}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" "$pkg" >"$work/out" 2>&1; then
		result=ok
	else
		input=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$work/out" | head -n 1)
		if [[ -n $input ]]; then
			failed=1
			result="FAIL $dir/$input"
		elif grep -q '^    context deadline exceeded$' "$work/out"; then
			# Go's coordinator can report its own -fuzztime deadline as a
			# failure, with no input (go.dev/issue/75804, fixed in Go 1.27).
			result="ok (deadline race of go.dev/issue/75804, no failing input)"
		else
			failed=1
			result="FAIL (no input written: see the output above)"
		fi
		tail -n 40 "$work/out" >&2
	fi
	rows+=("$pkg|$fuzzer|$result|$(($(date +%s) - start))s")
done

module=$("$GO" list -m)
width=6
for row in "${rows[@]}"; do
	IFS='|' read -r _ _ result _ <<<"$row"
	if ((${#result} > width)); then
		width=${#result}
	fi
done
printf '\n%-36s %-28s %-*s %s\n' PACKAGE FUZZER "$width" RESULT TIME
for row in "${rows[@]}"; do
	IFS='|' read -r pkg fuzzer result took <<<"$row"
	printf '%-36s %-28s %-*s %s\n' "${pkg#"$module"/}" "$fuzzer" "$width" "$result" "$took"
done
for u in "${unlisted[@]+"${unlisted[@]}"}"; do
	echo "not fuzzed: $u"
done
if [[ $failed -ne 0 || $broken -ne 0 ]]; then
	exit 1
fi
