# A thin front over CMake and scripts. `make run` and `make test` are the
# two commands of SPEC section 1; everything else is a convenience.
BUILD      ?= build
SAN_BUILD  ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
RUN_ARGS   ?=

.PHONY: all deps build san run test test-fast test-san test-tsan clean peers conformance \
  fuzz-build fuzz test-fuzz bench bench-report format format-check perf test-scaleout

all: build

deps:
	@./deps/install

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The study's Node (Fastify + postgres) and Go (chi + sqlx) servers
# (bench/peers/, docs/peers.md): npm ci and go build, each only when needed.
peers: build
	@./bench/peers/install $(BUILD)

# make conformance IMPL=looplab|node|node-cluster|node-pool|go
IMPL ?= looplab
conformance: peers
	@./test/conformance/run-impl $(IMPL) $(BUILD)

# make bench: the study's matrix, the ceilings and the event-loop experiments
# side by side (docs/reproduce.md); writes bench/results/<stamp>/ and
# docs/results.md. BENCH_ARGS='--protocol smoke --only looplab,node' runs a part.
BENCH_ARGS ?=
bench: peers
	@./bench/reproduce --docs $(BENCH_ARGS)

# make bench-report DIR=bench/results/<stamp>: the page again, from results.json.
bench-report:
	@test -n "$(DIR)" || { echo "make bench-report DIR=bench/results/<stamp>" >&2; exit 2; }
	@node bench/report/report.js $(DIR) --docs

# make perf: issue 11's benchmark (docs/benchmarking.md, "make perf"): looplab,
# go, node (single and cluster) and pgbench interleaved on the same machine,
# and the xform_run micro-benchmark; about 15 min on 2 cores; writes
# bench/results/perf-<stamp>/ and the "make perf" section of docs/results.md.
# PERF_ARGS='--quick' runs a few seconds a cell (and leaves the docs alone).
PERF_ARGS ?=
perf: peers
	@./bench/perf --build $(BUILD) --docs $(PERF_ARGS)

san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOOPLAB_ASAN=ON \
	  -DLOOPLAB_UBSAN=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

# make run [PORT=9090] [WORKERS=2] [RUN_ARGS='--pool 4']: builds quietly (the
# compiler's output only if it fails), says where it serves, runs in the
# foreground (Ctrl-C stops it).
run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target looplab >$(BUILD)/run-build.log 2>&1 \
	  || { cat $(BUILD)/run-build.log; exit 1; }
	@echo "looplab: serving http://$${HOST:-127.0.0.1}:$(or $(PORT),$${PORT:-8080}) (Ctrl-C stops it)"
	@$(if $(PORT),PORT=$(PORT)) $(if $(WORKERS),WORKERS=$(WORKERS)) ./$(BUILD)/looplab $(RUN_ARGS)

# The peers' conformance runs in this pass only (not again under the
# sanitizers: they test the peers, not looplab's memory).
# prometheus gives integration/observability Prometheus's own promtool.
test-fast: peers
	@LOOPLAB_EXTRA_PKGS=prometheus ./deps/install
	@cmake -S . -B $(BUILD) -DLOOPLAB_PEER_TESTS=ON >/dev/null
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: san
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer (Debug) over what runs on more than one thread: the W3
# pool mode (integration/transform, integration/blocking: uv_queue_work and
# the pool's atomics) and the unit suite (the metrics histograms and merge,
# the transform). The pg fixture comes with the integration tests. Every
# entry of test/tsan.supp says why it is there.
TSAN_BUILD ?= build-tsan
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOOPLAB_TSAN=ON \
	  -DLOOPLAB_LOADGEN=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target looplab looplab-unit looplab-testpg \
	  it-transform it-blocking
	cd $(TSAN_BUILD) && \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" \
	  LOOPLAB_TEST_SLOW=3 \
	  ctest --output-on-failure -j $(JOBS) -R '^(unit|integration/transform|integration/blocking)$$'

# libFuzzer harnesses (test/fuzz, docs/reliability.md "Fuzzing"): clang
# with ASan+UBSan. CI= keeps -Werror off here: clang is not the compiler
# CI's warnings are held to.
FUZZ_TARGETS = xform validate pgtext metrics ipc http
fuzz-build:
	@./test/fuzz/install-clang
	@CI= cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DLOOPLAB_FUZZ=ON \
	  -DLOOPLAB_TESTS=OFF -DLOOPLAB_LOADGEN=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

# make fuzz FUZZ_SECONDS=300: each harness in turn. Inputs that add
# coverage go to $(FUZZ_BUILD)/corpus/<target>/; a crash goes to
# test/fuzz/corpus/<target>/ (commit it: it stays a regression input).
fuzz: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  ./$(FUZZ_BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -artifact_prefix=test/fuzz/corpus/$$t/ $(FUZZ_BUILD)/corpus/$$t test/fuzz/corpus/$$t \
	    2>$(FUZZ_BUILD)/fuzz/$$t.log || { fail=1; echo "fuzz_$$t FOUND A CRASH"; }; \
	  grep -E '^(#[0-9]+.*DONE|Done|SUMMARY|==[0-9]+==ERROR)' $(FUZZ_BUILD)/fuzz/$$t.log; \
	done; exit $$fail

# The regression pass of make test: each harness over its corpus only.
test-fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  log=$(FUZZ_BUILD)/fuzz/$$t.log; \
	  if ./$(FUZZ_BUILD)/fuzz/fuzz_$$t -runs=0 -timeout=10 \
	    -artifact_prefix=$(FUZZ_BUILD)/fuzz/$$t- test/fuzz/corpus/$$t >$$log 2>&1; \
	  then echo "fuzz_$$t: $$(tail -n 1 $$log)"; else cat $$log; exit 1; fi; \
	done

test: test-fast test-san test-tsan test-fuzz

# Issue 13's loopback scale-out test (test/scaleout/run, docs/scaling.md):
# a PostgreSQL primary, a streaming replica, PgBouncer, two looplab
# instances and HAProxy, configured from deploy/, under looplab-load while
# an instance is SIGTERMed and SIGKILLed, PgBouncer restarted and the
# replica stopped. About 70 s on 2 cores; needs root. .ci/run runs it
# after `make test` (whose 10-minute budget it would break). haproxy and
# pgbouncer come from Debian, installed only once.
test-scaleout: build
	@LOOPLAB_EXTRA_PKGS="haproxy pgbouncer" ./deps/install
	./test/scaleout/run $(BUILD)

# The committed .clang-format over every tracked C file. CI runs
# format-check (.ci/run); `make format` rewrites the files in place.
format-check:
	@LOOPLAB_EXTRA_PKGS=clang-format ./deps/install
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror && echo "format-check: ok"

format:
	@LOOPLAB_EXTRA_PKGS=clang-format ./deps/install
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
