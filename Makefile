# LightVM - one Makefile for everything.  `make` builds the agent, the
# lvsh, the guest images and the tests; `make check` runs unit tests;
# `make asan` builds and runs the unit tests with ASan/UBSan.
PREFIX  ?= /usr/local
DESTDIR ?=
B       := build

CC      ?= cc
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  ?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE
# a section per function: lightvm-factory links only the shell's code
# out of liblightvm.a (--gc-sections)
override CFLAGS += -ffunction-sections -fdata-sections
LDLIBS_PB := $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)
# lvsh is one static PIE: it is a process per command in scripts (`lvsh -c
# ...`), and under emulation (Dom0 in the Xen testbed) loading its seven
# shared objects was most of its start: `lvsh --version` there, medians of
# 25, 110 ms shared, 86 ms with only libc shared, 61 ms static (README,
# "On Xen").  Sanitizer builds and the Debian package (scripts/package)
# link it shared (LVSH_LIBS_SHARED).
LVSH_LIBS_SHARED := $(LDLIBS_PB) -ledit -lncursesw
LVSH_LIBS ?= -static-pie $(LDLIBS_PB) -ledit -lncursesw -ltinfo -lbsd -lmd

# ---- the Xen driver: built when the libxen headers are there (libxen-dev)
XEN_PKGS := xencontrol xenguest xenevtchn xenforeignmemory xengnttab xenstore xenstat
HAVE_XEN ?= $(shell pkg-config --exists $(XEN_PKGS) 2>/dev/null && echo 1)
ifeq ($(HAVE_XEN),1)
override CFLAGS += -DLV_HAVE_XEN
LDLIBS_XEN := $(shell pkg-config --libs $(XEN_PKGS))
endif

# ---- generated protocol code
PROTO_C := $(B)/gen/lightvm.pb-c.c
PROTO_H := $(B)/gen/lightvm.pb-c.h

