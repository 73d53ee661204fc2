// SPDX-License-Identifier: Apache-2.0
// core/file.h: reading a whole configuration file into memory. Any thread (configuration is read
// on the main thread).
#ifndef TLSEDGE_CORE_FILE_H
#define TLSEDGE_CORE_FILE_H

#include <stddef.h>

// core_file_read reads the file at path into a new NUL-terminated buffer (the caller frees it)
// and sets *len to its length (the NUL not counted). Returns NULL with errno set when the file
// cannot be opened or read, or is larger than max bytes (EFBIG).
char *core_file_read(const char *path, size_t max, size_t *len);

#endif
