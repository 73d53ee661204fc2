// SPDX-License-Identifier: Apache-2.0
// tls/pkcs11_elf.c: tls_pkcs11_module_check (see tls/pkcs11.h): reads the DT_NEEDED entries of
// a PKCS#11 module and of the libraries it needs, without loading any of them, and refuses
// OpenSSL's libcrypto and libssl. Loading such a module into tlsedge crashes (dlopen: symbol
// clash with BoringSSL; dlmopen: thread-local key collision), so it must be refused before
// dlopen, with an explanation.
#include "tls/pkcs11.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEEDED_MAX 32
#define DEPTH_MAX 4
#define SEEN_MAX 64

static const char *const lib_dirs[] = {
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

struct walk {
    char seen[SEEN_MAX][64];
    int n_seen;
};

static bool read_at(int fd, off_t off, void *buf, size_t len)
{
    return pread(fd, buf, len, off) == (ssize_t)len;
}

// Maps a virtual address to a file offset through the PT_LOAD segments.
static bool vaddr_to_off(const Elf64_Phdr *ph, int n, Elf64_Addr va, off_t *off)
{
    for (int i = 0; i < n; i++) {
        if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr && va < ph[i].p_vaddr + ph[i].p_filesz) {
            *off = (off_t)(ph[i].p_offset + (va - ph[i].p_vaddr));
            return true;
        }
    }
    return false;
}

// Reads the DT_NEEDED names of the ELF file fd into names (NEEDED_MAX x 64). Returns their
// number, or -ENOEXEC.
static int needed_of(int fd, char names[][64])
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    if (!read_at(fd, 0, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > 64 || !read_at(fd, (off_t)eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr)))
        return -ENOEXEC;
    const Elf64_Phdr *dyn = NULL;
    for (int i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = &ph[i];
    if (!dyn)
        return 0; // static: needs nothing
    Elf64_Dyn d[512];
    size_t nd = dyn->p_filesz / sizeof(Elf64_Dyn);
    if (nd > 512)
        nd = 512;
    if (!read_at(fd, (off_t)dyn->p_offset, d, nd * sizeof(Elf64_Dyn)))
        return -ENOEXEC;
    Elf64_Addr strtab = 0;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++)
        if (d[i].d_tag == DT_STRTAB)
            strtab = d[i].d_un.d_ptr;
    off_t str_off;
    if (!strtab || !vaddr_to_off(ph, eh.e_phnum, strtab, &str_off))
        return -ENOEXEC;
    int n = 0;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL && n < NEEDED_MAX; i++) {
        if (d[i].d_tag != DT_NEEDED)
            continue;
        ssize_t got = pread(fd, names[n], 63, str_off + (off_t)d[i].d_un.d_val);
        if (got <= 0)
            return -ENOEXEC;
        names[n][got] = '\0';
        n++;
    }
    return n;
}

static bool is_openssl(const char *name)
{
    return strncmp(name, "libcrypto.so", 12) == 0 || strncmp(name, "libssl.so", 9) == 0;
}

static bool seen_before(struct walk *w, const char *name)
{
    for (int i = 0; i < w->n_seen; i++)
        if (strcmp(w->seen[i], name) == 0)
            return true;
    if (w->n_seen < SEEN_MAX)
        snprintf(w->seen[w->n_seen++], sizeof(w->seen[0]), "%.63s", name);
    return false;
}

// Checks path and, depth levels down, what it needs. chain names the way here, for the message.
static int walk_file(struct walk *w, const char *path, int depth, const char *chain, char *why,
                     size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ENOENT;
    char names[NEEDED_MAX][64];
    int n = needed_of(fd, names);
    close(fd);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        if (is_openssl(names[i])) {
            snprintf(why, whylen, "%s%s", chain, names[i]);
            return -EPERM;
        }
    }
    for (int i = 0; i < n && depth < DEPTH_MAX; i++) {
        if (seen_before(w, names[i]))
            continue;
        char sub[PATH_MAX], next[256];
        snprintf(next, sizeof(next), "%.180s%.63s -> ", chain, names[i]);
        for (size_t j = 0; j < sizeof(lib_dirs) / sizeof(lib_dirs[0]); j++) {
            snprintf(sub, sizeof(sub), "%s/%s", lib_dirs[j], names[i]);
            int rc = walk_file(w, sub, depth + 1, next, why, whylen);
            if (rc == -EPERM)
                return rc;
            if (rc == 0)
                break;
        }
    }
    return 0;
}

int tls_pkcs11_module_check(const char *path, char *why, size_t whylen)
{
    struct walk *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    if (whylen)
        why[0] = '\0';
    int rc = walk_file(w, path, 0, "", why, whylen);
    free(w);
    return rc;
}
