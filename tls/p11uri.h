// SPDX-License-Identifier: Apache-2.0
// tls/p11uri.h: the PKCS#11 URI parser (RFC 7512) for `ssl_key_name=pkcs11:...`.
//
// A URI names a token (token, manufacturer, serial, model, slot-id), a private key on it
// (object = CKA_LABEL, id = CKA_ID, type), and, in the query, how to log in and which module to
// load: pin-value, pin-source (a file: URI or an absolute path whose first line is the PIN),
// module-name, module-path. Values are percent-decoded (section 2.3); an attribute given twice,
// an unknown standard attribute or a bad escape is an error (a typo must not silently pick
// another key). Vendor attributes (x-...) and the library-* / slot-* descriptions are accepted
// and ignored.
//
// Pure functions, any thread. Error texts name attributes, never values: a URI may carry a PIN.
#ifndef TLSEDGE_TLS_P11URI_H
#define TLSEDGE_TLS_P11URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// struct tls_p11uri: a parsed URI. Every string is decoded, NUL-terminated and owned by the
// struct (NULL when the attribute is absent); id is binary (id_len bytes).
struct tls_p11uri {
    char *token;        // CK_TOKEN_INFO.label
    char *manufacturer; // CK_TOKEN_INFO.manufacturerID
    char *serial;       // CK_TOKEN_INFO.serialNumber
    char *model;        // CK_TOKEN_INFO.model
    bool has_slot_id;
    unsigned long slot_id;
    char *object; // CKA_LABEL of the key
    uint8_t *id;  // CKA_ID of the key
    size_t id_len;
    char *type;        // "private" (the only type a server key can have), or NULL
    char *pin_value;   // the PIN itself (keep such configuration files private)
    char *pin_source;  // where the PIN is read from
    char *module_name; // a module in the system's PKCS#11 module directory, without ".so"
    char *module_path; // an absolute module path
};

// tls_p11uri_parse parses the NUL-terminated uri into u (caller storage, overwritten). Returns 0,
// or -EINVAL with a reason (naming no attribute value) in why (whylen bytes, may be 0), or
// -ENOMEM. On failure u holds nothing to free. Rejected: a missing "pkcs11:" scheme, an empty
// or unknown attribute name, an attribute given twice, a bad %-escape or an embedded NUL in a
// text attribute, a slot-id that is not a number, a type other than "private", pin-value with
// pin-source, module-name with module-path, and a URI naming neither object nor id.
int tls_p11uri_parse(const char *uri, struct tls_p11uri *u, char *why, size_t whylen);

// tls_p11uri_fini frees what u holds and wipes the PIN. u may be zeroed or already finished.
void tls_p11uri_fini(struct tls_p11uri *u);

// tls_p11uri_decode percent-decodes the len bytes at in into out (room for len bytes). Returns
// the decoded length, or -1 on a bad escape. Exposed for tests.
long tls_p11uri_decode(const char *in, size_t len, uint8_t *out);

#endif
