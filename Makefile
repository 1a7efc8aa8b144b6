# Entry points. Every target installs missing Debian packages first
# (scripts/install-deps is idempotent and fast when all is present).
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan build-fuzz test demo bench bench-stack \
        bench-contention fault-stack bench-failover bench-crawler fuzz \
        fuzz-planted mutate \
        install deb format clean

all: build

deps:
	@scripts/install-deps

# The tree the tests, the demo and the benchmarks run. -g1: line tables
# only (file:line in profiles and reports); full debug info made it
# compile a third slower (CMAKE_FLAGS can set -g again).
build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
	  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS) -- --no-print-directory

# Unit tests and the PHP module under AddressSanitizer +
# UndefinedBehaviorSanitizer. -g1: line tables only, which is what the
# sanitizers' reports need (file:line of every frame); full debug info
# cost a third of this tree's compile time.
build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSK_SANITIZE=ON \
	  -DSK_BUILD_PHP=ON -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
	  -DCMAKE_C_FLAGS_DEBUG=-g1 >/dev/null
	@cmake --build build-asan -j$(JOBS) -- --no-print-directory

# libFuzzer targets for every parser and decoder (clang). -g1: line tables
# only, enough for file:line in a crash report.
build-fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSK_FUZZ=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
	  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" >/dev/null
	@cmake --build build-fuzz -j$(JOBS) -- --no-print-directory

# Everything: unit, integration, PHP (.phpt), sanitizer and fuzz runs.
# Ends with one line "N passed, N failed".
test: build build-asan build-fuzz
	@scripts/run-tests

# Serves the demo cart app on http://127.0.0.1:8080 (DEMO_PORT to change).
demo: build
	@scripts/demo

bench: build
	@bench/run

# nginx + php-fpm + wrk: every handler and workload side by side.
bench-stack: build
	@bench/stack/bench-stack

# One session, 8/24/64 clients looping n = n + 1: updates/s, lost updates,
# warnings, p99 and per-client spread per handler (issue 23's setting).
bench-contention: build
	@bench/stack/bench-stack --contention

# Kills stores and php-fpm workers under load; reports errors and losses.
fault-stack: build
	@bench/stack/fault-stack

# n = n + 1 from PHP through Redis failovers (Sentinel and Cluster, planned
# and kill -9, default and durable=all): failed requests, lost acknowledged
# updates, outage times (docs/redis.md, "Failover figures").
bench-failover: build
	@bench/failover/run

# A crawler (no cookie, a bot's User-Agent) against the demo shop on Redis,
# with the bot lifetime off and on: the sessions it leaves and their TTLs
# (docs/lifetimes.md, docs/benchmarks.md "Crawler footprint").
bench-crawler: build
	@bench/crawler/run

# Longer fuzzing sessions: FUZZ_SECONDS per target (default 60).
fuzz: build-fuzz
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/run-fuzzers

# Whether each fuzzer finds a crash planted behind its seeds within
# FUZZ_SECONDS (default 10, as in make test); builds build-fuzz-planted.
fuzz-planted: deps
	@scripts/fuzz-planted

# Mutation check: each tests/mutants/ bug (MUTANTS=names) against its tests.
mutate: deps
	@scripts/mutate $(MUTANTS)

install: build
	@cmake --install build

# build/deb/sessionkit_VERSION_ARCH.deb from build/ (docs/packaging.md).
deb: build
	@scripts/make-deb build

format:
	@git ls-files '*.cc' '*.h' '*.c' | xargs clang-format -i

clean:
	@rm -rf build build-asan build-fuzz build-fuzz-planted build-mutate
