# molt - the two commands: `make demo` (the main job) and `make test` (all tests).
# Both install what they need first (scripts/deps.sh is idempotent).
# Other targets: `make build` (release build in build/release), `make bench`, `make clean`,
# `make target-demo` (the Cortex-M port on QEMU, ports/mps2) and `make bench-mps2` (its footprint).
# `make fuzz` (each libFuzzer target for FUZZ_TIME seconds, default 60; docs/fuzzing.md).
# `make install PREFIX=/usr/local` (DESTDIR=... for staging): the release build's library, headers,
# pkg-config file, CMake package, programs, man pages and moltd.service (docs/install.md).

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE  ?= cmake

FUZZ_TIME ?= 60
PREFIX    ?= /usr/local

.PHONY: all build test demo bench deps clean target-demo bench-mps2 fuzz install

all: build

deps:
	@scripts/deps.sh

build: deps
	@$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build build/release -j$(JOBS)

install: build
	@DESTDIR="$(DESTDIR)" $(CMAKE) --install build/release --prefix "$(PREFIX)"

# Tests run on a sanitized build (ASan + UBSan).
test: deps
	@$(CMAKE) -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DMOLT_SANITIZE=ON >/dev/null
	@$(CMAKE) --build build/test -j$(JOBS)
	@cd build/test && ctest --output-on-failure -j$(JOBS)

# KEEP=1: moltd stays up after the demo, for a look at its dashboard (the URL is printed).
demo: build
	@KEEP=$(KEEP) scripts/demo.sh build/release

# The mps2 port (Cortex-M4 and Cortex-M33 on QEMU): boot, update, revert, refusals; ends with a table.
target-demo: build
	@scripts/target-demo.sh build/release/bin/molt build/mps2

bench-mps2: build
	@bench/mps2.sh build/release/bin/molt build/mps2-bench

bench: build
	@$(CMAKE) --build build/release --target bench -j$(JOBS)
	@scripts/bench.sh build/release

fuzz: deps
	@scripts/fuzz.sh build
	@scripts/fuzz.sh run $(FUZZ_TIME)

clean:
	rm -rf build/release build/test build/fuzz build/cov
