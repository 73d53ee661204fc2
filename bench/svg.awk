# SPDX-License-Identifier: Apache-2.0
# bench/svg.awk: bench/results/latest.svg, a grouped bar chart of compare.sh's summary (the same
# tab-separated rows as report.awk reads). Left: the per-core rate of each server in each
# throughput scenario, as a share of the best server in that scenario (so scenarios with
# different units share one axis), the absolute value written on each bar and the min-max of the
# rounds as whiskers. Right: idle memory per connection in bytes (lower is better), when measured.
# Variables: title, subtitle.

function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function short(x,    s, out) {
    if (x == "") return "n/a"
    x += 0
    if (x == 0) return "0"
    if (x >= 100000) return sprintf("%.0fk", x / 1000)
    if (x >= 100) {
        s = sprintf("%.0f", x); out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        return s out
    }
    return sprintf(x >= 10 ? "%.1f" : "%.2f", x)
}
function text(x, y, s, attrs) {
    printf "<text x=\"%.1f\" y=\"%.1f\" %s>%s</text>\n", x, y, attrs, esc(s)
}
function rect(x, y, w, h, fill) {
    printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, y, w, h, fill
}
function line(x1, y1, x2, y2, attrs) {
    printf "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" %s/>\n", x1, y1, x2, y2, attrs
}
# bars: one group of nserv bars centred on cx; val/lo/hi hold the value and whisker ends, top the
# value that maps to the full height ph above the baseline by.
function bars(cx, gw, top, by, ph, val, lo, hi, lab,    i, bw, x, h, s, k) {
    bw = gw * 0.8 / nserv
    if (bw > 56) bw = 56
    for (i = 1; i <= nserv; i++) {
        s = order[i]
        x = cx - bw * nserv / 2 + (i - 1) * bw
        if (val[s] == "") { text(x + bw / 2, by - 4, "n/a", "class=\"v\""); continue }
        h = top > 0 ? val[s] / top * ph : 0
        rect(x + 2, by - h, bw - 4, h, color[s])
        if (lo[s] != "" && hi[s] != "" && hi[s] > lo[s]) {
            line(x + bw / 2, by - lo[s] / top * ph, x + bw / 2, by - hi[s] / top * ph, "class=\"wh\"")
            line(x + bw / 2 - 5, by - hi[s] / top * ph, x + bw / 2 + 5, by - hi[s] / top * ph, "class=\"wh\"")
            line(x + bw / 2 - 5, by - lo[s] / top * ph, x + bw / 2 + 5, by - lo[s] / top * ph, "class=\"wh\"")
        }
        k = hi[s] != "" && hi[s] > val[s] ? hi[s] : val[s]
        text(x + bw / 2, by - k / top * ph - 5, lab[s], "class=\"v\"")
    }
}

