# A thin front over CMake and scripts. `make run` and `make test` are the
# two commands of SPEC section 1; everything else is a convenience.
BUILD      ?= build
SAN_BUILD  ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
RUN_ARGS   ?=

.PHONY: all deps build san run test test-fast test-san clean peers conformance

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

san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOOPLAB_ASAN=ON \
	  -DLOOPLAB_UBSAN=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

run: build
	./$(BUILD)/looplab $(RUN_ARGS)

# The peers' conformance runs in this pass only (not again under the
# sanitizers: they test the peers, not looplab's memory).
test-fast: peers
	@cmake -S . -B $(BUILD) -DLOOPLAB_PEER_TESTS=ON >/dev/null
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: san
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

test: test-fast test-san

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
