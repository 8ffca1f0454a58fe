# SPDX-License-Identifier: GPL-2.0-only
# mtaguard build. Layout after libbpf-bootstrap: BPF objects -> skeletons ->
# userspace programs, everything under build/.

# SANITIZE=1: everything built with AddressSanitizer and UBSan (any finding
# aborts), in its own build directory. FUZZ=1 (used by `make fuzz`): the
# library built for libFuzzer with clang, in build-fuzz.
SANITIZE   ?= 0
FUZZ       ?= 0
ifeq ($(FUZZ),1)
BUILD      ?= build-fuzz
CC         := clang
else ifeq ($(SANITIZE),1)
BUILD      ?= build-san
else
BUILD      ?= build
endif
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
DATADIR    ?= $(PREFIX)/share
DOCDIR     ?= $(DATADIR)/doc/mtaguard
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
ARCH_INC   := /usr/include/$(shell uname -m)-linux-gnu

# The release, as every program's --version and the metric mtaguard_build_info say.
VERSION    ?= 0.1.0
CFLAGS     ?= -O2 -g
CFLAGS     += -DMG_VERSION='"$(VERSION)"'
CFLAGS     += -std=gnu11 -Wall -Wextra -Werror -Iheaders -I$(BUILD) -Iuser
LDLIBS     := -lbpf -lelf -lz -ljansson -lm -lmicrohttpd -lsystemd -lnats -lpthread -lcares -lspf2 -lmnl
PCAP_LIBS  := -lpcap
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ifeq ($(FUZZ),1)
CFLAGS     += $(SAN_FLAGS) -fsanitize=fuzzer-no-link
else ifeq ($(SANITIZE),1)
CFLAGS     += $(SAN_FLAGS)
endif
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Iheaders -I$(ARCH_INC) -D__TARGET_ARCH_x86

# Programs shipped to users.
PROGS      := mtaguardd mtaguardctl mtaguard-replay mtaguard-loader mtaguard-flowspec
# Library code shared by every program and test: user/mg_*.c. The programs
# themselves, and code only one program needs, are in tools/ (mtaguardd, the
# daemon, stays beside its modules in user/).
LIB_SRCS   := $(wildcard user/mg_*.c)
LIB_OBJS   := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
HDRS       := $(wildcard headers/*.h user/*.h tools/*.h)

# Test programs: selftests/test_*.c (cmocka), helpers selftests/lib_*.c.
TEST_SRCS  := $(wildcard selftests/test_*.c)
TEST_BINS  := $(patsubst selftests/%.c,$(BUILD)/selftests/%,$(TEST_SRCS))
TLIB_SRCS  := $(wildcard selftests/lib_*.c)
TLIB_OBJS  := $(patsubst selftests/%.c,$(BUILD)/selftests/%.o,$(TLIB_SRCS))
# An archive, so that a test links only the helpers it calls (the daemon fixture would pull in the whole daemon).
TLIB_A     := $(BUILD)/selftests/libmgtest.a
BENCH_BPF  := $(patsubst selftests/bench/%.bpf.c,$(BUILD)/bench/%.bpf.o,$(wildcard selftests/bench/*.bpf.c))

.PHONY: all clean check test fuzz fuzz-build bench install deps demo deb
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/mtaguard.bpf.o $(BUILD)/mg_xdp.skel.h $(addprefix $(BUILD)/,$(PROGS))

$(BUILD) $(BUILD)/user $(BUILD)/tools $(BUILD)/selftests $(BUILD)/bench:
	@mkdir -p $@

# The data plane. Object name "mg_xdp" makes libbpf name its internal
# .rodata map "mg_xdp.rodata", so every map the program owns starts with mg_.
$(BUILD)/mtaguard.bpf.o: bpf/mtaguard.bpf.c $(wildcard bpf/*.h headers/*.h) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/mg_xdp.skel.h: $(BUILD)/mtaguard.bpf.o
	$(BPFTOOL) gen skeleton $< name mg_xdp > $@

$(BUILD)/user/%.o: user/%.c $(HDRS) $(BUILD)/mg_xdp.skel.h | $(BUILD)/user
	$(CC) $(CFLAGS) -c $< -o $@

# Made afresh: ar would keep the members of files since moved or renamed.
$(BUILD)/libmg.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tools/%.o: tools/%.c $(HDRS) | $(BUILD)/tools
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/mtaguard-loader: $(BUILD)/tools/mtaguard_loader.o $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/mtaguardd: $(BUILD)/user/mtaguardd.o $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/mtaguardctl: $(BUILD)/tools/mtaguardctl.o $(BUILD)/tools/ctl_feed.o $(BUILD)/tools/ctl_fail.o $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/mtaguard-flowspec: $(BUILD)/tools/mtaguard_flowspec.o $(BUILD)/tools/mg_flowspec.o \
		$(BUILD)/tools/mg_flowspec_recv.o $(BUILD)/tools/mg_flowspec_held.o $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/mtaguard-replay: $(BUILD)/tools/mtaguard_replay.o $(BUILD)/tools/capture.o $(BUILD)/tools/capture_merge.o \
		$(BUILD)/tools/mg_frame.o $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) $(PCAP_LIBS) -o $@

# Test helpers that are programs of their own: selftests/tool_*.c.
TOOL_SRCS  := $(wildcard selftests/tool_*.c)
TOOL_BINS  := $(patsubst selftests/%.c,$(BUILD)/selftests/%,$(TOOL_SRCS))
$(BUILD)/selftests/tool_%: selftests/tool_%.c $(HDRS) | $(BUILD)/selftests
	$(CC) $(CFLAGS) $< $(PCAP_LIBS) -o $@

# tool_cluster_fill writes entries with the cluster codec, through libnats.
$(BUILD)/selftests/tool_cluster_fill: selftests/tool_cluster_fill.c $(BUILD)/libmg.a $(HDRS) | $(BUILD)/selftests
	$(CC) $(CFLAGS) $< $(BUILD)/libmg.a $(LDLIBS) -o $@

# tool_scenario and tool_flood write their frames with the test frame builder (selftests/pktbuild.h).
$(BUILD)/selftests/tool_scenario $(BUILD)/selftests/tool_flood: $(BUILD)/selftests/tool_%: selftests/tool_%.c \
		selftests/pktbuild.h $(BUILD)/selftests/lib_pktbuild.o | $(BUILD)/selftests
	$(CC) $(CFLAGS) -Iselftests $< $(BUILD)/selftests/lib_pktbuild.o -o $@

# Tests. -Itools: a test of code that lives with its program (test_frame).
$(BUILD)/selftests/%.o: selftests/%.c $(HDRS) $(wildcard selftests/*.h) $(BUILD)/mg_xdp.skel.h | $(BUILD)/selftests
	$(CC) $(CFLAGS) -Iselftests -Itools -c $< -o $@

$(TLIB_A): $(TLIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/selftests/test_%: $(BUILD)/selftests/test_%.o $(TLIB_A) $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# test_daemon_ctl makes the daemon's jansson appends fail at will (out of memory mid-answer).
$(BUILD)/selftests/test_daemon_ctl: LDLIBS += -Wl,--wrap=json_array_append_new
# test_engine makes the engine's mallocs and jansson builders fail at will (an import, a save out of memory).
$(BUILD)/selftests/test_engine: LDLIBS += -Wl,--wrap=malloc -Wl,--wrap=json_string -Wl,--wrap=json_array_append_new \
	-Wl,--wrap=json_object_set_new

# test_daemon_cluster records the cluster link's calls and makes the want set's building fail at will.
$(BUILD)/selftests/test_daemon_cluster: LDLIBS += -Wl,--wrap=mg_cluster_put -Wl,--wrap=mg_cluster_del \
	-Wl,--wrap=mg_cluster_want_republish -Wl,--wrap=mg_cluster_take_failed_deletes -Wl,--wrap=mg_cluster_status \
	-Wl,--wrap=json_object_set_new

# test_capture_merge tests the tools' libpcap code, not libmg: it links that
# alone (an explicit rule, so make does not use the pattern above).
$(BUILD)/selftests/test_capture_merge.o: CFLAGS += -Itools
$(BUILD)/selftests/test_capture_merge: $(BUILD)/selftests/test_capture_merge.o $(BUILD)/tools/capture.o \
		$(BUILD)/tools/capture_merge.o
	$(CC) $(CFLAGS) $^ $(PCAP_LIBS) -lcmocka -o $@

# mg_flowspec is mtaguard-flowspec's: its test links it, as test_frame does mg_frame.
$(BUILD)/selftests/test_flowspec: $(BUILD)/selftests/test_flowspec.o $(BUILD)/tools/mg_flowspec.o $(TLIB_A) $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# The receive side's parser and table, likewise.
$(BUILD)/selftests/test_flowspec_recv: $(BUILD)/selftests/test_flowspec_recv.o $(BUILD)/tools/mg_flowspec_recv.o \
		$(BUILD)/tools/mg_flowspec_held.o $(TLIB_A) $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# mg_frame is the replay's, not the library's: its test links it itself,
# before the library, whose mg_addr it uses.
$(BUILD)/selftests/test_frame: $(BUILD)/selftests/test_frame.o $(BUILD)/tools/mg_frame.o $(TLIB_A) $(BUILD)/libmg.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%.bpf.o: selftests/bench/%.bpf.c $(wildcard headers/*.h) | $(BUILD)/bench
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/mtaguard-bench: selftests/bench/bench.c $(BUILD)/selftests/lib_pktbuild.o $(BUILD)/libmg.a $(HDRS) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Iselftests $< $(BUILD)/selftests/lib_pktbuild.o $(BUILD)/libmg.a $(LDLIBS) -o $@

# The main job: a self-contained lab in network namespaces (needs root).
demo: deps all
	bash tools/demo.sh $(BUILD)

$(BUILD)/bench/bench-analyzer: selftests/bench/bench_analyzer.c $(BUILD)/libmg.a $(HDRS) | $(BUILD)/bench
	$(CC) $(CFLAGS) $< $(BUILD)/libmg.a $(LDLIBS) -o $@

$(BUILD)/bench/bench-verify: selftests/bench/bench_verify.c $(BUILD)/libmg.a $(HDRS) | $(BUILD)/bench
	$(CC) $(CFLAGS) $< $(BUILD)/libmg.a $(LDLIBS) -o $@

$(BUILD)/bench/bench-verdict: selftests/bench/bench_verdict.c $(BUILD)/selftests/lib_pktbuild.o $(BUILD)/libmg.a $(HDRS) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Iselftests $< $(BUILD)/selftests/lib_pktbuild.o $(BUILD)/libmg.a $(LDLIBS) -o $@

# The tests of one build (this one: plain, or SANITIZE=1).
# Sanitizers: a finding aborts the program, leaks included.
SAN_LOGS   := $(abspath $(BUILD))/sanitizer
test: deps all $(TEST_BINS) $(TOOL_BINS)
ifeq ($(SANITIZE),1)
	rm -rf $(SAN_LOGS) $(SAN_LOGS).seen && mkdir -p $(SAN_LOGS)
	MG_SANITIZER_LOGS=$(SAN_LOGS) ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:log_path=$(SAN_LOGS)/asan \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan selftests/run.sh $(BUILD)
else
	selftests/run.sh $(BUILD)
endif

# What CI runs (the README's test command): the plain build's tests, the same
# tests built with sanitizers, then every fuzzer for FUZZ_SECONDS.
# `make check SANITIZE=1` runs the sanitizer build's tests alone.
check: test
ifneq ($(SANITIZE),1)
	$(MAKE) --no-print-directory test SANITIZE=1
	$(MAKE) --no-print-directory fuzz
endif

# libFuzzer harnesses: selftests/fuzz/fuzz_NAME.c, seeds in
# selftests/fuzz/corpus/NAME/. `make fuzz [FUZZ_TARGET=NAME] [FUZZ_SECONDS=25]`.
FUZZ_SECONDS ?= 25
FUZZ_TARGET  ?=
FUZZ_SRCS  := $(wildcard selftests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(patsubst selftests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
fuzz:
	$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	selftests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGET)

fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz:
	@mkdir -p $@

# Harnesses link the library and the replay's frame and capture code.
$(BUILD)/fuzz/fuzz_%: selftests/fuzz/fuzz_%.c $(BUILD)/tools/mg_frame.o $(BUILD)/tools/capture.o \
		$(BUILD)/libmg.a $(HDRS) $(wildcard selftests/fuzz/*.h) | $(BUILD)/fuzz
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Iselftests -Itools $< $(BUILD)/tools/mg_frame.o $(BUILD)/tools/capture.o \
		$(BUILD)/libmg.a $(LDLIBS) $(PCAP_LIBS) -o $@

bench: all $(BENCH_BPF) $(BUILD)/bench/mtaguard-bench $(BUILD)/bench/bench-analyzer $(BUILD)/selftests/tool_flood \
		$(BUILD)/selftests/tool_adversary $(BUILD)/bench/bench-verdict $(BUILD)/selftests/tool_cluster_fill \
		$(BUILD)/bench/bench-verify
	$(BUILD)/bench/mtaguard-bench --build $(BUILD)
	@# The analyzer: scan time and memory per profile at 1M and 10M profiles, 1 % and 100 % (the worst case) MX senders.
	$(BUILD)/bench/bench-analyzer
	@# Source verification: queries per checked source, cache hits, memory per cached name.
	$(BUILD)/bench/bench-verify
	@# The program's cost on a traffic mix, as mtaguard-replay measures it for an operator's capture.
	$(BUILD)/bench/mtaguard-bench --write-mix $(BUILD)/bench/mix.pcap
	$(BUILD)/mtaguard-replay --repeat 100000 $(BUILD)/bench/mix.pcap | grep '^Cost:'
	@# Time to verdict: from the deciding kernel event to the block in the kernel, through the ring buffer (root).
	$(BUILD)/bench/bench-verdict
	@# Rules between nodes over NATS: propagation of a few hundred, resync of 100 000 (root, nats-server).
	bash selftests/bench/bench_cluster.sh $(BUILD)
	@# The policy service's answer time under floods and slow clients (root: namespaces, XDP).
	bash selftests/bench/bench_latency.sh $(BUILD)

# Debian packages the build, the tests and the benchmark need. ClamAV is not
# among them: its tests run it inside the container e2e_systemd boots (a host
# install would start freshclam where nothing stops it).
DEB_BUILD := clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev libjansson-dev libpcap-dev libmicrohttpd-dev libsystemd-dev libnats-dev \
             libcmocka-dev pkg-config make gcc libc-ares-dev libspf2-dev libmnl-dev
DEB_TEST  := iproute2 iputils-ping postfix swaks libio-socket-inet6-perl tcpdump tcpreplay jq xdp-tools procps socat curl logrotate nats-server nsd unbound \
             rbldnsd bind9-dnsutils exabgp gobgpd bird2 systemd-container mmdebstrap dpkg-dev debhelper lintian
deps:
	@missing=""; for p in $(DEB_BUILD) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "all build and test packages present"; fi

# A tree a distribution package can take as is. The configuration file is
# installed only if absent: an operator's edits are never overwritten.
# postfix-relay.conf is a drop-in for the unit, enabled by the operator of a
# relay (README, "Quarantine on a Postfix relay"); not active by itself.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/mtaguard \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/mtaguard \
		$(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/vendor-completions
	install -m 0755 $(addprefix $(BUILD)/,$(PROGS)) $(DESTDIR)$(SBINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
		user/mtaguardd.service.in >$(DESTDIR)$(UNITDIR)/mtaguardd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mtaguardd.service
	install -m 0644 user/postfix-relay.conf tools/monitoring/grafana-dashboard.json tools/monitoring/prometheus-alerts.yml \
		$(DESTDIR)$(DATADIR)/mtaguard/
	install -m 0644 user/postfix-main.cf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 user/mtaguardd.8 tools/mtaguardctl.8 tools/mtaguard-replay.8 tools/mtaguard-loader.8 \
		tools/mtaguard-flowspec.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 user/mtaguard.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 tools/completion/mtaguardctl.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/mtaguardctl
	install -m 0644 tools/completion/_mtaguardctl $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_mtaguardctl
	test -e $(DESTDIR)$(SYSCONFDIR)/mtaguard/mtaguard.json || \
		install -m 0640 user/mtaguard.json $(DESTDIR)$(SYSCONFDIR)/mtaguard/mtaguard.json
	test -e $(DESTDIR)$(SYSCONFDIR)/logrotate.d/mtaguard || \
		install -D -m 0644 user/mtaguard.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/mtaguard
	install -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/

# The Debian package: the source (what the build needs) and tools/debian as
# debian/ in a tree of their own under $(BUILD)/deb, where dpkg-buildpackage
# builds it from scratch (make all, make install; no tests: DEB_BUILD_OPTIONS
# nocheck), then lintian: errors fail, warnings are listed in
# $(BUILD)/deb/lintian.txt. Built again only when a source changed, so the
# tests that install it share one build. MAKEFLAGS and BUILD are not passed
# on: the package's make writes its own build/, never this one.
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE   := $(BUILD)/mtaguard_$(VERSION)_$(DEB_ARCH).deb
DEB_SRCS   := Makefile README.md LICENSE $(wildcard bpf/* headers/* user/* tools/*.[ch8] tools/*.sh tools/monitoring/* \
              tools/completion/* tools/debian/* tools/debian/source/*)
deb: $(DEB_FILE)
	@echo $(abspath $(DEB_FILE))

$(DEB_FILE): $(DEB_SRCS)
	@v="$$(dpkg-parsechangelog -l tools/debian/changelog -S Version)"; [ "$$v" = "$(VERSION)" ] || \
		{ echo "tools/debian/changelog says $$v, the Makefile's VERSION $(VERSION): make them agree" >&2; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/mtaguard-$(VERSION)
	cp -a Makefile README.md LICENSE bpf headers user tools $(BUILD)/deb/mtaguard-$(VERSION)/
	mv $(BUILD)/deb/mtaguard-$(VERSION)/tools/debian $(BUILD)/deb/mtaguard-$(VERSION)/debian
	cd $(BUILD)/deb/mtaguard-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u SANITIZE -u FUZZ \
		DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	lintian --fail-on error --tag-display-limit 0 $(BUILD)/deb/mtaguard_$(VERSION)_$(DEB_ARCH).deb \
		>$(BUILD)/deb/lintian.txt 2>&1 || { cat $(BUILD)/deb/lintian.txt; exit 1; }
	@grep '^[WE]:' $(BUILD)/deb/lintian.txt >&2 || true
	cp $(BUILD)/deb/mtaguard_$(VERSION)_$(DEB_ARCH).deb $@

clean:
	rm -rf $(BUILD) build build-san build-fuzz
