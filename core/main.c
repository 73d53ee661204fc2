// SPDX-License-Identifier: Apache-2.0
// core/main.c: placeholder until the foundation lands.
#include "core/log.h"
int main(void)
{
    core_log_note("tlsedge skeleton");
    return 0;
}
