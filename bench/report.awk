# SPDX-License-Identifier: Apache-2.0
# bench/report.awk: the Markdown tables of bench/results/latest.md, from compare.sh's summary
# (tab-separated, one row per scenario and server: see the column names below). Variables:
# ceil_e, ceil_r = the crypto ceilings (full handshakes/s) for ECDSA and RSA, or empty.

function num(x) { return x != "" }
# fmt: thousands separated, fewer decimals as numbers grow.
function fmt(x,    s, neg, i, out, ip, fp) {
    if (x == "") return "–"
    x += 0
    if (x >= 100 || x <= -100) s = sprintf("%.0f", x)
    else if (x >= 10 || x <= -10) return sprintf("%.1f", x)
    else return sprintf("%.2f", x)
    neg = substr(s, 1, 1) == "-"
    if (neg) s = substr(s, 2)
    out = ""
    while (length(s) > 3) {
        out = "," substr(s, length(s) - 2) out
        s = substr(s, 1, length(s) - 3)
    }
    return (neg ? "-" : "") s out
}
function ms(x) { return x == "" ? "–" : sprintf(x < 10 ? "%.2f" : "%.1f", x) }
# share: tlsedge's per-core rate as a share of the crypto ceiling; above 100 % the ceiling itself
# was measured on a slowed CPU.
function share(v, c,    s) {
    s = sprintf("<br>%.0f %% of the ceiling (%s/s)", v / c * 100, fmt(c))
    return v > c ? s "<br>⚠ above the ceiling: `bssl speed` ran on a slowed CPU" : s
}
function pct(x) { return x == "" ? "–" : sprintf("%.0f %%", x) }
function range(lo, hi, n) { return n > 1 && lo != "" ? " (" fmt(lo) "–" fmt(hi) ")" : "" }

BEGIN {
    nserv = split("tlsedge nginx haproxy", order, " ")
    name["tlsedge"] = "tlsedge"; name["nginx"] = "nginx"; name["haproxy"] = "HAProxy"
}
{
    sc = $1
    if (!(sc in seen)) { seen[sc] = 1; scen[++nscen] = sc; label[sc] = $2; unit[sc] = $3 }
    k = sc SUBSEP $4
    have[k] = 1
    n[k] = $5; v[k] = $6; vlo[k] = $7; vhi[k] = $8; scpu[k] = $9; ccpu[k] = $10
    pc[k] = $11; pclo[k] = $12; pchi[k] = $13; p50[k] = $14; p99[k] = $15; errs[k] = $16
    negbad[k] = $17; res[k] = $18; cpu0[k] = $19; cpu1[k] = $20; neg[k] = $21; bpcb[k] = $22; oth[k] = $23
}
END {
    print "## Results: rate per 100 % of one server core"
    print ""
    print "Per-core rate = measured rate ÷ the server's CPU share, median of the rounds (min–max); below it the measured rate and both CPU shares (server on CPU 0, load client + origin on CPU 1). The last column divides tlsedge's per-core rate by the best peer's (idle memory: tlsedge's bytes ÷ the lowest peer's; lower is better)."
    print ""
    printf "| Scenario |"
    for (i = 1; i <= nserv; i++) printf " %s |", name[order[i]]
    print " tlsedge ÷ best peer |"
    printf "|---|"
    for (i = 1; i <= nserv; i++) printf "---|"
    print "---|"
    for (j = 1; j <= nscen; j++) {
        sc = scen[j]
        idle = unit[sc] == "bytes/conn"
        printf "| %s |", label[sc] (idle ? " (bytes, lower is better)" : " (" unit[sc] ")")
        best = ""
        for (i = 1; i <= nserv; i++) {
            k = sc SUBSEP order[i]
            if (!(k in have)) { printf " – |"; continue }
            if (idle) {
                cell = "**" fmt(v[k]) "**" range(vlo[k], vhi[k], n[k])
                if (num(bpcb[k])) cell = cell "<br>bench's own figure: " fmt(bpcb[k])
            } else {
                cell = "**" fmt(pc[k]) "**/core" range(pclo[k], pchi[k], n[k])
                cell = cell "<br>" fmt(v[k]) range(vlo[k], vhi[k], n[k]) " at CPU " pct(scpu[k]) \
                    ", client " pct(ccpu[k])
                if (sc == "resumed" && num(res[k])) cell = cell "<br>resumed " sprintf("%.0f %%", res[k] * 100)
            }
            if (errs[k] > 0) cell = cell "<br>⚠ " errs[k] " errors"
            if (negbad[k] > 0) cell = cell "<br>⚠ negotiated: " neg[k]
            printf " %s |", cell
            metric = idle ? v[k] : pc[k]
            if (order[i] != "tlsedge" && metric != "" && (best == "" || (idle ? metric < best : metric > best)))
                best = metric
        }
        k = sc SUBSEP "tlsedge"
        metric = idle ? v[k] : pc[k]
        ratio = (metric != "" && best != "" && best > 0) ? sprintf("**%.2f**", metric / best) : "–"
        if (sc == "full-ecdsa" && ceil_e != "" && pc[k] != "")
            ratio = ratio share(pc[k], ceil_e)
        if (sc == "full-rsa" && ceil_r != "" && pc[k] != "")
            ratio = ratio share(pc[k], ceil_r)
        print " " ratio " |"
    }
    print ""
    print "## Details"
    print ""
    print "Medians of the rounds. CPU 0 / CPU 1 busy: the whole core from /proc/stat over the run (warm-up included), and in brackets the part of CPU 0 not charged to the server process (softirq work, other processes); latency: the bench's per-operation percentiles."
    print ""
    print "| Scenario | Server | Rate (min–max) | Server CPU | Client CPU | CPU 0 / CPU 1 busy | p50 ms | p99 ms | Errors | Negotiated |"
    print "|---|---|---|---|---|---|---|---|---|---|"
    for (j = 1; j <= nscen; j++) {
        sc = scen[j]
        for (i = 1; i <= nserv; i++) {
            k = sc SUBSEP order[i]
            if (!(k in have)) continue
            printf "| %s | %s | %s %s%s | %s | %s | %s (%s) / %s | %s | %s | %s | %s |\n", label[sc], name[order[i]],
                fmt(v[k]), unit[sc], range(vlo[k], vhi[k], n[k]), pct(scpu[k]), pct(ccpu[k]),
                pct(cpu0[k]), pct(oth[k]), pct(cpu1[k]), ms(p50[k]), ms(p99[k]),
                errs[k], neg[k] == "" ? "–" : neg[k]
        }
    }
}
