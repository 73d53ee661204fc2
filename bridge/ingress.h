// SPDX-License-Identifier: Apache-2.0
// bridge/ingress.h: the ingress side of the tls_bridge: a client CONNECT whose target the
// destination table (bridge/config.h) maps to a peer is intercepted. tlsedge opens TLS to the
// peer (verified per proxy.config.ssl.client.verify.server.policy with the client CA, presenting
// proxy.config.ssl.client.cert.*, as for TLS origins: tls/origin.h), replays the client's CONNECT
// head unchanged, and reads the peer's reply (bridge/reply.h). On 200 the peer's connection goes
// to net/, which answers the client 200 and relays both ways; another status from 400 to 599 is
// passed to the client (anything else is a 502), and the tunnel closes; a connect or handshake
// failure, a garbled reply or a peer that closes first is a 502, and a deadline that passes a
// 504 (connect: proxy.config.http.connect_attempts_timeout, the handshake likewise, the reply:
// proxy.config.http.transaction_no_activity_timeout_out). Every outcome is counted and every
// failure logged naming the peer, the target, the client and the pair's configuration line.
//
// It plugs into net/ through the CONNECT interception slot (net/intercept.h), installed by
// core/main.c. Each operation belongs to the worker of its client connection.
#ifndef TLSEDGE_BRIDGE_INGRESS_H
#define TLSEDGE_BRIDGE_INGRESS_H

// bridge_stats_register registers the tls_bridge counters (proxy.process.tlsedge.tls_bridge.*).
// Main thread, before the workers start.
void bridge_stats_register(void);

// bridge_ingress_install makes the tls_bridge net/'s CONNECT interceptor; CONNECTs whose target
// no pair of the current snapshot's table matches go on as usual. Main thread, before the
// workers start.
void bridge_ingress_install(void);

#endif
