#!/usr/bin/env bash
# Benchmarks, not tests: xbuild against buildx on the same daemons, measured
# in the same run, alternating. Prints medians and the ratio xbuild/buildx.
#
#   hack/bench.sh [build] [load] [bake]   (default: all)
#
# build: the two-platform build of examples/hello with provenance, loaded
#        into the containerd-store engine by its own BuildKit (docker
#        driver), warm cache. Goal: ratio <= 1.0.
# load:  a remote buildkitd and a 300 MB image; change one small file, build,
#        --load into the containerd-store engine. xbuild loads incrementally,
#        buildx sends the whole archive. Goals: warm ratio <= 0.15, first
#        (cold) load ratio <= 1.05.
# bake:  a group of 8 two-platform targets, warm cache, docker driver,
#        --load into the containerd-store engine. Goal: ratio <= 1.0.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-5}
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(build load bake)

hack/tools/build.sh buildx >&2
eval "$(hack/env print)"
export DOCKER_HOST=$XBUILD_TEST_DOCKER_CONTAINERD
export XBUILD_CONFIG=$PWD/bin/bench/xbuild-config BUILDX_CONFIG=$PWD/bin/bench/buildx-config
export BUILDKIT_PROGRESS=quiet
mkdir -p bin/bench
log=$PWD/bin/bench/last.log
buildx=hack/tools/bin/buildx

timeit() { # command... -> seconds on stdout
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$log" || { cat "$log" >&2; return 1; }
	t1=$(date +%s.%N)
	awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a / b }'; }

bench_build() {
	local args=(build --platform=linux/amd64,linux/arm64 --load --build-arg "BASE=$XBUILD_TEST_BASE_IMAGE" examples/hello)
	echo "build: warming the cache" >&2
	timeit bin/xbuild "${args[@]}" -t bench:xbuild >/dev/null
	timeit "$buildx" "${args[@]}" -t bench:buildx >/dev/null
	local xs=() bs=()
	for i in $(seq "$runs"); do
		xs+=("$(timeit bin/xbuild "${args[@]}" -t bench:xbuild)")
		bs+=("$(timeit "$buildx" "${args[@]}" -t bench:buildx)")
		echo "build run $i: xbuild ${xs[-1]}s buildx ${bs[-1]}s" >&2
	done
	local mx mb
	mx=$(printf '%s\n' "${xs[@]}" | median)
	mb=$(printf '%s\n' "${bs[@]}" | median)
	printf 'build (two platforms, warm cache, docker driver, --load into containerd store, %d runs): xbuild %ss, buildx %ss, ratio %s (goal <= 1.0)\n' \
		"$runs" "$mx" "$mb" "$(ratio "$mx" "$mb")"
}

bench_load() {
	local ctx=bin/bench/load-context
	rm -rf "$ctx" && mkdir -p "$ctx"
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $XBUILD_TEST_BASE_IMAGE
ARG SEED
RUN echo \$SEED > /seed && head -c 300000000 /dev/urandom > /big
COPY small.txt /small.txt
DOCKERFILE
	"$buildx" rm bench-remote >/dev/null 2>&1 || true
	"$buildx" create --name bench-remote --driver remote "$XBUILD_TEST_BUILDKIT" >/dev/null
	bin/xbuild rm bench-remote >/dev/null 2>&1 || true
	bin/xbuild create --name bench-remote --driver remote "$XBUILD_TEST_BUILDKIT" >/dev/null
	local seed=$RANDOM$RANDOM
	local xargs=(build --builder bench-remote --platform linux/amd64 --provenance=false --load --build-arg "SEED=x$seed" -t bench-load:xbuild "$ctx")
	local bargs=(build --builder bench-remote --platform linux/amd64 --provenance=false --load --build-arg "SEED=b$seed" -t bench-load:buildx "$ctx")
	echo "load: first (cold) loads, 300 MB each" >&2
	date +%s%N >"$ctx/small.txt"
	local cx cb
	cx=$(timeit bin/xbuild "${xargs[@]}")
	cb=$(timeit "$buildx" "${bargs[@]}")
	local xs=() bs=()
	for i in $(seq "$runs"); do
		date +%s%N >"$ctx/small.txt"
		xs+=("$(timeit bin/xbuild "${xargs[@]}")")
		date +%s%N >"$ctx/small.txt"
		bs+=("$(timeit "$buildx" "${bargs[@]}")")
		echo "load run $i: xbuild ${xs[-1]}s buildx ${bs[-1]}s" >&2
	done
	local mx mb
	mx=$(printf '%s\n' "${xs[@]}" | median)
	mb=$(printf '%s\n' "${bs[@]}" | median)
	printf 'load, cold (remote driver, 300 MB, first load): xbuild %ss, buildx %ss, ratio %s (goal <= 1.05)\n' "$cx" "$cb" "$(ratio "$cx" "$cb")"
	printf 'load, one small file changed (remote driver, 300 MB, %d runs): xbuild %ss, buildx %ss, ratio %s (goal <= 0.15)\n' \
		"$runs" "$mx" "$mb" "$(ratio "$mx" "$mb")"
	docker image rm bench-load:xbuild bench-load:buildx >/dev/null 2>&1 || true
}

bench_bake() {
	local dir=bin/bench/bake
	rm -rf "$dir" && mkdir -p "$dir" && cp examples/hello/* "$dir/"
	cat >"$dir/docker-bake.hcl" <<HCL
group "default" { targets = ["t"] }
target "t" {
  name = "t\${i}"
  matrix = { i = ["1", "2", "3", "4", "5", "6", "7", "8"] }
  args = { BASE = "$XBUILD_TEST_BASE_IMAGE", N = i }
  platforms = ["linux/amd64", "linux/arm64"]
  tags = ["bench-bake/t\${i}:latest"]
}
HCL
	echo "bake: warming the cache" >&2
	(cd "$dir" && timeit ../../xbuild bake --load >/dev/null && timeit "../../../hack/tools/bin/buildx" bake --load >/dev/null)
	local xs=() bs=()
	for i in $(seq "$runs"); do
		xs+=("$(cd "$dir" && timeit ../../xbuild bake --load)")
		bs+=("$(cd "$dir" && timeit ../../../hack/tools/bin/buildx bake --load)")
		echo "bake run $i: xbuild ${xs[-1]}s buildx ${bs[-1]}s" >&2
	done
	local mx mb
	mx=$(printf '%s\n' "${xs[@]}" | median)
	mb=$(printf '%s\n' "${bs[@]}" | median)
	printf 'bake (8 targets x 2 platforms, warm cache, docker driver, --load into containerd store, %d runs): xbuild %ss, buildx %ss, ratio %s (goal <= 1.0)\n' \
		"$runs" "$mx" "$mb" "$(ratio "$mx" "$mb")"
}

for c in "${cases[@]}"; do
	"bench_$c"
done
