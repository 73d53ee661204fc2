// SPDX-License-Identifier: Apache-2.0
// tests/fuzz/replay.c: a main() that feeds files to a fuzz target's LLVMFuzzerTestOneInput, so
// the corpora and every saved crash are replayed by `make test` with the project's own compiler,
// without clang or libFuzzer (and under SAN=..., with that sanitizer).
//
// Usage: replay-NAME PATH...   (PATH: a file, or a directory whose regular files are replayed
// in name order; subdirectories are not entered). Each file is copied into a heap buffer of
// exactly its size, so a sanitizer sees any read past the end. Prints "replay NAME: N inputs"
// and exits 0; a failed property check or a crash aborts, naming the file being run first on
// stderr when -v is given. Exits 1 when a path cannot be read or nothing was replayed.
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// read_file reads path into a new heap buffer of exactly its size (1 byte for an empty file,
// so the pointer is never NULL) and sets *len. Returns the buffer, or NULL with errno set.
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    struct stat st;
    if (f == NULL)
        return NULL;
    if (fstat(fileno(f), &st) != 0)
        goto out;
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL)
        goto out;
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (*len != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
        errno = EIO;
    }
out:
    fclose(f);
    return buf;
}

// run_file replays one file. Returns 0, or -1 when it cannot be read.
static int run_file(const char *path, bool verbose)
{
    size_t len = 0;
    uint8_t *buf = read_file(path, &len);
    if (buf == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (verbose)
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    (void)LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

// run_dir replays the regular files of dir in name order, adding them to *count. Returns 0 or -1.
static int run_dir(const char *dir, bool verbose, long *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    int rc = 0;
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path, verbose);
            *count += rc == 0;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    bool verbose = false;
    long count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
            continue;
        }
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int rc = S_ISDIR(st.st_mode) ? run_dir(argv[i], verbose, &count)
                                     : (count++, run_file(argv[i], verbose));
        if (rc != 0)
            return 1;
    }
    printf("replay %s: %ld inputs\n", name, count);
    return count > 0 ? 0 : 1;
}
