# snakepit-wasm: `make` installs what the build needs, builds python.wasm
# (cached) and runs the example; `make test` runs the tests.
SHELL := /bin/bash
GO ?= go
# The build's cache, as wasm/python.wasm.build/build.sh reads it (shell syntax).
CACHE := $${SNAKEPIT_CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/snakepit-wasm}
DEBS := clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32 wabt dpkg-dev patch xz-utils bzip2 make ca-certificates

.PHONY: all deps python-wasm testdata example test check bench bench-quick clean-cache

all: python-wasm example

# Installs the build's Debian packages, only when one is missing.
deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is required (go.mod)"; exit 1; }

python-wasm: deps
	@wasm/python.wasm.build/build.sh

example: python-wasm
	$(GO) run ./examples/hello

# internal/wasmedit's test modules, from their sources (git holds no .wasm).
testdata: python-wasm
	@internal/wasmedit/testdata/build.sh "$(CACHE)/python-wasm/current"

test: python-wasm testdata
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -race -count=1 -timeout 30m ./...

bench: python-wasm
	$(GO) run ./bench/cmd/bench

bench-quick: python-wasm
	$(GO) run ./bench/cmd/bench -quick

clean-cache:
	rm -rf "$(CACHE)"