BEGIN {
    nserv = split("tlsedge nginx haproxy", order, " ")
    name["tlsedge"] = "tlsedge"; name["nginx"] = "nginx"; name["haproxy"] = "HAProxy"
    color["tlsedge"] = "#1f6fb4"; color["nginx"] = "#2e9e48"; color["haproxy"] = "#e8831a"
    short1["full-ecdsa"] = "Full handshake"; short2["full-ecdsa"] = "ECDSA P-256"
    short1["full-rsa"] = "Full handshake"; short2["full-rsa"] = "RSA-2048"
    short1["resumed"] = "Resumed"; short2["resumed"] = "handshake (ticket)"
    short1["request"] = "Request per"; short2["request"] = "connection"
    short1["keepalive"] = "Keep-alive"; short2["keepalive"] = "requests"
    short1["bulk"] = "Bulk 1 MB"; short2["bulk"] = "responses"
}
{
    sc = $1
    if ($3 == "bytes/conn") {
        idle = 1; ival[$4] = $6; ilo[$4] = $7; ihi[$4] = $8
        next
    }
    if (!(sc in seen)) { seen[sc] = 1; scen[++nscen] = sc; label[sc] = $2; unit[sc] = $3 }
    pc[sc, $4] = $11; pclo[sc, $4] = $12; pchi[sc, $4] = $13
}
END {
    W = 1200; H = 600
    px0 = 90; px1 = idle ? 950 : W - 30; py0 = 145; py1 = 470; ph = py1 - py0
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", W, H, W, H
    print "<style>text{fill:#222} .t{font-size:20px;font-weight:bold} .st{font-size:12px;fill:#555}"
    print " .ax{font-size:12px} .v{font-size:11px;text-anchor:middle} .g{font-size:12px;text-anchor:middle}"
    print " .u{font-size:11px;fill:#555;text-anchor:middle} .grid{stroke:#ddd;stroke-width:1}"
    print " .base{stroke:#444;stroke-width:1.2} .hundred{stroke:#999;stroke-width:1;stroke-dasharray:4 3} .wh{stroke:#111;stroke-width:1.2}</style>"
    rect(0, 0, W, H, "#ffffff")
    text(W / 2, 32, title, "class=\"t\" text-anchor=\"middle\"")
    text(W / 2, 54, subtitle, "class=\"st\" text-anchor=\"middle\"")
    # legend
    lx = W / 2 - nserv * 110 / 2
    for (i = 1; i <= nserv; i++) {
        rect(lx + (i - 1) * 110, 70, 14, 14, color[order[i]])
        text(lx + (i - 1) * 110 + 20, 82, name[order[i]], "class=\"ax\"")
    }
    text(W / 2, 108, "bars: per-core rate (rate ÷ server CPU share), height relative to the best server of each scenario; whiskers: min–max of the rounds", "class=\"st\" text-anchor=\"middle\"")

    # throughput scenarios: the axis reaches the highest whisker (a max above the best median)
    ymax = 1
    for (j = 1; j <= nscen; j++) {
        sc = scen[j]; best = 0
        for (i = 1; i <= nserv; i++) if (pc[sc, order[i]] + 0 > best) best = pc[sc, order[i]] + 0
        for (i = 1; i <= nserv; i++)
            if (best > 0 && pchi[sc, order[i]] != "" && pchi[sc, order[i]] / best > ymax) ymax = pchi[sc, order[i]] / best
    }
    ymax = int(ymax * 4 + 0.999) / 4
    for (f = 0; f <= ymax * 100 + 0.5; f += 25) {
        y = py1 - f / 100 / ymax * ph
        line(px0, y, px1, y, f == 0 ? "class=\"base\"" : (f == 100 ? "class=\"hundred\"" : "class=\"grid\""))
        text(px0 - 8, y + 4, f " %", "class=\"ax\" text-anchor=\"end\"")
    }
    printf "<text transform=\"translate(%d,%d) rotate(-90)\" class=\"ax\" text-anchor=\"middle\">per-core rate, %% of the best server</text>\n", 30, (py0 + py1) / 2
    gw = nscen > 0 ? (px1 - px0) / nscen : 1
    for (j = 1; j <= nscen; j++) {
        sc = scen[j]
        best = 0
        for (i = 1; i <= nserv; i++) if (pc[sc, order[i]] != "" && pc[sc, order[i]] + 0 > best) best = pc[sc, order[i]] + 0
        for (i = 1; i <= nserv; i++) {
            s = order[i]
            val[s] = pc[sc, s]; lo[s] = pclo[sc, s]; hi[s] = pchi[sc, s]; lab[s] = short(val[s])
        }
        cx = px0 + (j - 0.5) * gw
        bars(cx, gw, best * ymax, py1, ph, val, lo, hi, lab)
        # the label under the group: a short two-line name, else the report's label split in two
        if (sc in short1) { l1 = short1[sc]; l2 = short2[sc] }
        else {
            l1 = label[sc]; l2 = ""
            if ((p = index(l1, ", ")) > 0) { l2 = substr(l1, p + 2); l1 = substr(l1, 1, p - 1) }
            else if ((p = index(l1, " (")) > 0) { l2 = substr(l1, p + 1); l1 = substr(l1, 1, p - 1) }
        }
        text(cx, py1 + 18, l1, "class=\"g\"")
        if (l2 != "") text(cx, py1 + 33, l2, "class=\"g\"")
        text(cx, py1 + 50, unit[sc] " per core", "class=\"u\"")
    }
    text((px0 + px1) / 2, py1 + 80, "scenario (numbers on bars: per-core rate in the unit under each group)", "class=\"ax\" text-anchor=\"middle\"")

    if (idle) {
        ix0 = 1030; ix1 = W - 30
        top = 0
        for (i = 1; i <= nserv; i++) {
            s = order[i]
            m = ihi[s] != "" ? ihi[s] : ival[s]
            if (m != "" && m + 0 > top) top = m + 0
        }
        # a round top for the axis
        step = 1; while (top / step > 10) step *= 10
        if (top / step > 5) step *= 2; else if (top / step <= 2) step /= 2
        top = step * (int(top / step) + 1)
        for (f = 0; f <= top + step / 2; f += step) {
            y = py1 - f / top * ph
            line(ix0, y, ix1, y, f == 0 ? "class=\"base\"" : "class=\"grid\"")
            text(ix0 - 6, y + 4, short(f), "class=\"ax\" text-anchor=\"end\"")
        }
        printf "<text transform=\"translate(%d,%d) rotate(-90)\" class=\"ax\" text-anchor=\"middle\">bytes of server RSS per idle TLS connection</text>\n", ix0 - 50, (py0 + py1) / 2
        for (i = 1; i <= nserv; i++) { s = order[i]; val[s] = ival[s]; lo[s] = ilo[s]; hi[s] = ihi[s]; lab[s] = short(ival[s]) }
        bars((ix0 + ix1) / 2, ix1 - ix0, top, py1, ph, val, lo, hi, lab)
        text((ix0 + ix1) / 2, py1 + 18, "Idle memory", "class=\"g\"")
        text((ix0 + ix1) / 2, py1 + 33, "per TLS connection", "class=\"g\"")
        text((ix0 + ix1) / 2, py1 + 50, "bytes, lower is better", "class=\"u\"")
    }
    print "</svg>"
}
