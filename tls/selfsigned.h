// SPDX-License-Identifier: Apache-2.0
// tls/selfsigned.h: the embedded default's certificate, made in memory at start-up.
#ifndef TLSEDGE_TLS_SELFSIGNED_H
#define TLSEDGE_TLS_SELFSIGNED_H

#include <stddef.h>

// tls_selfsigned_make creates a fresh ECDSA P-256 key and a self-signed certificate for
// localhost, 127.0.0.1 and ::1 valid for one year, both PEM-encoded. On success returns 0 and
// hands back heap strings (*cert_pem, *key_pem; the caller frees them, and should wipe the key
// with OPENSSL_cleanse first) with their lengths. Returns -ENOMEM or -EIO otherwise. Any thread.
int tls_selfsigned_make(char **cert_pem, size_t *cert_len, char **key_pem, size_t *key_len);

#endif
