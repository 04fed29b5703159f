# Front door.  `make demo` runs the main job, `make check` the tests; both
# install the Debian packages they need when missing (as root, or via sudo).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

PKGS := cmake make gcc pkg-config libxen-dev xenstore-utils libyajl-dev \
        libudev-dev libblkid-dev libcmocka-dev clang libclang-rt-14-dev \
        util-linux procps mount e2fsprogs coreutils iproute2
# The Python binding (python/): Debian's interpreter, cffi, pytest, and the
# headers that test_cdef compiles the declarations against.
PKGS += python3 python3-cffi python3-pytest python3-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build build-asan check check-fast check-xen demo fuzz bench clean

all: build

# $(call install_missing,PACKAGES): apt-get installs those not installed.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(PKGS))

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVBD_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVBD_WERROR=ON -DVBD_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The test command: the whole suite on a normal build, then again under
# ASan+UBSan.  Benchmarks are not tests and are not run here.
check: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

check-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Lab tests on real Xen 4.17 (xenlab, ../shared/xenlab: QEMU, about a minute):
# the same xenstore-utils transcript against Xen's xenstored and ours.
check-xen: build
	./tests/xenlab/run.sh $(BUILD)

demo: build
	./examples/demo.sh $(BUILD)

# Coverage-guided fuzzing with clang's libFuzzer; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVBD_FUZZ=ON -DVBD_SANITIZE=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Ratios against a baseline measured in the same run; both CPU placements,
# since on 2 cores an unpinned run lands in either.
# BENCH_QUICK=1: the same runs, short (under a minute).
BENCH_PKGS := xen-utils-common
BENCH_QUICK ?= 0
ifeq ($(BENCH_QUICK),1)
STORE_BENCH_ARGS := --iterations 2000 --rounds 10
DATAPATH_ARGS := --size 64 --seconds 0.2 --rounds 1 --backing file
else
STORE_BENCH_ARGS :=
DATAPATH_ARGS :=
endif
bench: build
	$(call install_missing,$(BENCH_PKGS))
	./$(BUILD)/bench/store_bench --pin same $(STORE_BENCH_ARGS)
	./$(BUILD)/bench/store_bench --pin split $(STORE_BENCH_ARGS)
	$(SUDO) env BENCH_QUICK=$(BENCH_QUICK) ./bench/attach_bench.sh $(BUILD)
	$(SUDO) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS)
	$(SUDO) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS) --backing file --zero-copy

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