# ---- libraries (static archives, one object per source)
CORE_SRC  := $(wildcard core/*.c) $(wildcard core/kvm/*.c) $(wildcard core/kvm/*.S)
ifeq ($(HAVE_XEN),1)
CORE_SRC  += $(wildcard core/xen/*.c)
endif
PROTO_SRC := $(wildcard proto/*.c)
AGENT_SRC := $(wildcard agent/*.c)
LVSH_SRC  := $(wildcard lvsh/*.c)

obj = $(patsubst %.S,$(B)/obj/%.o,$(patsubst %.c,$(B)/obj/%.o,$(1)))

# ---- the boundaries between the parts, as include paths: a part sees only
# the headers it may use, so crossing a boundary is a compile error.
#   core:  its own headers and the guest ABI; never proto, protobuf, ncurses
#          or libedit (poison headers with #error stand in front of them)
#   proto: its own headers and the generated code; never the core
#   agent: the core's public header (lightvm.h) and proto; not the core's
#          internals
#   lvsh:  proto only; never the core
#   guest: freestanding, its own headers and the compiler's (no libc, no
#          host header: -nostdinc)
POISON    := $(B)/poison
POISONED  := curses.h ncurses.h ncursesw/curses.h ncursesw/ncurses.h histedit.h \
	editline/readline.h protobuf-c/protobuf-c.h lightvm.pb-c.h frame.h vmcfg.h lv_limits.h
CORE_INC  := -I$(POISON) -Icore/include -Icore -Iinclude
PROTO_INC := -Iproto -I$(B)/gen
AGENT_INC := -Icore/include -Iproto -I$(B)/gen
LVSH_INC  := -Iproto -I$(B)/gen
# tests and tools reach inside every part
ALL_INC   := -Icore/include -Icore -Iinclude -Iproto -I$(B)/gen

$(B)/obj/core/%.o:  INC := $(CORE_INC)
$(B)/obj/proto/%.o: INC := $(PROTO_INC)
$(B)/obj/gen/%.o:   INC := $(PROTO_INC)
$(B)/obj/agent/%.o: INC := $(AGENT_INC)
$(B)/obj/lvsh/%.o:  INC := $(LVSH_INC)
$(B)/obj/factory/%.o: INC := $(CORE_INC)

CORE_OBJ  := $(call obj,$(CORE_SRC))
PROTO_OBJ := $(call obj,$(PROTO_SRC)) $(B)/obj/gen/lightvm.pb-c.o
AGENT_OBJ := $(call obj,$(AGENT_SRC))
LVSH_OBJ  := $(call obj,$(LVSH_SRC))
# lvsh minus main(): unit tests link it to reach the command table
LVSH_LIB_OBJ := $(filter-out $(B)/obj/lvsh/main.o,$(LVSH_OBJ))

BINS := $(B)/lightvmd $(B)/lvsh $(B)/lightvm-factory

# ---- guest images
GUEST_CFLAGS := -std=gnu11 $(WARN) -O2 -g -ffreestanding -fno-stack-protector \
	-fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fcf-protection=none -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
	-Iinclude -Iguest/rt -Iguest/net
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/guest.ld -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096
GUEST_RT_SRC := $(wildcard guest/rt/*.c) $(wildcard guest/rt/*.S)
GUEST_RT_OBJ := $(patsubst %,$(B)/guest/%.o,$(GUEST_RT_SRC))
# the network stack: an archive, so only images that use it link it
# (netdev_kvm.c or netdev_xen.c: the NIC driver of each platform)
GUEST_NET_COMMON := $(filter-out guest/net/netdev_%.c,$(wildcard guest/net/*.c))
GUEST_NET_OBJ := $(patsubst %,$(B)/guest/%.o,$(GUEST_NET_COMMON) guest/net/netdev_kvm.c)
XEN_NET_OBJ   := $(patsubst %,$(B)/guest/%.o,$(GUEST_NET_COMMON) guest/net/netdev_xen.c)
GUEST_APPS   := $(patsubst guest/apps/%.c,%,$(wildcard guest/apps/*.c))
IMAGES       := $(patsubst %,$(B)/images/%,$(GUEST_APPS))
# the same apps on the Xen PV platform (guest/xen replaces the KVM rt)
XEN_APPS     := $(filter noop hello echo crash spin daytime badtx chatty,$(GUEST_APPS))
XEN_RT_SRC   := $(wildcard guest/xen/*.c) $(wildcard guest/xen/*.S) guest/rt/string.c guest/rt/printf.c guest/rt/dev.c
XEN_RT_OBJ   := $(patsubst %,$(B)/guest/%.o,$(XEN_RT_SRC))
XEN_IMAGES   := $(patsubst %,$(B)/images-xen/%,$(XEN_APPS))

# ---- tests
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TEST_HELPERS := $(patsubst tests/tools/%.c,$(B)/tests/%,$(wildcard tests/tools/*.c))

all: $(BINS) $(IMAGES) $(XEN_IMAGES) $(UNIT_BINS) $(TEST_HELPERS)

$(PROTO_C) $(PROTO_H): proto/lightvm.proto
	@mkdir -p $(B)/gen
	protoc-c --proto_path=proto --c_out=$(B)/gen $<

$(B)/obj/gen/lightvm.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -Wno-error -c -o $@ $<

$(POISON)/%.h:
	@mkdir -p $(dir $@)
	@echo '#error "$*.h: not for this part of LightVM (Makefile: the boundaries)"' >$@

# Only the parts that may use the generated protocol header wait for it
# (order-only: after the first build the .d files name who includes it);
# the core never does.
$(call obj,$(PROTO_SRC) $(AGENT_SRC) $(LVSH_SRC)): | $(PROTO_H)
$(CORE_OBJ): | $(addprefix $(POISON)/,$(POISONED))

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -MMD -MP -c -o $@ $<

$(B)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(B)/liblightvm.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/libproto.a: $(PROTO_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/liblvsh.a: $(LVSH_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/lightvmd: $(AGENT_OBJ) $(B)/liblightvm.a $(B)/libproto.a
	$(CC) $(CFLAGS) -Wl,-z,now -o $@ $^ $(LDLIBS_PB) $(LDLIBS_XEN) -lcrypto

# the shell factory: the core's shell code and libc, nothing else; bound
# at start (-z now), so no shell resolves a PLT entry again after its fork
$(B)/lightvm-factory: $(B)/obj/factory/main.o $(B)/liblightvm.a
	$(CC) $(CFLAGS) -Wl,--gc-sections -Wl,--as-needed -Wl,-z,now -Wl,-z,relro -o $@ $^

$(B)/lvsh: $(B)/obj/lvsh/main.o $(B)/liblvsh.a $(B)/libproto.a
	$(CC) $(CFLAGS) -o $@ $^ $(LVSH_LIBS)

$(B)/guest/%.c.o: %.c include/lightvm_abi.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/guest/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(B)/guest/libnet.a: $(GUEST_NET_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/guest/libnet-xen.a: $(XEN_NET_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/images/%: $(B)/guest/guest/apps/%.c.o $(GUEST_RT_OBJ) guest/guest.ld $(B)/guest/libnet.a
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^) $(B)/guest/libnet.a

$(B)/images-xen/%: $(B)/guest/guest/apps/%.c.o $(XEN_RT_OBJ) guest/xen/xen.ld $(B)/guest/libnet-xen.a
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -nostdlib -static -no-pie -Wl,-T,guest/xen/xen.ld -Wl,--build-id=none \
		-Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -o $@ $(filter %.o,$^) $(B)/guest/libnet-xen.a

# Unit tests link what they test: the core (and the protocol, for the
# agent files some compile in) by default; the protocol alone or lvsh
# where that is all they test.
UNIT_CORE  := $(B)/liblightvm.a $(B)/libproto.a $(LDLIBS_PB) $(LDLIBS_XEN)
UNIT_PROTO := $(B)/libproto.a $(LDLIBS_PB)
UNIT_LVSH  := $(B)/liblvsh.a $(B)/libproto.a $(LVSH_LIBS_SHARED)
UNIT_LIBS = $(UNIT_CORE)
$(B)/tests/test_abi:       UNIT_LIBS =
$(B)/tests/test_frame:     UNIT_LIBS = $(UNIT_PROTO)
$(B)/tests/test_stats_enc: UNIT_LIBS = $(UNIT_PROTO)
$(B)/tests/test_vmcfg:     UNIT_LIBS = $(UNIT_LVSH)
$(B)/tests/test_cmdtable:  UNIT_LIBS = $(UNIT_LVSH)
$(B)/tests/test_limits:    UNIT_LIBS = $(B)/liblvsh.a $(UNIT_CORE)

$(B)/tests/test_%: tests/unit/test_%.c $(B)/liblightvm.a $(B)/liblvsh.a $(B)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INC) -Itests/unit -Ilvsh -o $@ $< $(UNIT_LIBS) -lcmocka

$(B)/tests/%: tests/tools/%.c $(B)/liblightvm.a $(B)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INC) -o $@ $< $(B)/liblightvm.a $(B)/libproto.a $(LDLIBS_PB) $(LDLIBS_XEN)

# ---- fuzz targets (libFuzzer: clang from Debian).  `make fuzz` builds
# them against the plain libraries of $(B); `make fuzz-run` runs each for
# FUZZ_SECONDS, keeping its corpus in $(B)/fuzz/corpus-NAME.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
	$(filter -DLV_HAVE_XEN,$(CFLAGS)) -Icore/include -Icore -Iinclude -Iproto -I$(B)/gen -Iagent

$(B)/fuzz/%: tests/fuzz/%.c $(B)/liblightvm.a $(B)/libproto.a $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(B)/liblightvm.a $(B)/libproto.a $(LDLIBS_PB) $(LDLIBS_XEN)

fuzz: $(FUZZ_BINS)

fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
		echo "== $$n ($(FUZZ_SECONDS) s)"; \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
			-artifact_prefix=$(B)/fuzz/$$n- $(B)/fuzz/corpus-$$n >$(B)/fuzz/$$n.log 2>&1; then \
			tail -n 40 $(B)/fuzz/$$n.log; echo "FAIL: $$n (input kept as $(B)/fuzz/$$n-crash-*)"; exit 1; fi; \
		tail -n 1 $(B)/fuzz/$$n.log; done

check: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# ASan/UBSan build of the whole tree (binaries and tests) in build-asan/.
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) B=build-asan CFLAGS="$(ASAN_CFLAGS)" LVSH_LIBS="$(LVSH_LIBS_SHARED)" check

# The agent, lvsh and the test tools under ASan/UBSan, for integration runs
# (LV_BUILD=build-asan tests/integration/run).
asan-bins:
	$(MAKE) B=build-asan CFLAGS="$(ASAN_CFLAGS)" LVSH_LIBS="$(LVSH_LIBS_SHARED)" all

lint-man:
	mandoc -Tlint -Wwarning man/*.[1-8]

# the guest images alone (scripts/package builds them with the binaries)
images: $(IMAGES) $(XEN_IMAGES)

# the Debian package lightvm_VERSION_ARCH.deb, with lintian's verdict
deb:
	scripts/package -B $(B)-pkg

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/lightvm/images
	install -m 755 $(B)/lvsh $(DESTDIR)$(PREFIX)/bin/lvsh
	install -m 755 $(B)/lightvmd $(DESTDIR)$(PREFIX)/sbin/lightvmd
	install -m 755 $(B)/lightvm-factory $(DESTDIR)$(PREFIX)/lib/lightvm/lightvm-factory
	install -m 644 $(IMAGES) $(DESTDIR)$(PREFIX)/lib/lightvm/images/
	install -d $(DESTDIR)$(PREFIX)/lib/lightvm/images-xen
	install -m 644 $(XEN_IMAGES) $(DESTDIR)$(PREFIX)/lib/lightvm/images-xen/
	for m in man/*.[1-8]; do s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	rm -rf build build-asan

.PHONY: all check asan asan-bins lint-man images deb install clean
-include $(shell find $(B) -name '*.d' 2>/dev/null)
.SECONDARY:
