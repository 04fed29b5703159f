# Front door.  `make demo` runs the main job, `make check` the tests; both
# install the Debian packages they need when missing (as root, or via sudo).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
PREFIX     ?= /usr/local
DEB_OUT    ?= build-deb

PKGS := cmake make gcc pkg-config libxen-dev xenstore-utils libyajl-dev \
        libudev-dev libblkid-dev libcmocka-dev clang libclang-rt-14-dev \
        util-linux procps mount e2fsprogs coreutils iproute2
# vbdctl's side of the install issue: the event-loop examples run by make
# check (sd-event, libuv); systemd units: sd_notify/sd_listen_fds for vbdctl
# (loaded when systemd asks), systemd-analyze verify and
# systemd-socket-activate for tests/test_systemd.sh (man for verify's
# Documentation= check, Debian's python3 for its helpers).
PKGS += libsystemd-dev libuv1-dev systemd man-db python3
# Install and packaging (issue 11): what `make deb` and `make check-install` need.
DEB_PKGS := debhelper dpkg-dev fakeroot lintian build-essential dh-python python3 python3-cffi
PKGS += $(DEB_PKGS)
# The Python binding (python/): Debian's interpreter, cffi, pytest, and the
# headers that test_cdef compiles the declarations against.
PKGS += python3 python3-cffi python3-pytest python3-dev
# blkback's io_uring engine (issue 13); without it the build has only the
# synchronous engine.
PKGS += liburing-dev
# bench/plot.sh draws `make bench`'s CSV; ctest's test_bench_plot runs it.
PKGS += gnuplot-nox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build build-asan check check-fast check-xen demo fuzz fuzz-long bench bench-xen soak soak-mem clean \
        install uninstall deb check-install crash-matrix

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
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVBD_WERROR=ON \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)
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

# The lab benchmark (tests/xenlab/bench.sh; 10-25 minutes, not in check-xen):
# vbdctl attach vs xl block-attach vs our blkback, to Connected, on real Xen;
# figures also in $(BUILD)/bench-xen.csv.  BENCH_XEN_N: rounds (15).
# BENCH_XEN_BASELINE=FILE: another build's vbdctl, timed beside this one.
bench-xen: build
	VBD_LAB_TESTS=bench VBD_BENCH_N=$(BENCH_XEN_N) VBD_BENCH_BASELINE=$(BENCH_XEN_BASELINE) VBD_LAB_TIMEOUT=$${VBD_LAB_TIMEOUT:-3600} \
	  ./tests/xenlab/run.sh $(BUILD)

# make install [PREFIX=/usr/local] [DESTDIR=...]: the library, headers,
# libvbd.pc, the CMake package, man pages and vbdctl under PREFIX; vbd-block
# in /etc/xen/scripts and the udev rule in udev's directory whatever PREFIX
# (CMake cache: VBD_SCRIPT_DIR, VBD_UDEV_RULES_DIR).  make uninstall removes
# what the last install wrote (the build's install_manifest.txt).
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

uninstall:
	DESTDIR=$(DESTDIR) cmake --build $(BUILD) --target uninstall

