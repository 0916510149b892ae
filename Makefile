# mem0-audit-proxy. GNU make.
#   make                 build build/mem0-audit-proxy
#   make check           install missing packages, build, run every test
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make check TSAN=1      unit and end-to-end tests under ThreadSanitizer
#   make demo            mock Mem0 + mock Wingman + proxy, a few requests
#   make bench           benchmarks (not part of check)
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (300)
#   make install         binary, systemd unit, docs, example settings in /etc
#                        (PREFIX=/usr/local, DESTDIR=); make uninstall
# Quiet unless V=1. Warnings are errors unless WERROR=0.

PROG      := mem0-audit-proxy
VERSION   := 0.1.0
PREFIX    ?= /usr/local
SANITIZE  ?= 0
WERROR    ?= 1
SKIP_SDK  ?= 0
SKIP_BROWSER ?= 0

TSAN      ?= 0

ifeq ($(SANITIZE),1)
BUILD     ?= build/sanitize
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=all
else ifeq ($(TSAN),1)
BUILD     ?= build/tsan
SANFLAGS  := -fsanitize=thread -fno-omit-frame-pointer
else
BUILD     ?= build
SANFLAGS  :=
endif

PKGS      := libmicrohttpd libcurl libcjson yaml-0.1 libcrypto gnutls zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CC        ?= cc
CFLAGS    ?= -O2 -g
WARNINGS  := -Wall -Wextra -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wsign-compare \
             -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings \
             -Wnull-dereference -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARNINGS  += -Werror
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' $(CFLAGS) $(WARNINGS) $(SANFLAGS) \
              $(PKG_CFLAGS) -MMD -MP
LDLIBS    := $(PKG_LIBS) -lpthread -lm

SRCS      := $(wildcard src/*.c)
LIB_OBJS  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/main.c,$(SRCS)))
MAIN_OBJ  := $(BUILD)/obj/main.o
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# The fault-injection library of the end-to-end fault tests (LD_PRELOAD;
# never sanitized, never installed).
FAULTSHIM := $(BUILD)/tests/faultshim.so
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# Fuzzing: libFuzzer targets tests/fuzz/fuzz_*.c, built with clang
# (ASan + UBSan) in build/fuzz/. make check runs each for a few seconds
# over its seed corpus and kept regressions (tests/fuzz/run.sh); make fuzz
# runs each for FUZZ_SECONDS.
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 300
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -g -O1 \
                -fno-omit-frame-pointer -fsanitize=address,undefined \
                $(WARNINGS) $(PKG_CFLAGS)
FUZZ_OBJS    := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out src/main.c,$(SRCS)))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps check unit e2e demo bench fuzz clean install uninstall

all: $(BUILD)/$(PROG)

$(BUILD)/$(PROG): $(LIB_OBJS) $(MAIN_OBJ)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(LIB_OBJS) $(CHECK_LIBS) $(LDLIBS)

$(FAULTSHIM): tests/faults/faultshim.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  SHIM    $@")
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARNINGS) -fPIC -shared -o $@ $< -ldl -lpthread

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Isrc -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz: deps $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh long

deps:
	$(Q)scripts/install-deps.sh

# The test run: unit tests (Check), then end-to-end tests that start the
# proxy, mock Mem0 and mock Wingman on loopback, then the official npm
# client through the proxy. tests/run.sh prints the overall tally.
check: deps
	$(Q)$(MAKE) --no-print-directory all $(TEST_BINS) $(FAULTSHIM) \
	    $(if $(filter 1,$(SANITIZE) $(TSAN)),,$(FUZZ_BINS))
	$(Q)BUILD=$(BUILD) SANITIZE=$(SANITIZE) TSAN=$(TSAN) SKIP_SDK=$(SKIP_SDK) \
	    SKIP_BROWSER=$(SKIP_BROWSER) tests/run.sh

unit: all $(TEST_BINS)
	$(Q)BUILD=$(BUILD) tests/run.sh unit

e2e: all $(FAULTSHIM)
	$(Q)BUILD=$(BUILD) tests/run.sh e2e

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) python3 scripts/demo.py

# Benchmarks (never part of check): first the packages they need (nginx,
# HAProxy, wrk, h2load, perf: scripts/install-deps.sh --bench), then the
# build, then bench/run.sh, which writes bench/RESULTS.md. About 12 minutes.
bench:
	$(Q)scripts/install-deps.sh --bench
	$(Q)$(MAKE) --no-print-directory all $(FAULTSHIM)
	$(Q)BUILD=$(BUILD) bench/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the binary, the
# systemd unit (its paths rewritten for PREFIX), the documentation, and the
# example configuration and environment file in /etc, the latter two only
# when they do not exist yet (your settings are never overwritten).
# make uninstall removes what install wrote except the files in /etc.
BINDIR    ?= $(PREFIX)/bin
UNITDIR   ?= $(PREFIX)/lib/systemd/system
DOCDIR    ?= $(PREFIX)/share/doc/$(PROG)
CONFDIR   := /etc/$(PROG)
ENVFILE   := /etc/default/$(PROG)

install: $(BUILD)/$(PROG)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(CONFDIR) $(DESTDIR)$(dir $(ENVFILE))
	install -m 0755 $(BUILD)/$(PROG) $(DESTDIR)$(BINDIR)/$(PROG)
	sed -e 's|/usr/local/bin/$(PROG)|$(BINDIR)/$(PROG)|g' \
	    -e 's|/usr/local/share/doc/$(PROG)/|$(DOCDIR)/|g' \
	    systemd/$(PROG).service > $(DESTDIR)$(UNITDIR)/$(PROG).service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/$(PROG).service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/$(PROG).service.tmp $(DESTDIR)$(UNITDIR)/$(PROG).service
	install -m 0644 README.md conf/$(PROG).yaml systemd/$(PROG).env \
	    deploy/prometheus-rules.yml $(DESTDIR)$(DOCDIR)/
	install -d -m 0755 $(DESTDIR)$(DOCDIR)/docs
	install -m 0644 docs/DESIGN.md docs/TESTING.md $(DESTDIR)$(DOCDIR)/docs/
	@if [ -e $(DESTDIR)$(CONFDIR)/$(PROG).yaml ]; then \
	    echo "kept existing $(DESTDIR)$(CONFDIR)/$(PROG).yaml (new example: $(DOCDIR)/$(PROG).yaml)"; \
	else \
	    echo "install -m 0644 conf/$(PROG).yaml $(DESTDIR)$(CONFDIR)/$(PROG).yaml"; \
	    install -m 0644 conf/$(PROG).yaml $(DESTDIR)$(CONFDIR)/$(PROG).yaml; \
	fi
	@if [ -e $(DESTDIR)$(ENVFILE) ]; then \
	    echo "kept existing $(DESTDIR)$(ENVFILE) (new example: $(DOCDIR)/$(PROG).env)"; \
	else \
	    echo "install -m 0644 systemd/$(PROG).env $(DESTDIR)$(ENVFILE)"; \
	    install -m 0644 systemd/$(PROG).env $(DESTDIR)$(ENVFILE); \
	fi
	@echo "next: systemctl daemon-reload && systemctl enable --now $(PROG)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(PROG) $(DESTDIR)$(UNITDIR)/$(PROG).service
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/$(PROG).yaml $(DESTDIR)$(DOCDIR)/$(PROG).env \
	    $(DESTDIR)$(DOCDIR)/prometheus-rules.yml
	rm -f $(DESTDIR)$(DOCDIR)/docs/DESIGN.md $(DESTDIR)$(DOCDIR)/docs/TESTING.md
	rmdir $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@echo "kept $(DESTDIR)$(CONFDIR)/ and $(DESTDIR)$(ENVFILE) (your settings) and the state in /var/lib"

clean:
	rm -rf build tests/node/node_modules

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d $(FUZZ_BUILD)/obj/*.d)
