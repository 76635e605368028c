# xbuild's own release binaries and images, built with xbuild itself through
# docker-bake.hcl (see the targets there). Nothing comes from Docker Hub: the
# base is a busybox image from a registry of one's own (the test env pushes
# one), and Go is the toolchain module the Go module proxy serves, checked
# against the sums below.
ARG BASE_IMAGE=127.0.0.1:5555/busybox:latest
ARG GO_VERSION=1.26.8
ARG GO_SHA256_AMD64=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
ARG GO_SHA256_ARM64=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
ARG GOPROXY=https://proxy.golang.org

# The toolchain runs on the build platform and cross-compiles, so arm64
# binaries cost no emulation.
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS go-amd64
ARG GOPROXY GO_VERSION GO_SHA256_AMD64
ADD --checksum=sha256:${GO_SHA256_AMD64} ${GOPROXY}/golang.org/toolchain/@v/v0.0.1-go${GO_VERSION}.linux-amd64.zip /go.zip

FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS go-arm64
ARG GOPROXY GO_VERSION GO_SHA256_ARM64
ADD --checksum=sha256:${GO_SHA256_ARM64} ${GOPROXY}/golang.org/toolchain/@v/v0.0.1-go${GO_VERSION}.linux-arm64.zip /go.zip

FROM --platform=$BUILDPLATFORM go-${BUILDARCH} AS golang
# Module zips keep no file modes: the tools get their execute bits back.
RUN mkdir /tmp/go && cd /tmp/go && unzip -q /go.zip && rm /go.zip && \
	mkdir -p /usr/local && mv golang.org/toolchain@* /usr/local/go && \
	chmod -R a+x /usr/local/go/bin /usr/local/go/pkg/tool && \
	rm -rf /tmp/go
# The proxy is reached over TLS: the CA bundle comes from the named
# context "certs" (the host's /etc/ssl/certs in docker-bake.hcl).
COPY --from=certs ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ARG GOPROXY
ENV PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local CGO_ENABLED=0 \
	GOFLAGS="-trimpath -buildvcs=false" GOPROXY=${GOPROXY} \
	GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
WORKDIR /src

FROM golang AS xbuild-build
ARG TARGETOS TARGETARCH VERSION=dev
RUN --mount=type=bind,target=. \
	--mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w -X main.version=${VERSION}" \
		-o /out/xbuild-$TARGETOS-$TARGETARCH ./cmd/xbuild && \
	cd /out && sha256sum xbuild-$TARGETOS-$TARGETARCH >xbuild-$TARGETOS-$TARGETARCH.sha256

# Static xbuild binaries named as release assets (xbuild-OS-ARCH and its
# .sha256, what the GitHub Action's `version` input downloads); a local
# output with platform-split=false puts every platform's in one folder.
FROM scratch AS binaries
COPY --from=xbuild-build /out/ /

# The generator's tests alone (bake target sbom-generator-test).
FROM golang AS sbom-generator-test
WORKDIR /src/hack/sbom-generator
RUN --mount=type=bind,target=/src \
	--mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	go test ./...

# The build for the build platform runs the tests too, after the compile so
# they reuse it: as a stage of their own they would compile the same
# packages a second time alongside it. No image when they fail.
FROM golang AS sbom-generator-build
ARG TARGETOS TARGETARCH BUILDARCH
WORKDIR /src/hack/sbom-generator
RUN --mount=type=bind,target=/src \
	--mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w" -o /out/bin/sbom-generator . && \
	if [ "$TARGETARCH" = "$BUILDARCH" ]; then go test ./...; fi
RUN mkdir -p /out/tmp && chmod 1777 /out/tmp

# The SBOM generator: BuildKit runs it with the rootfs to scan, see
# hack/sbom-generator. syft writes scratch files under TMPDIR.
FROM scratch AS sbom-generator
COPY --from=sbom-generator-build /out/ /
ENV TMPDIR=/tmp
ENTRYPOINT ["/bin/sbom-generator"]

# BuildKit for the docker-container driver, from the pinned module in
# hack/tools/buildkit: static buildkitd and buildctl (the driver reaches the
# daemon through `buildctl dial-stdio`), cross-compiled like xbuild.
FROM golang AS buildkit-build
ARG TARGETOS TARGETARCH
WORKDIR /src/hack/tools/buildkit
RUN --mount=type=bind,target=/src \
	--mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	ver=$(go list -m -f '{{.Version}}' github.com/moby/buildkit) && \
	GOOS=$TARGETOS GOARCH=$TARGETARCH go build \
		-ldflags "-s -w -X github.com/moby/buildkit/version.Version=$ver" \
		-o /out/usr/bin/ github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
RUN mkdir -p /out/var/lib/buildkit /out/etc/buildkit /out/tmp && chmod 1777 /out/tmp

# The image: buildkitd on the busybox base (a shell for debugging), with the
# pinned runc, built static for both platforms on the host (named context
# "runc", from `hack/tools/build.sh runc-static`), laid out as BuildKit's own
# image is so a builder's flags and config mean the same.
FROM ${BASE_IMAGE} AS buildkit
ARG TARGETARCH
COPY --from=buildkit-build /out/ /
COPY --from=runc runc-${TARGETARCH} /usr/bin/runc
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
