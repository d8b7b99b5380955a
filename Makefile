# sluice: one Makefile. `make`, `make test`, `make unit`, `make fuzz`, `make bench`.
# BUILD=release (default) | asan | debug  -> objects and binary go to build/ or build-$(BUILD)/
# CC=clang works too. Options: CONFIG_IO_URING=1 (later).

BUILD   ?= release
ifeq ($(BUILD),release)
OUT     ?= build
else
OUT     ?= build-$(BUILD)
endif

CC      ?= cc
VERSION := 0.1.0
PKGS    := libcares libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcares -lsodium)

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -DSLUICE_VERSION='"$(VERSION)"' -Isrc $(PKG_CFLAGS) -MMD -MP
LDLIBS  += $(PKG_LIBS) -lpthread

ifeq ($(BUILD),asan)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(BUILD),debug)
CFLAGS  += -O0 -DSLUICE_DEBUG
endif
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif

# Everything but main.c goes into a static library the unit tests link against.
LIB_SRC := $(sort $(wildcard src/core/*.c src/proto/*.c src/dns/*.c src/relay/*.c \
             src/ingress/*.c src/egress/*.c src/app/*.c src/tunnel/*.c))
LIB_SRC := $(filter-out src/app/main.c,$(LIB_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/test_%.c=$(OUT)/tests/unit_%)

# Fuzz targets: tests/fuzz/fuzz_<name>.c, each a libFuzzer harness over the
# pure protocol code (src/proto), built with clang + ASan/UBSan.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=build-fuzz/fuzz_%)
PROTO_SRC := $(wildcard src/proto/*.c)
TUNNEL_SRC := $(wildcard src/tunnel/*.c)

.PHONY: all unit tools test test-asan fuzz fuzz-run bench clean install
all: $(OUT)/sluice

$(OUT)/sluice: $(OUT)/src/app/main.o $(OUT)/libsluice.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/libsluice.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OUT)/tests/unit_%: tests/unit/test_%.c tests/unit/unit.h $(OUT)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -Itests/unit $(LDFLAGS) -o $@ $< $(OUT)/libsluice.a $(LDLIBS)

unit: $(UNIT_BIN) tools
$(OUT)/tests/unit_arq: tests/unit/arq_link.h

# Test/bench helpers that tests use (tools/lossy: a UDP bad-link emulator).
tools: $(OUT)/tools/lossy $(OUT)/tools/arq_sim

$(OUT)/tools/lossy: tools/lossy.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $@ $<

$(OUT)/tools/arq_sim: bench/arq_sim.c tests/unit/arq_link.h $(OUT)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -Itests/unit $(LDFLAGS) -o $@ $< $(OUT)/libsluice.a $(LDLIBS)

test: all unit
	SLUICE_NO_BUILD=1 SLUICE_BIN=$(OUT)/sluice UNIT_DIR=$(OUT)/tests bash tests/run.sh

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PROTO_SRC) $(TUNNEL_SRC) $(wildcard src/proto/*.h src/tunnel/*.h)
	@mkdir -p build-fuzz
	$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ $< $(PROTO_SRC) $(TUNNEL_SRC) $(PKG_LIBS)

fuzz: $(FUZZ_BIN)

# Run every target for FUZZ_TIME seconds from its seed corpus (if any).
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BIN); do \
		n=$${f##*/fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
		seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
		echo "fuzz $$n: $(FUZZ_TIME)s"; \
		if ! $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=0 -artifact_prefix=build-fuzz/ \
			build-fuzz/corpus-$$n $$seeds >build-fuzz/$$n.log 2>&1; then \
			tail -40 build-fuzz/$$n.log; echo "fuzz $$n: FAILED (artifact in build-fuzz/)"; exit 1; \
		fi; \
		tail -1 build-fuzz/$$n.log; \
	done

bench: all
	bash bench/run.sh

clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(OUT)/src/app/main.d
