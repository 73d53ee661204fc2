# config.mk: toolchain, flags, and where each dependency lives.
# This is the only file that knows BoringSSL's location (the bench issue points it at a
# production build; see README "BoringSSL").

CC ?= cc

# BoringSSL: Debian's android-libboringssl-dev (compiled with OPENSSL_SMALL; slower P-256).
BORINGSSL ?= system
ifeq ($(BORINGSSL),system)
BSSL_INC := /usr/include/android
BSSL_LIBDIR := /usr/lib/x86_64-linux-gnu/android
BSSL_CFLAGS := -isystem $(BSSL_INC)
BSSL_LIBS := -L$(BSSL_LIBDIR) -Wl,-rpath,$(BSSL_LIBDIR) -lssl -lcrypto
BSSL_DESC := system android-libboringssl ($(BSSL_LIBDIR), OPENSSL_SMALL)
endif

URCU_CFLAGS := -I/usr/include/x86_64-linux-gnu
URCU_LIBS := -lurcu-qsbr -lurcu-common
YAML_LIBS := -lyaml
JEMALLOC_LIBS := -ljemalloc
CRITERION_LIBS := -lcriterion

# Debian packages that the build, `make run` and `make test` need (installed by `make deps`).
DEB_PACKAGES := build-essential android-libboringssl-dev liburcu-dev libjemalloc-dev \
	libcriterion-dev libyaml-dev openssl curl procps iproute2 jq

OPTFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
