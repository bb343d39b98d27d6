# hsup: one build for everything. `make demo` runs the sample application, `make check` runs
# every test, `make bench` the benchmarks, `make fuzz` the fuzz targets for longer; each installs
# what it needs first (scripts/deps.sh).

VERSION   := 0.1.0
CC        ?= gcc
# Small libraries are linked; heavy ones (libcurl, libarchive) are loaded when first needed
# (common/dl.c), so that hsup stays small when they are not.
PKGS      := libuv jansson libcap libseccomp yaml-0.1 libmnl nettle zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation \
             -Wmissing-prototypes -Wstrict-prototypes
BASE_CFLAGS := -std=gnu11 -I. $(WARN) $(PKG_CFLAGS) -DHSUP_VERSION='"$(VERSION)"' -MMD -MP
REL_CFLAGS  := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN_FLAGS   := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CFLAGS := -O1 -g $(SAN_FLAGS)

# nsinit, the runtime's command-line tool: its files are libcontainer/nsinit*.c
NSINIT_SRC := $(wildcard libcontainer/nsinit*.c)
LIB_SRC   := $(wildcard common/*.c) $(filter-out hsupd/main.c,$(wildcard hsupd/*.c)) \
             $(wildcard control/*.c) $(wildcard drivers/*.c) \
             $(wildcard stacks/*.c) $(wildcard alloc/*.c) \
             $(filter-out $(NSINIT_SRC),$(wildcard libcontainer/*.c))
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(patsubst tests/%.c,%,$(TEST_SRC))

REL := build/release
SAN := build/asan

all: build/hsup build/nsinit build/hsup-stack
.PHONY: all asan deps check unit ftest demo bench bench-lc bench-containerd bench-dynos \
        bench-poller bench-logplex format format-check clean install-nsinit \
        fuzz-build fuzz fuzz-merge docker FORCE

# A build's objects are rebuilt when its flags change: they are recorded in .flags.
define variant
$(1)/.flags: FORCE
	@mkdir -p $(1)
	@echo '$$(CC) $$(BASE_CFLAGS) $(2)' | cmp -s - $$@ || echo '$$(CC) $$(BASE_CFLAGS) $(2)' >$$@

$(1)/%.o: %.c $(1)/.flags
	@mkdir -p $$(@D)
	$$(CC) $$(BASE_CFLAGS) $(2) -c $$< -o $$@

$(1)/libhsup.a: $$(patsubst %.c,$(1)/%.o,$$(LIB_SRC))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/hsup: $(1)/hsupd/main.o $(1)/libhsup.a
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS)

$(1)/nsinit: $$(patsubst %.c,$(1)/%.o,$$(NSINIT_SRC)) $(1)/libhsup.a
	$$(CC) $(2) $(3) -o $$@ $$^ $$(NSINIT_LIBS)

$(1)/tests/%: $(1)/tests/%.o $(1)/libhsup.a
	$$(CC) $(2) -o $$@ $$^ $$(PKG_LIBS) -lcmocka
endef

# nsinit links only what the runtime uses; the release one statically: it starts once per
# container, and dynamic loading was a tenth of its time (bench/lc.sh).
NSINIT_LIBS := -ljansson -lseccomp -lcap
$(eval $(call variant,$(REL),$(REL_CFLAGS),-static))
$(eval $(call variant,$(SAN),$(ASAN_CFLAGS),))

# --remove-destination: a process still running the old binary keeps it, and cp does not fail
# with "Text file busy"
build/hsup: $(REL)/hsup
	cp --remove-destination $< $@

build/nsinit: $(REL)/nsinit
	cp --remove-destination $< $@

# nsinit, and hsup-runc beside it: the name engines are given (containerd's BinaryName); a
# name ending in -runc speaks runc's command line only (README, "runc's command line").
PREFIX ?= /usr/local
install-nsinit: build/nsinit
	install -D -m 755 build/nsinit $(DESTDIR)$(PREFIX)/bin/nsinit
	ln -sf nsinit $(DESTDIR)$(PREFIX)/bin/hsup-runc

# Drives the library's C API from a functional test (ftest/nsinit_api.bats).
build/lcapi: $(REL)/ftest/payload/lcapi.o $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(NSINIT_LIBS)

# The same, linked dynamically: valgrind cannot follow malloc in a static binary.
$(REL)/nsinit-dynamic: $(patsubst %.c,$(REL)/%.o,$(NSINIT_SRC)) $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(NSINIT_LIBS)

# The dyno init (init/), PID 1 in a dyno's container: static and needing no file of the stack.
# musl-gcc (Debian's musl-tools) makes it about 50 kB where static glibc makes 800 kB; plain
# $(CC) -static where musl-gcc is missing. drivers/dynoinit.c builds it into hsup (.incbin).
# $(SAN)/hsup-init is the same program with ASan+UBSan (dynamic: for tests on the host's root).
INIT_CC    := $(or $(shell command -v musl-gcc 2>/dev/null),$(CC))
INIT_WARN  := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
              -Wmissing-prototypes -Wstrict-prototypes
SLUG_TOOLS := build/hsup-init $(SAN)/hsup-init build/slugtool $(SAN)/slugtool

build/hsup-init: init/dyno-init.c
	@mkdir -p $(@D)
	$(INIT_CC) -std=gnu11 -Os $(INIT_WARN) -static -s -o $@ $<

$(SAN)/hsup-init: init/dyno-init.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(INIT_WARN) $(ASAN_CFLAGS) -o $@ $<

$(REL)/drivers/dynoinit.o $(SAN)/drivers/dynoinit.o: build/hsup-init

# Unpacking a 1 MB and a 200 MB slug against tar -xzf (bench/slug.sh).
.PHONY: bench-slug
bench-slug: deps
	$(MAKE) build/slugtool
	bench/slug.sh

# Drives the slug library from the functional tests (ftest/slug.bats).
$(REL)/slugtool: $(REL)/ftest/payload/slugtool.o $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(SAN)/slugtool: $(SAN)/ftest/payload/slugtool.o $(SAN)/libhsup.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS)
build/slugtool: $(REL)/slugtool
	cp $< $@

# The test payload runs inside containers whose rootfs has no libraries: static.
build/lctest: ftest/payload/lctest.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

asan: $(SAN)/hsup $(SAN)/nsinit

# hsup-stack (stacks/tool): builds stack images, makes the ready-made stacks' trees, and
# fetches and mounts a manifest's stacks as hsup does; the ASan+UBSan one for its tests.
$(REL)/hsup-stack: $(REL)/stacks/tool/hsup_stack.o $(REL)/libhsup.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(SAN)/hsup-stack: $(SAN)/stacks/tool/hsup_stack.o $(SAN)/libhsup.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS)

build/hsup-stack: $(REL)/hsup-stack
	cp $< $@

# The small stack of this host's own programs, into build/stacks/ with its manifest (`make
# stack`); a Debian stack made with debootstrap from the host's apt source (`make
# stack-debian`, as root; slow).
STACK_DIR     ?= build/stacks
STACK_VERSION ?= $(shell date -u +%Y%m%d)
.PHONY: stack stack-debian
stack: deps
	$(MAKE) build/hsup-stack
	rm -rf $(STACK_DIR)/host-tree
	mkdir -p $(STACK_DIR)
	build/hsup-stack host $(STACK_DIR)/host-tree
	build/hsup-stack build --manifest $(STACK_DIR)/manifest.yml $(STACK_DIR)/host-tree \
		host $(STACK_VERSION) $(STACK_DIR)
	rm -rf $(STACK_DIR)/host-tree

stack-debian: deps
	$(MAKE) build/hsup-stack
	stacks/tool/debian.sh build/hsup-stack $(STACK_DIR) $(STACK_VERSION)

# hsup's Docker image (docker/), built by the daemon of DOCKER_HOST from this tree. The base is
# a Debian bookworm image: by default one made here without a registry (docker/base.sh:
# debootstrap, then docker import; as root), or DOCKER_BASE=debian:bookworm from a registry.
DOCKER       ?= docker
DOCKER_IMAGE ?= hsup:$(VERSION)
DOCKER_BASE  ?= hsup-base:bookworm
docker:
	DOCKER="$(DOCKER)" docker/build.sh $(DOCKER_IMAGE) $(DOCKER_BASE)

# libFuzzer targets: every fuzz/fuzz_NAME.c becomes build/fuzz/fuzz_NAME, built with clang and
# linked against a libhsup.a of its own whose objects carry the fuzzer's coverage hooks and the
# sanitizers. fuzz/README.md says how they run.
FUZZ_CC      ?= clang
FUZZ_SRC     := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_DIR     := build/fuzz
FUZZ_OBJ     := $(FUZZ_DIR)/obj
FUZZ_CFLAGS  := $(filter-out -Wno-format-truncation,$(BASE_CFLAGS)) -O1 -g $(SAN_FLAGS)
FUZZ         ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 300

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OBJ)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -c $< -o $@

$(FUZZ_OBJ)/libhsup.a: $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_OBJ)/fuzz/fuzz_%.o $(FUZZ_OBJ)/libhsup.a
	$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# Kept, so a target is relinked only when something changed (make would delete them as
# intermediates of the pattern chain).
.SECONDARY: $(patsubst fuzz/%.c,$(FUZZ_OBJ)/fuzz/%.o,$(FUZZ_SRC))

$(FUZZ_OBJ)/drivers/dynoinit.o: build/hsup-init

fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))

# FUZZ_SECONDS per target (FUZZ=NAME for some), on a scratch copy of the corpus; fails naming
# what it found in build/fuzz/findings/NAME/.
fuzz: deps
	$(MAKE) $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ))
	fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ)

# Adds to fuzz/corpus/NAME the inputs of the scratch corpus that reach new code (-merge=1).
fuzz-merge:
	$(MAKE) $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ))
	fuzz/run.sh merge $(FUZZ)

unit-bins := $(addprefix $(REL)/tests/,$(TESTS)) $(addprefix $(SAN)/tests/,$(TESTS))

deps:
	@scripts/deps.sh

check: deps
	$(MAKE) build/hsup $(SAN)/hsup build/nsinit $(REL)/nsinit-dynamic $(SAN)/nsinit build/lctest build/lcapi $(unit-bins) bench/waitn \
		build/hsup-stack $(SAN)/hsup-stack $(SLUG_TOOLS)
	if FUZZ_CC=$(FUZZ_CC) fuzz/run.sh probe >/dev/null; then $(MAKE) fuzz-build; fi
	scripts/check.sh

demo: deps
	$(MAKE) build/hsup
	scripts/demo.sh

bench: deps
	$(MAKE) build/hsup bench/waitn bench/spawnfloor
	bench/run.sh

# The container runtime against crun, runc and unshare+chroot (bench/lc.sh).
bench: bench-lc
bench-lc: deps
	$(MAKE) build/nsinit bench/lctime
	bench/lc.sh build/nsinit

# The runtime as containerd's runc (ctr run --rm) against crun and runc, with a containerd of
# the benchmark's own; then bench/lc.sh (bench/containerd.sh).
bench: bench-containerd
bench-containerd: deps
	$(MAKE) build/nsinit bench/lctime
	bench/containerd.sh build/nsinit

# Container dynos (-d libcontainer) against crun and docker (bench/dynos.sh); docker.io is
# installed for it, and its dockerd started by the benchmark in namespaces of its own.
bench: bench-dynos
bench-dynos: deps
	@scripts/deps.sh docker.io
	$(MAKE) build/hsup build/nsinit build/hsup-stack bench/waitn
	bench/dynos.sh

# Dyno logs forwarded to logplex against the same lines to stdout (bench/logplex.sh), with a
# sink in C that keeps up.
bench: bench-logplex
bench-logplex: deps
	$(MAKE) build/hsup bench/waitn bench/logplex_sink
	bench/logplex.sh

bench/logplex_sink: bench/logplex_sink.c
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

# Following an app on the Platform API, and what linking libcurl would cost (bench/poller.sh).
bench: bench-poller
bench-poller: deps
	$(MAKE) build/hsup bench/lctime
	bench/poller.sh

# Static and small: its own memory before exec counts in the children's peak RSS.
bench/lctime: bench/lctime.c
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

bench/waitn: bench/waitn.c
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

bench/spawnfloor: bench/spawnfloor.c
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

C_FILES = $(shell find common hsupd control drivers libcontainer stacks alloc tests bench ftest/payload fuzz init -name '*.[ch]' 2>/dev/null)

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run --Werror $(C_FILES)

clean:
	rm -rf build bench/waitn bench/spawnfloor bench/lctime bench/logplex_sink

-include $(shell find build -name '*.d' -type f 2>/dev/null)

FORCE:
