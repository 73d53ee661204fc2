// SPDX-License-Identifier: Apache-2.0
// core/yaml.h: small helpers shared by the YAML configuration readers (sni.yaml in tls/sni.c,
// ip_allow.yaml in net/ipallow.c) over libyaml's document API. Header-only; any thread.
#ifndef TLSEDGE_CORE_YAML_H
#define TLSEDGE_CORE_YAML_H

#include <string.h>
#include <yaml.h>

// core_yaml_line returns the 1-based line where node n starts, for error messages.
static inline int core_yaml_line(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

// core_yaml_text returns a scalar node's text (lent by the document), or NULL when n is NULL,
// not a scalar, or holds a NUL byte (which would cut the text short).
static inline const char *core_yaml_text(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

#endif
