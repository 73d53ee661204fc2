# tlsedge build. `make` builds build/tlsedge; `make run` and `make test` are the README's two
# commands; both install missing Debian packages first (`make deps`).

include config.mk
SHELL := /bin/bash

comma := ,
SAN ?=
# build/, build/san-address-undefined/, build/system/, ...: one directory per variant, so
# switching SAN or BORINGSSL never mixes objects. BoringSSL itself is built once, outside them.
variant := $(if $(SAN),san-$(subst $(comma),-,$(SAN)))
ifeq ($(BORINGSSL),system)
variant := $(if $(variant),$(variant)-)system
endif
BUILD ?= build$(if $(variant),/$(variant))
ifneq ($(SAN),)
SANFLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
# The sanitizers bring their own allocator; jemalloc would hide use-after-free from ASan.
MALLOC_LIBS :=
else
SANFLAGS :=
MALLOC_LIBS := $(JEMALLOC_LIBS)
endif

# FUZZ_ENGINE=libfuzzer (set by `make fuzz` for its sub-make): every object gets libFuzzer's
# coverage instrumentation.
ifeq ($(FUZZ_ENGINE),libfuzzer)
SANFLAGS += -fsanitize=fuzzer-no-link
endif

CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPTFLAGS) $(WARNFLAGS) -fvisibility=hidden -I. -Ihooks/include \
	$(BSSL_CFLAGS) $(URCU_CFLAGS) $(SANFLAGS) -MMD -MP \
	-DTLSEDGE_BSSL_DESC='"$(BSSL_DESC)"' $(CFLAGS)
LDLIBS_ALL := $(BSSL_LIBS) $(URCU_LIBS) $(YAML_LIBS) $(MALLOC_LIBS) -ldl -lpthread -lm $(LDLIBS)
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

MODULES := core net tls hooks bridge
LIB_SRC := $(filter-out core/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/core/main.o
UNIT_SRC := $(wildcard tests/unit/*/test_*.c) tests/unit/lsan.c
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
KEYSERVER_SRC := $(wildcard tls/keyserver/*.c) tls/keyless_proto.c core/log.c core/err.c
KEYSERVER_OBJ := $(KEYSERVER_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_SRC := $(wildcard tests/tools/*.c)
# A tool in several files is a directory tests/tools/NAME/ of *.c files (origin).
TOOL_DIRS := $(patsubst tests/tools/%/,%,$(sort $(dir $(wildcard tests/tools/*/*.c))))
TOOL_DIR_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(TOOL_DIRS:%=tests/tools/%/*.c)))
TOOLS := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%) $(TOOL_DIRS:%=$(BUILD)/tools/%)

# Fuzz targets (tests/fuzz/README.md): tests/fuzz/fuzz_NAME.c, each linked with libFuzzer
# (`make fuzz`) and with tests/fuzz/replay.c ($(BUILD)/fuzz-replay/NAME, replayed by `make test`).
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)
FUZZ_CORPUS := $(BUILD)/fuzz-corpus
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60

.PHONY: all tlsedge deps run test unit integration tools fixtures bench soak clean format plugins \
	install compat fuzz fuzz-smoke fuzz-replay fuzz-targets
all: $(BUILD)/tlsedge $(BUILD)/tlsedge-keyserver $(TOOLS) $(if $(BENCH_SRC),$(BUILD)/tlsedge-bench) \
	plugins

# Every object may include BoringSSL's headers: they wait for the BoringSSL build.
$(BUILD)/obj/%.o: %.c $(BSSL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# Plugins bind to the executable: it exports the TS* API (hooks/) and the whole of BoringSSL's API
# (every archive member, --whole-archive), and nothing else (a dynamic list; -fvisibility=hidden).
HOOK_OBJ := $(filter $(BUILD)/obj/hooks/%,$(LIB_OBJ))
$(BUILD)/exports.list: $(HOOK_OBJ) hooks/exports.sh $(BSSL_STAMP)
	sh hooks/exports.sh $@ $(HOOK_OBJ) $(BSSL_ARCHIVES)

$(BUILD)/tlsedge: $(LIB_OBJ) $(MAIN_OBJ) $(BUILD)/exports.list
	$(CC) $(LDFLAGS_ALL) -Wl,--dynamic-list=$(BUILD)/exports.list -o $@ $(LIB_OBJ) $(MAIN_OBJ) \
	  $(BSSL_EXPORT_LIBS) $(URCU_LIBS) $(YAML_LIBS) $(MALLOC_LIBS) -ldl -lpthread -lm $(LDLIBS)

# Plugins: tests/plugins/NAME.c (loaded by the integration tests) and the samples
# hooks/plugins/NAME/*.c, each built into $(BUILD)/plugins/NAME.so against hooks/include.
PLUGIN_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPTFLAGS) $(WARNFLAGS) -fPIC -Ihooks/include \
	$(BSSL_CFLAGS) $(SANFLAGS)
TEST_PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard tests/plugins/*.c))
SAMPLE_DIRS := $(patsubst hooks/plugins/%/,%,$(sort $(dir $(wildcard hooks/plugins/*/*.c))))
SAMPLE_PLUGINS := $(SAMPLE_DIRS:%=$(BUILD)/plugins/%.so)
$(BUILD)/plugins/%.so: tests/plugins/%.c hooks/include/ts/ts.h hooks/include/ts/apidefs.h $(BSSL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -o $@ $< -lpthread
define sample_rule
$(BUILD)/plugins/$(1).so: $(wildcard hooks/plugins/$(1)/*.c) hooks/include/ts/ts.h $(BSSL_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(PLUGIN_CFLAGS) -shared -o $$@ $$(filter %.c,$$^)
endef
$(foreach p,$(SAMPLE_DIRS),$(eval $(call sample_rule,$(p))))
plugins: $(TEST_PLUGINS) $(SAMPLE_PLUGINS)

# The sample and test plugins compiled against ATS's own ts/ts.h (trafficserver-dev): the API
# subset is source compatible. Skipped with a notice when the package cannot be installed.
compat:
	@sh hooks/compat.sh $(BSSL_INCDIR)

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the executable, the plugin API headers (ts/ and
# BoringSSL's openssl/) and tlsedge-plugin.pc, from which a plugin takes its build flags.
PREFIX ?= /usr/local
install: $(BUILD)/tlsedge
	sh hooks/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(BSSL_INCDIR)"

# One Criterion binary holds every unit suite; it links the library objects, not main.
# libcriterion pulls in OpenSSL 3's libcrypto (through libgit2 and libssh2); BoringSSL's symbols
# are unversioned, so this binary must not export them (--exclude-libs) or OpenSSL's callers
# would bind to them.
$(BUILD)/unit-tests: $(UNIT_OBJ) $(LIB_OBJ)
	$(CC) $(SANFLAGS) -Wl,--exclude-libs,ALL -o $@ $^ $(CRITERION_LIBS) $(LDLIBS_ALL)

# The keyless signer (tls/keyserver/): BoringSSL's libcrypto and pthreads only.
$(BUILD)/tlsedge-keyserver: $(KEYSERVER_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(BSSL_LIBS) -lpthread

# The load generator (bench/*.c): a standalone BoringSSL client, no tlsedge objects.
$(BUILD)/tlsedge-bench: $(BENCH_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(BSSL_LIBS) -lpthread -lm

# tlsedge against nginx and HAProxy, side by side on pinned CPUs (not part of `make test`).
bench: deps
	@$(MAKE) --no-print-directory all
	bash bench/compare.sh $(BENCH_ARGS)

# A long run under load with reloads and origin faults (tests/soak/soak.sh; not part of `make
# test`): `make soak MINUTES=10`.
MINUTES ?= 10
soak: all $(BUILD)/fixtures/.stamp
	@BUILD=$(BUILD) TLSEDGE_FIXTURES=$(abspath $(BUILD)/fixtures) MINUTES=$(MINUTES) \
	 bash tests/soak/soak.sh

# Test tools (origin servers, raw clients) are standalone programs used by integration tests:
# tests/tools/NAME.c, or the objects of tests/tools/NAME/*.c, become $(BUILD)/tools/NAME.
$(BUILD)/tools/%: tests/tools/%.c $(BSSL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BSSL_LIBS) -lpthread

define tool_dir_rule
$(BUILD)/tools/$(1): $(filter $(BUILD)/obj/tests/tools/$(1)/%,$(TOOL_DIR_OBJ))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(SANFLAGS) -o $$@ $$^ $$(BSSL_LIBS) -lpthread
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call tool_dir_rule,$(t))))

tools: $(TOOLS)

# Seed corpora, made at build time (real ClientHellos and curl requests captured on loopback).
$(FUZZ_CORPUS)/.stamp: tests/fuzz/mkcorpus.sh tests/fixtures/capture_clienthello.sh \
		$(BUILD)/tools/capture_listener $(BUILD)/tlsedge
	@CAPTURE_LISTENER=$(abspath $(BUILD)/tools/capture_listener) \
	 TLSEDGE=$(abspath $(BUILD)/tlsedge) sh tests/fuzz/mkcorpus.sh $(FUZZ_CORPUS)
	@touch $@

# Replay drivers: the project's compiler (and SAN), no libFuzzer; tests/integration/23-fuzz-replay.sh
# runs them over the corpora and tests/fuzz/regress/.
$(FUZZ_REPLAY): $(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

fuzz-replay: $(FUZZ_REPLAY) $(FUZZ_CORPUS)/.stamp

# Cross-thread stress programs (tests/tsan/README.md): tests/tsan/NAME.c with the library, for
# every build; tests/integration/24-threads.sh runs them (the TSan view of `make test SAN=thread`).
TSAN_PROGS := $(patsubst tests/tsan/%.c,$(BUILD)/tsan/%,$(wildcard tests/tsan/*.c))
$(TSAN_PROGS): $(BUILD)/tsan/%: $(BUILD)/obj/tests/tsan/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# libFuzzer targets: clang-14 with ASan + UBSan, objects included, into build/fuzz/ (the
# Debian packages in FUZZ_DEB_PACKAGES, config.mk, are installed first).
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz-%)
$(FUZZ_BINS): $(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIB_OBJ)
	$(CC) $(SANFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz-targets: $(FUZZ_BINS) $(FUZZ_CORPUS)/.stamp

fuzz: deps
	@sh tests/fixtures/deps.sh $(FUZZ_DEB_PACKAGES)
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) SAN=address,undefined \
	   FUZZ_ENGINE=libfuzzer fuzz-targets

# Each target for FUZZ_SECONDS (default 60), one after the other; see tests/fuzz/smoke.sh.
fuzz-smoke: fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/smoke.sh build/fuzz $(FUZZ_NAMES)

# Debian packages, then (BORINGSSL=source) the BoringSSL build: silent when both are there.
deps:
	@sh tests/fixtures/deps.sh $(DEB_PACKAGES)
	@sh tests/fixtures/deps.sh $(DEB_OPTIONAL) || \
	 echo "deps: optional packages not installed ($(DEB_OPTIONAL)): the tests that need them skip"
ifeq ($(BORINGSSL),source)
	@sh tests/fixtures/boringssl.sh $(BSSL_ROOT)
endif

ifeq ($(BORINGSSL),source)
# The script does nothing when the cached build exists, and builds it otherwise (about 2 minutes,
# once per Debian version for every clone). BSSL_VERSION was read when make started: targets
# that run `deps` first build in a sub-make, which reads it again.
$(BSSL_STAMP): $(BSSL_CACHE_STAMP)
	@if [ -z "$(BSSL_VERSION)" ]; then \
	   echo "android-libboringssl is not installed: run 'make deps' first" >&2; exit 1; fi
	@sh tests/fixtures/boringssl.sh $(BSSL_ROOT)
	@rm -f $(dir $(BSSL_STAMP))boringssl-*.stamp && touch $@

# Missing (first build, new version, cache removed): the rule above builds it.
$(BSSL_CACHE_STAMP): ;
endif

# `make tlsedge` builds only the executable (quietly when it is up to date).
tlsedge: $(BUILD)/tlsedge
	@:

run: deps
	@$(MAKE) --no-print-directory tlsedge
	$(BUILD)/tlsedge $(ARGS)

# Certificates and keys for the tests are made at test time (never committed).
$(BUILD)/fixtures/.stamp: tests/fixtures/mkcerts.sh
	@rm -rf $(BUILD)/fixtures && mkdir -p $(BUILD)/fixtures
	@sh tests/fixtures/mkcerts.sh $(BUILD)/fixtures >$(BUILD)/fixtures.log 2>&1 || \
	 { cat $(BUILD)/fixtures.log; exit 1; }
	@touch $@

fixtures: $(BUILD)/fixtures/.stamp

# Criterion counts a test whose child process printed a sanitizer report at exit (a leak) as
# passed, so under SAN the output is scanned as well. The runner process itself is not
# leak-checked (tests/unit/lsan.c says why); under ASan, lsan/probe then checks that a leak made
# inside a test is still reported.
# Criterion cannot start under ThreadSanitizer (tests/tsan/README.md): with SAN=thread the unit
# stage says so and the integration stage, with tests/tsan/ programs, is the TSan run.
ifneq ($(filter thread,$(subst $(comma), ,$(SAN))),)
unit:
	@echo "unit: skipped under SAN=thread: Criterion's BoxFort sandbox cannot map its arena" \
	  "under ThreadSanitizer (tests/tsan/README.md); the integration stage runs tests/tsan/"
else
unit: $(BUILD)/unit-tests $(BUILD)/fixtures/.stamp
	@set -o pipefail 2>/dev/null; rc=0; \
	 TLSEDGE_FIXTURES=$(abspath $(BUILD)/fixtures) $(BUILD)/unit-tests --jobs=2 $(UNIT_ARGS) \
	   2>&1 | tee $(BUILD)/unit.log || rc=1; \
	 if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' $(BUILD)/unit.log; then \
	   echo "unit: sanitizer reports found (see $(BUILD)/unit.log)"; rc=1; fi; \
	 $(if $(filter address,$(subst $(comma), ,$(SAN))),\
	 TLSEDGE_LSAN_PROBE=1 $(BUILD)/unit-tests --filter 'lsan/probe' >$(BUILD)/lsan-probe.log 2>&1; \
	 if grep -q 'ERROR: LeakSanitizer' $(BUILD)/lsan-probe.log; then \
	   echo "unit: LeakSanitizer reports a leak made in a test process (lsan/probe)"; \
	 else echo "unit: LeakSanitizer missed the leak lsan/probe made (see $(BUILD)/lsan-probe.log)"; rc=1; fi;) \
	 exit $$rc
endif

# Under SAN=thread, TSan reads the suppressions for third-party code (tests/tsan/suppressions.txt).
integration: all $(BUILD)/fixtures/.stamp fuzz-replay $(TSAN_PROGS)
	@BUILD=$(BUILD) TLSEDGE_FIXTURES=$(abspath $(BUILD)/fixtures) \
	 TSAN_OPTIONS="suppressions=$(abspath tests/tsan/suppressions.txt) $${TSAN_OPTIONS:-}" \
	 sh tests/integration/run.sh $(TESTS)

# Unit then integration; both always run so one report shows everything, and the exit
# status is non-zero when either failed.
test: deps
	@$(MAKE) --no-print-directory all $(if $(filter thread,$(subst $(comma), ,$(SAN))),,$(BUILD)/unit-tests)
	@rc=0; $(MAKE) --no-print-directory compat || rc=1; \
	 $(MAKE) --no-print-directory unit || rc=1; \
	 $(MAKE) --no-print-directory integration || rc=1; exit $$rc

format:
	clang-format -i $(foreach m,$(MODULES) bench tests/unit tests/tools,$(wildcard $(m)/*.[ch] $(m)/*/*.[ch]))

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) $(KEYSERVER_OBJ:.o=.d) \
	$(TOOL_DIR_OBJ:.o=.d) $(FUZZ_NAMES:%=$(BUILD)/obj/tests/fuzz/fuzz_%.d) $(BUILD)/obj/tests/fuzz/replay.d \
	$(TSAN_PROGS:$(BUILD)/tsan/%=$(BUILD)/obj/tests/tsan/%.d)
