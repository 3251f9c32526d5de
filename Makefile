# snakepit-wasm: `make` installs what the build needs, builds python.wasm
# (cached) and runs the example; `make test` runs the tests.
SHELL := /bin/bash
GO ?= go
# The build's cache, as wasm/python.wasm.build/build.sh reads it (shell syntax).
CACHE := $${SNAKEPIT_CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/snakepit-wasm}
DEBS := clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32 wabt dpkg-dev patch xz-utils bzip2 make ca-certificates gcc libc6-dev tcl ninja-build g++

EMBED := wasm/embedded
EMBEDDED := python.wasm.gz stdlib.zip zoneinfo.zip MANIFEST
# The numpy and pandas variants (wasm/python.wasm.build/numpy, /pandas),
# embedded by packages wasm/numpy and wasm/pandas; copied and compared by
# variants.sh, only when the recipe could build them.
CROSS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64

.PHONY: mcp-ts-check all deps test-deps pytest-pkg python-wasm embedded check-embedded cross testdata example test check bench bench-quick bench-debian profile soak sandbox-slow fuzz stdlib-tests numpy-tests numpy-bench pandas-tests pandas-bench pgo-profile clean-cache bench-sessions

all: python-wasm example

# apt-install installs those of the Debian packages $(1) that are missing.
define apt-install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

# Installs the build's Debian packages, only when one is missing.
deps:
	$(call apt-install,$(DEBS))
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is required (go.mod)"; exit 1; }

# What the tests need beyond the build: Debian's redis-server, which the
# Redis session store's tests start (internal/testredis; skipped without
# it, failed under CI).
TEST_DEBS := redis-server
test-deps:
	$(call apt-install,$(TEST_DEBS))

python-wasm: deps
	@wasm/python.wasm.build/build.sh

example:
	$(GO) run ./examples/hello

# Maintainers: after changing the recipe or internal/abi/guest/snakepit.c, copy the
# rebuilt interpreter, and the numpy and pandas variants when the recipe
# built them (their inputs are in the download cache:
# wasm/python.wasm.build/README.md), into the module (and commit them once
# the change is done).
embedded: python-wasm
	@for f in $(EMBEDDED); do cp "$(CACHE)/python-wasm/current/embed/$$f" $(EMBED)/$$f; done
	@cat $(EMBED)/MANIFEST
	@wasm/python.wasm.build/variants.sh copy "$(CACHE)"

# The embedded interpreter must be exactly what the recipe builds; so must
# the numpy and pandas variants, when the recipe could build them. Without
# numpy's source in the download cache (CI's case on a new machine:
# Debian's mirror does not serve it) their comparison is skipped, and says
# so; the variants' tests still check their files against their MANIFEST
# and their ABI and stdlib against the default interpreter's.
check-embedded: python-wasm
	@for f in $(EMBEDDED); do cmp -s "$(CACHE)/python-wasm/current/embed/$$f" $(EMBED)/$$f || \
	  { echo "$(EMBED)/$$f differs from what the recipe builds ($(CACHE)/python-wasm/current/embed/$$f): run 'make embedded' and commit"; exit 1; }; done
	@echo "embedded interpreter matches the recipe: $$(grep python.wasm $(EMBED)/MANIFEST | head -1)"
	@wasm/python.wasm.build/variants.sh check "$(CACHE)"

# The module builds for every platform Go users are likely to have.
cross:
	@for t in $(CROSS); do echo "go vet + build $$t"; \
	  GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./... && GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build ./... || exit 1; done

# internal/wasmedit's test modules, from their sources (git holds no .wasm).
testdata: python-wasm
	@internal/wasmedit/testdata/build.sh "$(CACHE)/python-wasm/current"

# Debian's pytest for internal/pytestpkg's test, pinned (fetch.sh).
pytest-pkg:
	@internal/pytestpkg/fetch.sh

test: test-deps python-wasm testdata pytest-pkg check-embedded cross
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -race -count=1 -timeout 30m ./...

# The soak test at full size: 100,000 calls, 10% hostile, across every mode
# (5 minutes on the 2-core VM when it is otherwise idle). Memory is measured
# after FreeOSMemory (raw RSS also holds freed Go heap not yet returned,
# which follows recent transient peaks): its median over the second half of
# the calls must stay within 10% of the median from warm-up (10%) to 55%,
# and once the pools close RSS, less Go's free pages, stacks and metadata
# (which follow the peak heap, not the calls), must be back within 10% of
# before them. SECURITY.md has the figures and where the memory goes.
soak: python-wasm
	SNAKEPIT_SOAK_REQUESTS=100000 $(GO) test -count=1 -timeout 3h -run TestSoak -v ./sandbox

# 100,000 sessions held by a pool whose live sessions' memory
# MaxSessionMemory (256 MiB) bounds, the rest spilled to a directory
# store in $$TMPDIR (about 170 KiB an image: 17 GB), then each resumed
# (pool.BenchmarkSpilledSessions; bench/results/issue29 has the numbers).
# SNAKEPIT_SESSIONS and SNAKEPIT_SESSION_MEMORY (MiB) change the sizes.
bench-sessions:
	SNAKEPIT_SESSIONS=$${SNAKEPIT_SESSIONS:-100000} SNAKEPIT_SESSION_MEMORY=$${SNAKEPIT_SESSION_MEMORY:-256} \
	  $(GO) test -count=1 -timeout 12h -run '^$$' -bench '^BenchmarkSpilledSessions$$' -benchtime 1x -v ./pool

# The attack suite's rows that take seconds in each mode.
sandbox-slow: python-wasm
	SNAKEPIT_SANDBOX_SLOW=1 $(GO) test -race -count=1 -timeout 30m -run TestAttacks ./sandbox

# Every test module of CPython's Lib/test inside the sandbox, each in a
# fresh interpreter and in a snapshot clone; writes wasm/STDLIB-TESTS.md and
# wasm/stdlib-tests.json (hours on the 2-core VM; niced, at most 2 at once).
# SNAKEPIT_STDLIB_DIR selects the interpreter (default: the local build, or
# its test/ variant when it has one); STDLIB_FLAGS adds the command's flags
# (-modules test_json,test_re, -timeout 10m, -memory 1024, -logs DIR).
STDLIB_FLAGS ?=
# Retrains the profile-guided build's profile (wasm/python.wasm.build/pgo.sh,
# about an hour: an instrumented stage 1 and CPython's PGO task under wazero);
# then `make python-wasm embedded` and commit the profile with the interpreter.
pgo-profile: deps
	@wasm/python.wasm.build/pgo.sh

stdlib-tests: python-wasm
	nice -n 15 $(GO) run ./internal/stdlibtest/cmd/stdlib-tests -parallel 2 $(STDLIB_FLAGS)

# numpy's own tests inside the embedded numpy variant (what the module
# ships, byte for byte what the recipe builds), each test file in a fresh
# instance, under pytest and hypothesis (Debian's, unpacked for the guest by
# numpy/testtools.sh); writes wasm/NUMPY-TESTS.md. The tests come from
# numpy's pinned source in NUMPY_DOWNLOADS (numpy/tests-tree.sh); building
# the variant is not needed. NUMPY_TESTS selects the files (comma-separated,
# relative to the tests tree), default the subset in wasm/numpy/suite_test.go.
NUMPY_TESTS ?= 1
NUMPY_DOWNLOADS ?= $(CACHE)/downloads
numpy-tests:
	@wasm/python.wasm.build/numpy/testtools.sh "$(CACHE)/downloads" "$(CACHE)/python-wasm/numpy/testtools"
	@wasm/python.wasm.build/numpy/tests-tree.sh "$(NUMPY_DOWNLOADS)" "$(CACHE)/python-wasm/numpy/tests"
	SNAKEPIT_NUMPY_SUITE=$(NUMPY_TESTS) SNAKEPIT_NUMPY_TESTS="$(CACHE)/python-wasm/numpy/tests" SNAKEPIT_NUMPY_TESTTOOLS="$(CACHE)/python-wasm/numpy/testtools" \
	  SNAKEPIT_NUMPY_SUITE_OUT=$(CURDIR)/wasm/NUMPY-TESTS.md nice -n 15 $(GO) test -count=1 -timeout 3h -run TestNumpySuite -v ./wasm/numpy

