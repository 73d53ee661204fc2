#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/reload_nice_ab.sh: the handshake rate with and without reloads (one every 0.25 s, one of
# 1,000 certificates changed before each, 20 s per run), for proxy.config.tlsedge.reload_nice 0
# and 10 side by side, two rounds (A B A B). tlsedge's worker on CPU 0, the bench on CPU 1.
# Prints one line per run; results go in bench/results/reload.md by hand.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-$PWD/build}
T=$(mktemp -d /tmp/tlsedge-nice.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p $T/d
TP=$((20000 + RANDOM % 10000)); HP=$((TP+1))
$B/tools/certmint $T/d 1000 > $T/d/ssl_multicert.config
mkdir -p $T/d/alt; $B/tools/certmint --first 0 $T/d/alt 1 >/dev/null
cp $T/d/c0.pem $T/d/alt/c0-a.pem; cp $T/d/c0.key $T/d/alt/c0-a.key
run() { # NICE RELOADS(0/1) -> rate
  cat > $T/d/records.config <<CFG
CONFIG proxy.config.http.server_ports STRING $TP:ssl:ip-in=127.0.0.1 $HP:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 1
CONFIG proxy.config.tlsedge.reload_nice INT $1
CFG
  $B/tlsedge -C $T/d > $T/log 2>&1 & TL=$!
  until grep -q started $T/log; do sleep 0.05; done
  if [ "$2" = 1 ]; then
    ( pa=$(<$T/d/alt/c0-a.pem) ka=$(<$T/d/alt/c0-a.key) pb=$(<$T/d/alt/c0.pem) kb=$(<$T/d/alt/c0.key)
      end=$((SECONDS + 21)); sleep 1; n=0
      while [ $SECONDS -lt $end ]; do
        if [ $((n % 2)) -eq 0 ]; then p=$pb k=$kb; else p=$pa k=$ka; fi
        printf '%s\n' "$k" > $T/d/c0.key; printf '%s\n' "$p" > $T/d/c0.pem
        kill -HUP $TL; n=$((n+1)); sleep 0.25; done ) & loop=$!
  fi
  r=$(taskset -c 1 $B/tlsedge-bench handshake --sni n00500.bench.test --cpu 1 -c 32 -d 20 --warmup 1 --json --quiet --server-pid $TL 127.0.0.1:$TP | jq -r '"\(.rate|floor) cpu \(.server_cpu_pct|floor)"')
  [ "$2" = 1 ] && wait $loop
  pub=$(grep -c published $T/log)
  kill $TL; wait $TL 2>/dev/null
  echo "nice=$1 reloads=$2 rate=$r published=$pub"
}
for round in 1 2; do
  run 0 0; run 0 1; run 10 0; run 10 1
done
