// SPDX-License-Identifier: Apache-2.0
// tests/plugins/binding.c: proves that a plugin built with nothing but the installed
// tlsedge-plugin.pc flags binds to tlsedge's API and to the BoringSSL inside it: TSPluginInit
// logs its arguments, a SHA-256 computed with BoringSSL, and BoringSSL's own version string.
#include <ts/ts.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <stdio.h>
#include <string.h>

void TSPluginInit(int argc, const char *argv[])
{
    TSPluginRegistrationInfo info = {"binding", "tlsedge tests", "dev@tlsedge"};
    if (TSPluginRegister(&info) != TS_SUCCESS)
        TSError("binding: registration failed");
    for (int i = 1; i < argc; i++)
        TSNote("binding arg %d: %s", i, argv[i]);
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)"tlsedge", 7, md);
    char *hex = TSmalloc(2 * sizeof(md) + 1);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    char *copy = TSstrdup(hex);
    TSNote("binding sha256 %s library %s api %d", copy, OpenSSL_version(OPENSSL_VERSION),
           BORINGSSL_API_VERSION);
    TSfree(copy);
    TSfree(hex);
}