# The Debian packages, built the Debian way from a copy of the tree, so
# that dpkg-buildpackage's files stay out of it; the .debs, .buildinfo and
# .changes land in $(DEB_OUT)/.  The tests do not run in the package build
# (debian/rules): make check runs them.  python3-vbd is built when the
# tree has the binding (python/vbd), else left out by the nopython profile.
DEB_PROFILES := $(if $(wildcard python/vbd/__init__.py),,-Pnopython)
deb:
	$(call install_missing,$(DEB_PKGS) cmake pkg-config libxen-dev libyajl-dev libblkid-dev libsystemd-dev liburing-dev)
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	tar --exclude-vcs --exclude='./build*' --exclude='./$(DEB_OUT)' --exclude='./obj-*' \
	  -cf - . | tar -C $(DEB_OUT)/src -xf -
	cd $(DEB_OUT)/src && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b $(DEB_PROFILES)
	rm -rf $(DEB_OUT)/src
	lintian --fail-on error $(DEB_OUT)/*.changes
	@ls $(DEB_OUT)/*.deb

# A load test on the simulated host (issue 12): 32 loops of attach, a MiB
# written, flushed, read back and compared, detach, across 8 guests, for
# SOAK_SECONDS, with a guest's frontend and the backend killed (SIGKILL) and
# restarted at moments drawn from SOAK_SEED (printed; set it to repeat a
# run; one kill per SOAK_KILL_EVERY s, 60, two at least: one of each kind);
# cycles, interrupted cycles, failures, lost writes, leftovers, and each
# process's RSS and fds against its own warm-up.  CI runs a short form.
SOAK_SECONDS ?= 600
soak: build
	./tests/soak.sh $(BUILD)/cli/vbdctl $(SOAK_SECONDS)

# Every cell of the crash matrix (make check runs its CI set).
crash-matrix: build
	./tests/crash_matrix.sh $(BUILD)/cli/vbdctl --full

# Issue 12's memory figure: SOAK_DEVICES (1000) devices over the simulated
# host's guests attached, connected and detached; the backend's and the
# store's RSS after / before (<= 1.10).  A few minutes; not in CI.
SOAK_DEVICES ?= 1000
soak-mem: build
	./tests/soak_mem.sh $(BUILD)/cli/vbdctl $(SOAK_DEVICES)

# Installs the packages of make deb, uses them as a user would, and removes
# them; then make install DESTDIR=... and make uninstall.  Root.
check-install: build
	./tests/check_install.sh $(BUILD) $(DEB_OUT)

demo: build
	./examples/demo.sh $(BUILD)

# Coverage-guided fuzzing with clang's libFuzzer; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVBD_FUZZ=ON -DVBD_SANITIZE=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Long fuzzing: every target, one at a time, until FUZZ_RUNS executions
# (10 million unless given) or FUZZ_SECONDS (3600 unless given), whichever
# comes first; the working corpora kept in FUZZ_WORK between runs, one
# summary line per target (time taken, executions, exec/s, coverage,
# corpus, reproducers, verdict) appended to FUZZ_LOG.  FUZZ_TARGETS="a b"
# runs only those, in that order.  FUZZ_SAVE=1 also merges what adds
# coverage into fuzz/corpus/.  Each target runs as FUZZ_LONG_JOBS processes
# on one corpus (the machine's CPUs unless given; FUZZ_RUNS is their total).
FUZZ_WORK ?= $(FUZZ_BUILD)/corpus-long
FUZZ_LOG  ?= $(FUZZ_BUILD)/fuzz-long.log
FUZZ_RUNS ?= 10000000
FUZZ_LONG_JOBS ?= $(JOBS)
fuzz-long: FUZZ_SECONDS := $(if $(filter file,$(origin FUZZ_SECONDS)),3600,$(FUZZ_SECONDS))
fuzz-long: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVBD_FUZZ=ON -DVBD_SANITIZE=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	FUZZ_WORK=$(FUZZ_WORK) FUZZ_LOG=$(FUZZ_LOG) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_JOBS=$(FUZZ_LONG_JOBS) \
	  ./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
	@echo "summary appended to $(FUZZ_LOG):"; tail -n $(words $(wildcard fuzz/fuzz_*.c)) $(FUZZ_LOG)

# Ratios against a baseline measured in the same run; both CPU placements,
# since on 2 cores an unpinned run lands in either.
# BENCH_QUICK=1: the same runs, short (under a minute).
# Each program also appends its results as CSV to BENCH_RESULTS (a new
# directory per run), which bench/plot.sh then draws (bench/README.md).
BENCH_PKGS := xen-utils-common gnuplot-nox
BENCH_STAMP := $(shell date +%Y%m%d-%H%M%S)
BENCH_RESULTS ?= $(BUILD)/bench/results/$(BENCH_STAMP)
BENCH_ENV = BENCH_CSV_DIR=$(abspath $(BENCH_RESULTS))
BENCH_QUICK ?= 0
BENCH_XEN_N ?= 15
ifeq ($(BENCH_QUICK),1)
STORE_BENCH_ARGS := --iterations 2000 --rounds 10
DATAPATH_ARGS := --size 64 --seconds 0.2 --rounds 1 --backing file
MEM_BENCH_ARGS := --quick
MEM_BENCH_Q4_ARGS := --quick
else
STORE_BENCH_ARGS :=
DATAPATH_ARGS :=
MEM_BENCH_ARGS := -n 1000
MEM_BENCH_Q4_ARGS := -n 500
endif
bench: build
	$(call install_missing,$(BENCH_PKGS))
	mkdir -p $(BENCH_RESULTS)
	@echo "bench: results as CSV in $(BENCH_RESULTS)"
	$(BENCH_ENV) ./$(BUILD)/bench/store_bench --pin same $(STORE_BENCH_ARGS)
	$(BENCH_ENV) ./$(BUILD)/bench/store_bench --pin split $(STORE_BENCH_ARGS)
	$(SUDO) env $(BENCH_ENV) BENCH_QUICK=$(BENCH_QUICK) ./bench/attach_bench.sh $(BUILD)
	$(SUDO) env $(BENCH_ENV) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS)
	$(SUDO) env $(BENCH_ENV) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS) --backing file --zero-copy
	$(SUDO) env $(BENCH_ENV) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS) --backing file --queues 1 --poll-us 50,300
	$(SUDO) env $(BENCH_ENV) ./$(BUILD)/bench/datapath_bench $(DATAPATH_ARGS) --backing file --queues 1 --poll-us 50,300 --zero-copy
	$(BENCH_ENV) ./$(BUILD)/bench/mem_bench $(MEM_BENCH_ARGS)
	$(BENCH_ENV) ./$(BUILD)/bench/mem_bench $(MEM_BENCH_Q4_ARGS) --queues 4
	./bench/plot.sh $(BENCH_RESULTS)
	@echo "bench: CSV and plots in $(BENCH_RESULTS)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(DEB_OUT)
