# xbuild's developer entry points. The README names two: `make demo` and
# `make test`.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := $(CURDIR)/bin/xbuild

.PHONY: all build demo test unit integration env-up env-down bench reliability fuzz install-plugin clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/xbuild

# Installs what is missing, builds the pinned daemons and xbuild, starts the
# test env and runs the main job: a two-platform build with attestations
# loaded into the containerd-store engine. Only what that job needs is
# built (no act, the SBOM generator for this host's platform, no BuildKit
# image); make test builds the rest.
demo: build
	hack/env up --demo
	hack/demo.sh

# Unit tests, then the integration tests against the env's real daemons.
test: build
	hack/env up
	$(GO) vet ./...
	cd hack/sbom-generator && $(GO) vet ./scan && $(GO) test -count=1 ./scan
	eval "$$(hack/env print)" && XBUILD_BIN=$(BIN) $(GO) test -count=1 -timeout 35m ./...

# Tests that need no daemon; the conformance suites (drivers, imagetools) and tests/ need the env.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /tests -e /driver/ -e /imagetoolstest)

integration: build
	eval "$$(hack/env print)" && XBUILD_BIN=$(BIN) $(GO) test -count=1 -timeout 35m ./tests/...

# A benchmark, not a test: xbuild against buildx on the same engine.
bench: build
	hack/env up
	hack/bench.sh

# Figures, not a gate: the reliability scenarios RUNS times (default 3), as
# a table; make test runs each once.
RUNS ?= 3
reliability: build
	hack/env up
	XBUILD_BIN=$(BIN) RUNS=$(RUNS) hack/reliability.sh

# Every parser's fuzzer for FUZZTIME each (make test runs their seeds only).
FUZZTIME ?= 20s
fuzz:
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

env-up:
	hack/env up

env-down:
	hack/env down

# Installs xbuild as a Docker CLI plugin: `docker xbuild ...`.
install-plugin: build
	mkdir -p $(HOME)/.docker/cli-plugins
	install -m 0755 $(BIN) $(HOME)/.docker/cli-plugins/docker-xbuild

clean:
	rm -rf bin
