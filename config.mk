# config.mk: toolchain, flags, and where each dependency lives.
# This is the only file that knows BoringSSL's location (see README "BoringSSL").

CC ?= cc

# BoringSSL (README "BoringSSL"):
#   BORINGSSL=source (default): Debian's source package android-platform-external-boringssl, at
#     the version of the installed android-libboringssl, built with production flags (no
#     OPENSSL_SMALL) by tests/fixtures/boringssl.sh into a per-version cache shared by every
#     clone and every BUILD directory; build/deps/boringssl points at it. Linked statically.
#   BORINGSSL=system: Debian's android-libboringssl-dev as packaged (OPENSSL_SMALL: ECDSA P-256
#     3-4x slower), linked dynamically.
BORINGSSL ?= source
ifeq ($(BORINGSSL),source)
BSSL_ROOT := build/deps/boringssl
# "ii VERSION" when installed; empty before `make deps` installed it.
bssl_st := $(shell dpkg-query -W -f='$${db:Status-Abbrev}$${source:Version}' android-libboringssl 2>/dev/null)
BSSL_VERSION := $(if $(filter ii,$(word 1,$(bssl_st))),$(word 2,$(bssl_st)))
bssl_key := $(subst :,_,$(BSSL_VERSION))
# The cached build is complete exactly when BSSL_CACHE_STAMP exists (the script writes it last).
# BSSL_STAMP, in this clone, is touched when this clone starts using that build: objects depend
# on it, so a new version (or a rebuilt cache) recompiles them.
BSSL_CACHE_STAMP := $(BSSL_ROOT)/.stamp-$(bssl_key)
BSSL_STAMP := build/deps/boringssl-$(bssl_key).stamp
BSSL_CFLAGS := -isystem $(BSSL_ROOT)/include
BSSL_LIBS := $(BSSL_ROOT)/lib/libssl.a $(BSSL_ROOT)/lib/libcrypto.a -lstdc++ -lpthread
# tlsedge itself links every member, so that plugins find all of BoringSSL's API in it.
BSSL_ARCHIVES := $(BSSL_ROOT)/lib/libssl.a $(BSSL_ROOT)/lib/libcrypto.a
BSSL_EXPORT_LIBS := -Wl,--whole-archive $(BSSL_ARCHIVES) -Wl,--no-whole-archive -lstdc++ -lpthread
BSSL_INCDIR := $(BSSL_ROOT)/include
BSSL_DESC := Debian android-platform-external-boringssl $(BSSL_VERSION) built from source \
	(static, no OPENSSL_SMALL)
else ifeq ($(BORINGSSL),system)
BSSL_INC := /usr/include/android
BSSL_LIBDIR := /usr/lib/x86_64-linux-gnu/android
BSSL_STAMP :=
BSSL_CFLAGS := -isystem $(BSSL_INC)
BSSL_LIBS := -L$(BSSL_LIBDIR) -Wl,-rpath,$(BSSL_LIBDIR) -lssl -lcrypto
# Shared: plugins bind to the same libssl/libcrypto through the dynamic linker.
BSSL_ARCHIVES :=
BSSL_EXPORT_LIBS := $(BSSL_LIBS)
BSSL_INCDIR := $(BSSL_INC)
BSSL_DESC := system android-libboringssl ($(BSSL_LIBDIR), OPENSSL_SMALL)
else
$(error BORINGSSL must be source or system, not '$(BORINGSSL)')
endif

URCU_CFLAGS := -I/usr/include/x86_64-linux-gnu
URCU_LIBS := -lurcu-qsbr -lurcu-common
YAML_LIBS := -lyaml
JEMALLOC_LIBS := -ljemalloc
CRITERION_LIBS := -lcriterion

# Debian packages that the build, `make run` and `make test` need (installed by `make deps`).
# BORINGSSL=source also uses g++, xz-utils and patch (tests/fixtures/boringssl.sh); the
# installed android-libboringssl's version names the source it builds.
DEB_PACKAGES := build-essential android-libboringssl-dev liburcu-dev libjemalloc-dev \
	libcriterion-dev libyaml-dev openssl curl procps iproute2 jq \
	g++ xz-utils patch $(KEYSTORE_PACKAGES)
# Wanted but not required: `make deps` tries them, and a test that needs a missing one says so
# and skips (testssl.sh: tests/integration/22-testssl.sh, the external scanner).
DEB_OPTIONAL := testssl.sh

# PKCS#11 keys: the header (libp11-kit-dev), p11-kit-client.so (p11-kit-modules) for tlsedge;
# p11-kit's server, SoftHSM2, the software TPM stack and pkcs11-tool (opensc) for the tests'
# tokens (tests/fixtures/keystores.sh).
KEYSTORE_PACKAGES := libp11-kit-dev p11-kit p11-kit-modules softhsm2 opensc swtpm swtpm-tools \
	libtpm2-pkcs11-1 libtss2-tcti-swtpm0 tpm2-abrmd libtss2-tcti-tabrmd0 dbus

# `make fuzz` and `make fuzz-smoke` also need clang with libFuzzer and its sanitizer runtimes.
FUZZ_DEB_PACKAGES := clang-14 libclang-rt-14-dev

OPTFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
