# mem0-audit-proxy. GNU make.
#   make                 build build/mem0-audit-proxy
#   make check           install missing packages, build, run every test
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make demo            mock Mem0 + mock Wingman + proxy, a few requests
#   make bench           benchmarks (not part of check)
# Quiet unless V=1. Warnings are errors unless WERROR=0.

PROG      := mem0-audit-proxy
VERSION   := 0.1.0
PREFIX    ?= /usr/local
SANITIZE  ?= 0
WERROR    ?= 1
SKIP_SDK  ?= 0

ifeq ($(SANITIZE),1)
BUILD     ?= build/sanitize
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=all
else
BUILD     ?= build
SANFLAGS  :=
endif

PKGS      := libmicrohttpd libcurl libcjson yaml-0.1 libcrypto
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
LDLIBS    := $(PKG_LIBS) -lpthread

SRCS      := $(wildcard src/*.c)
LIB_OBJS  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/main.c,$(SRCS)))
MAIN_OBJ  := $(BUILD)/obj/main.o
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps check unit e2e demo bench clean install

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

deps:
	$(Q)scripts/install-deps.sh

# The test run: unit tests (Check), then end-to-end tests that start the
# proxy, mock Mem0 and mock Wingman on loopback, then the official npm
# client through the proxy. tests/run.sh prints the overall tally.
check: deps
	$(Q)$(MAKE) --no-print-directory all $(TEST_BINS)
	$(Q)BUILD=$(BUILD) SANITIZE=$(SANITIZE) SKIP_SDK=$(SKIP_SDK) tests/run.sh

unit: all $(TEST_BINS)
	$(Q)BUILD=$(BUILD) tests/run.sh unit

e2e: all
	$(Q)BUILD=$(BUILD) tests/run.sh e2e

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) python3 scripts/demo.py

bench: all
	$(Q)BUILD=$(BUILD) bench/run.sh

install: $(BUILD)/$(PROG)
	install -D -m 0755 $(BUILD)/$(PROG) $(DESTDIR)$(PREFIX)/bin/$(PROG)
	install -D -m 0644 conf/$(PROG).yaml $(DESTDIR)/etc/$(PROG)/$(PROG).yaml

clean:
	rm -rf build tests/node/node_modules

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