# pandas' own tests inside the pandas variant as the recipe built it (its
# pandas-tests/ come with the build), each test file in a fresh instance;
# the counts and causes go to the log. PANDAS_TESTS selects the files
# (comma-separated), default the subset in wasm/pandas/suite_test.go.
PANDAS_TESTS ?= 1
pandas-tests: python-wasm
	@wasm/python.wasm.build/numpy/testtools.sh "$(CACHE)/downloads" "$(CACHE)/python-wasm/numpy/testtools"
	@wasm/python.wasm.build/pandas/testzones.sh "$(CACHE)/downloads" "$(CACHE)/python-wasm/pandas/testzones"
	SNAKEPIT_PANDAS_DIR="$(CACHE)/python-wasm/pandas/current" SNAKEPIT_PANDAS_SUITE=$(PANDAS_TESTS) SNAKEPIT_PANDAS_TESTTOOLS="$(CACHE)/python-wasm/numpy/testtools" \
	  SNAKEPIT_PANDAS_TESTZONES="$(CACHE)/python-wasm/pandas/testzones" \
	  $(GO) test -count=1 -timeout 3h -run TestPandasSuite -v ./wasm/pandas

# The pandas variant against Debian trixie's pandas (pandas/native.sh puts
# it beside the variant; bench-debian has trixie's python3.13 and numpy): a
# pandas-ready interpreter, and a DataFrame workload.
pandas-bench: python-wasm bench-debian
	SNAKEPIT_PANDAS_DIR="$(CACHE)/python-wasm/pandas/current" $(GO) test -count=1 -run '^$$' -bench 'BenchmarkPandasReady' -benchtime 100x ./wasm/pandas
	SNAKEPIT_PANDAS_DIR="$(CACHE)/python-wasm/pandas/current" $(GO) test -count=1 -run '^$$' -bench 'BenchmarkPandasWorkload' -benchtime 1x -timeout 30m ./wasm/pandas

# The numpy variant against native numpy of the same source (numpy/native.sh
# builds it into the variant's native-site/): a fresh numpy-ready
# interpreter, and kernels.
numpy-bench: python-wasm
	SNAKEPIT_NUMPY_DIR="$(CACHE)/python-wasm/numpy/current" $(GO) test -count=1 -run '^$$' -bench 'BenchmarkNumpy' -benchtime 200x ./wasm/numpy

# Each fuzz target for FUZZTIME (default 2m), one after the other, one
# worker each (the wasm targets hold an instance per worker).
FUZZTIME ?= 2m
FUZZ := internal/abi:FuzzDecode internal/abi:FuzzMarshalJSON runtime:FuzzValidate runtime:FuzzHostCall runtime:FuzzEmit runtime:FuzzGuestResult internal/scratchfs:FuzzFS cmd/snakepit:FuzzMCPLines
fuzz: python-wasm
	@set -e; for f in $(FUZZ); do echo "$$f ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${f#*:}\$$" -fuzztime $(FUZZTIME) -parallel 1 ./$${f%%:*}; done

# Where the CPU suite's time goes, by wasm function (RATIONALE.md): perf
# over the suite on the build's python.wasm that keeps its names.
profile: python-wasm
	$(GO) build -tags perfmap -o /tmp/snakepit-wasmprof ./bench/cmd/wasmprof
	perf record -F 999 -e cpu-clock -o /tmp/snakepit-perf.data /tmp/snakepit-wasmprof -dir "$(CACHE)/python-wasm/current/profile"
	@perf report -i /tmp/snakepit-perf.data --no-children --sort sym --stdio 2>/dev/null | \
	  awk '$$3 ~ /python\.wasm\./ { n = $$3; sub(/:::::L[0-9]+$$/, "", n); sub(/^.*python\.wasm\./, "", n); p[n] += $$1; t += $$1 } \
	  END { for (k in p) printf "%6.2f%% of wasm time  %s\n", 100 * p[k] / t, k }' | sort -rn | head -40

# The full run writes the published results (bench/results); the quick run
# writes bench/results/quick, so that a quick check leaves them alone.
bench: python-wasm bench-debian
	$(GO) run ./bench/cmd/bench

bench-quick: python-wasm bench-debian
	$(GO) run ./bench/cmd/bench -quick

# The bench's second native baseline, Debian trixie's own python3.13 (PGO
# and LTO), and the real-code workloads' libraries: pinned .debs unpacked
# into the cache (bench/debian/fetch.sh).
bench-debian:
	@bench/debian/fetch.sh "$(CACHE)/downloads" "$(CACHE)/bench-debian"

clean-cache:
	rm -rf "$(CACHE)"

# The official MCP TypeScript client (npm, pinned by package-lock.json)
# against `snakepit mcp`: every answer, capped large ones included, reaches
# it and the session lives on. Needs node and npm.
mcp-ts-check:
	$(GO) build -o cmd/snakepit/testdata/tsclient/snakepit ./cmd/snakepit
	cd cmd/snakepit/testdata/tsclient && npm ci --no-audit --no-fund --silent && node check.mjs ./snakepit
