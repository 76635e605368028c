#!/usr/bin/env bash
# The main job: build examples/hello for linux/amd64 and linux/arm64 with
# provenance and an SBOM, load the index into the containerd-store engine of
# the test env, and show what landed.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(hack/env print)"
export DOCKER_HOST=$XBUILD_TEST_DOCKER_CONTAINERD
export XBUILD_CONFIG=${XBUILD_CONFIG:-$PWD/bin/demo-config}
# the SBOM generator hack/env up built and pushed (hack/sbom-generator)
export XBUILD_SBOM_GENERATOR=$XBUILD_TEST_SBOM_GENERATOR
tag=hello:demo

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "xbuild build --platform=linux/amd64,linux/arm64 --sbom=true --provenance=mode=max --load -t $tag examples/hello"
bin/xbuild build --platform=linux/amd64,linux/arm64 --sbom=true --provenance=mode=max --load -t "$tag" \
	--build-arg "BASE=$XBUILD_TEST_BASE_IMAGE" --metadata-file bin/demo-metadata.json examples/hello

step "the builder and its image store"
bin/xbuild ls

step "docker image ls --tree $tag"
docker image ls --tree "$tag"

step "manifests the engine holds for $tag (GET /images/$tag/json?manifests=1)"
curl -fsS --unix-socket "${DOCKER_HOST#unix://}" "http://engine/images/$tag/json?manifests=1" | jq -r '.Manifests[] |
	if .Kind == "image" then "image        \(.ImageData.Platform.os)/\(.ImageData.Platform.architecture)  \(.ID)"
	elif .Kind == "attestation" then "attestation  for \(.AttestationData.For)"
	else "\(.Kind)  \(.ID)" end'

for p in linux/amd64 linux/arm64; do
	step "docker run --rm --platform $p $tag"
	docker run --rm --platform "$p" "$tag"
done

step "xbuild imagetools inspect --local $tag"
bin/xbuild imagetools inspect --local "$tag"

step "metadata file (bin/demo-metadata.json)"
cat bin/demo-metadata.json
printf '\nThe demo engine is still running: export DOCKER_HOST=%s to use it; `hack/env down` stops it.\n' "$DOCKER_HOST"
