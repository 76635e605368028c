#!/usr/bin/env bash
# Benchmark, not a test: the same two-platform build of examples/hello with
# provenance, loaded into the containerd-store engine, by xbuild and by buildx
# (both on the engine's own BuildKit, the docker driver), alternating, warm
# cache. Prints each tool's median wall time and the ratio xbuild/buildx
# (goal: at most 1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-7}

hack/tools/build.sh buildx
eval "$(hack/env print)"
export DOCKER_HOST=$XBUILD_TEST_DOCKER_CONTAINERD
export XBUILD_CONFIG=$PWD/bin/bench-config BUILDX_CONFIG=$PWD/bin/bench-buildx-config
export BUILDKIT_PROGRESS=quiet
buildx=hack/tools/bin/buildx
args=(build --platform=linux/amd64,linux/arm64 --load --build-arg "BASE=$XBUILD_TEST_BASE_IMAGE" examples/hello)

now() { date +%s.%N; }
timeit() { # tool args... -> seconds
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>"bin/bench-last.log" || { cat bin/bench-last.log >&2; return 1; }
	t1=$(now)
	awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'; }

echo "warming the cache (one build each)" >&2
timeit bin/xbuild "${args[@]}" -t bench:xbuild >/dev/null
timeit "$buildx" "${args[@]}" -t bench:buildx >/dev/null

xs=() bs=()
for i in $(seq "$runs"); do
	xs+=("$(timeit bin/xbuild "${args[@]}" -t bench:xbuild)")
	bs+=("$(timeit "$buildx" "${args[@]}" -t bench:buildx)")
	echo "run $i: xbuild ${xs[-1]}s buildx ${bs[-1]}s" >&2
done
mx=$(printf '%s\n' "${xs[@]}" | median)
mb=$(printf '%s\n' "${bs[@]}" | median)
printf 'two-platform build, warm cache, --load into the containerd store (%d runs each)\n' "$runs"
printf 'xbuild median %ss\nbuildx median %ss\nratio xbuild/buildx %.3f (goal <= 1.0)\n' "$mx" "$mb" "$(awk -v a="$mx" -v b="$mb" 'BEGIN { print a / b }')"
