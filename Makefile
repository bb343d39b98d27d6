# hsup: one build for everything. `make demo` runs the sample application, `make check` runs
# every test, `make bench` the benchmarks; each installs what it needs first (scripts/deps.sh).

VERSION   := 0.1.0
CC        ?= gcc
PKGS      := libuv jansson libcap libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation \
             -Wmissing-prototypes -Wstrict-prototypes
BASE_CFLAGS := -std=gnu11 -I. $(WARN) $(PKG_CFLAGS) -DHSUP_VERSION='"$(VERSION)"' -MMD -MP
REL_CFLAGS  := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CFLAGS := -O1 -g $(SAN_FLAGS)

LIB_SRC   := $(wildcard common/*.c) $(filter-out hsupd/main.c,$(wildcard hsupd/*.c)) \
             $(wildcard control/*.c) $(wildcard drivers/*.c) \
             $(filter-out libcontainer/nsinit.c,$(wildcard libcontainer/*.c))
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(patsubst tests/%.c,%,$(TEST_SRC))

REL := build/release
SAN := build/asan

all: build/hsup build/nsinit
.PHONY: all asan deps check unit ftest demo bench bench-lc format format-check clean

define variant
$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE_CFLAGS) $(2) -c $$< -o $$@

$(1)/libhsup.a: $$(patsubst %.c,$(1)/%.o,$$(LIB_SRC))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/hsup: $(1)/hsupd/main.o $(1)/libhsup.a
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/nsinit: $(1)/libcontainer/nsinit.o $(1)/libhsup.a
	$$(CC) $(2) $(3) -o $$@ $$^ $$(NSINIT_LIBS)

$(1)/tests/%: $(1)/tests/%.o $(1)/libhsup.a
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS) -lcmocka
endef

# nsinit links only what the runtime uses; the release one statically: it starts once per
# container, and dynamic loading was a tenth of its time (bench/lc.sh).
NSINIT_LIBS := -ljansson -lseccomp -lcap
$(eval $(call variant,$(REL),$(REL_CFLAGS),-static))
$(eval $(call variant,$(SAN),$(ASAN_CFLAGS),))

build/hsup: $(REL)/hsup
	cp $< $@

build/nsinit: $(REL)/nsinit
	cp $< $@

# Drives the library's C API from a functional test (ftest/nsinit_api.bats).
build/lcapi: $(REL)/ftest/payload/lcapi.o $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(NSINIT_LIBS)

# The same, linked dynamically: valgrind cannot follow malloc in a static binary.
$(REL)/nsinit-dynamic: $(REL)/libcontainer/nsinit.o $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(NSINIT_LIBS)

# The test payload runs inside containers whose rootfs has no libraries: static.
build/lctest: ftest/payload/lctest.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

asan: $(SAN)/hsup $(SAN)/nsinit

unit-bins := $(addprefix $(REL)/tests/,$(TESTS)) $(addprefix $(SAN)/tests/,$(TESTS))

deps:
	@scripts/deps.sh

check: deps
	$(MAKE) build/hsup $(SAN)/hsup build/nsinit $(REL)/nsinit-dynamic $(SAN)/nsinit build/lctest build/lcapi $(unit-bins) bench/waitn
	scripts/check.sh

demo: deps
	$(MAKE) build/hsup
	scripts/demo.sh

bench: deps
	$(MAKE) build/hsup bench/waitn
	bench/run.sh

# The container runtime against crun, runc and unshare+chroot (bench/lc.sh).
bench: bench-lc
bench-lc: deps
	$(MAKE) build/nsinit bench/lctime
	bench/lc.sh build/nsinit

# Static and small: its own memory before exec counts in the children's peak RSS.
bench/lctime: bench/lctime.c
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

bench/waitn: bench/waitn.c
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

C_FILES = $(shell find common hsupd control drivers libcontainer tests bench ftest/payload -name '*.[ch]')

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run --Werror $(C_FILES)

clean:
	rm -rf build bench/waitn bench/lctime

-include $(shell find build -name '*.d' 2>/dev/null)
