#!/usr/bin/env python3
"""Turn bench/run.sh's raw rounds into the report table.

usage: report.py RESULTS.tsv META

RESULTS.tsv: one line per measurement: section, metric, peer, round, value.
META: key=value lines printed at the top (settings, versions, timing).
Medians over rounds; ratios are taken between medians of the same run.
"""
import statistics
import sys
from collections import defaultdict

PEERS = ["direct", "sluice", "haproxy", "nginx", "socat"]

# (label, section, metric, format, direct has a value, lower is better)
MAIN_ROWS = [
    ("iperf3 1 stream Gbit/s", "iperf", "iperf1_gbps", "{:.2f}", True, False),
    ("iperf3 -P4 Gbit/s", "iperf", "iperf4_gbps", "{:.2f}", True, False),
    ("CPU s/GB (1 stream)", "iperf", "iperf1_cpu_s_per_gb", "{:.3f}", False, True),
    ("CPU s/GB (-P4)", "iperf", "iperf4_cpu_s_per_gb", "{:.3f}", False, True),
    ("conn/s (64B req/rep)", "connrate", "conn_rate", "{:.0f}", True, False),
    ("conn p50 latency us", "connrate", "conn_p50_us", "{:.0f}", True, True),
    ("conn p99 latency us", "connrate", "conn_p99_us", "{:.0f}", True, True),
    ("conn p99.9 latency us", "connrate", "conn_p999_us", "{:.0f}", True, True),
    ("CPU us/conn", "connrate", "conn_cpu_us", "{:.1f}", False, True),
    ("RSS B/idle conn ({n})", "rss", "rss_b_per_conn", "{:.0f}", False, True),
]
RELAY_ROWS = [r for r in MAIN_ROWS if r[1] == "iperf"]
TUNNEL_PEERS = ["sluice-tunnel", "kcptun-fast3", "kcptun-fast"]
TUNNEL_ROWS = []
for _name, _desc in (("raw", "raw loopback"), ("clean", "lossy 0%/0ms"),
                     ("loss1", "1% loss, 40ms RTT"), ("loss5", "5% loss, 100ms RTT")):
    TUNNEL_ROWS.append(("{} Gbit/s".format(_desc), "tunnel", _name + "_gbps", "{:.3f}",
                        False, False))
    TUNNEL_ROWS.append(("{} CPU s/GB".format(_desc), "tunnel", _name + "_cpu_s_per_gb",
                        "{:.2f}", False, True))


def load(path):
    data = defaultdict(lambda: defaultdict(list))  # (section, metric) -> peer -> [(round, v)]
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            section, metric, peer, rnd, value = parts
            try:
                data[(section, metric)][peer].append((int(rnd), float(value)))
            except ValueError:
                pass
    return data


def median(vals):
    return statistics.median(v for _, v in vals) if vals else None


def fmt(v, spec):
    return "n/a" if v is None else spec.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "{:.2f}x".format(a / b)


def table(data, rows, peers, ratios, meta):
    n = meta.get("rss_conns", "?")
    w = max([10] + [len(p) + 2 for p in peers])
    cell = "{:>%d}" % w
    head = "{:<26}".format("test") + "".join(cell.format(p) for p in peers)
    head += "".join("{:>16}".format(name) for name, _, _ in ratios)
    out = [head]
    for label, section, metric, spec, direct_ok, lower in rows:
        label = label.format(n=n)
        cells = data.get((section, metric), {})
        if not cells:
            continue  # section not run
        med = {p: median(cells.get(p, [])) for p in peers}
        line = "{:<26}".format(label)
        for p in peers:
            if p == "direct" and not direct_ok:
                line += cell.format("-")
            else:
                line += cell.format(fmt(med[p], spec))
        for _, a, b in ratios:
            if b == "direct" and not direct_ok:
                line += "{:>16}".format("-")
            else:
                line += "{:>16}".format(ratio(med.get(a), med.get(b)))
        out.append(line + ("   (lower is better)" if lower else ""))
    return out


def rounds(data, rows, peers, meta):
    n = meta.get("rss_conns", "?")
    out = []
    for label, section, metric, spec, _, _ in rows:
        cells = data.get((section, metric), {})
        if not cells:
            continue
        out.append(label.format(n=n))
        for p in peers:
            vals = sorted(cells.get(p, []))
            if not vals:
                continue
            med = median(vals)
            spread = ""
            if len(vals) > 1 and med:
                lo, hi = min(v for _, v in vals), max(v for _, v in vals)
                spread = "  (spread {:.0f}%)".format((hi - lo) / abs(med) * 100)
            out.append("  {:<14} {}  -> median {}{}".format(
                p, " ".join(fmt(v, spec) for _, v in vals), fmt(med, spec), spread))
    return out


def main():
    data = load(sys.argv[1])
    meta = {}
    with open(sys.argv[2]) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    out = ["sluice benchmark, " + meta.get("date", "")]
    for k in ("host", "sluice", "haproxy", "nginx", "socat", "iperf3", "connrate"):
        out.append("  {:<9} {}".format(k + ":", meta.get(k, "?")))
    out.append("  rounds:   {} (interleaved; medians shown), run took {}".format(
        meta.get("rounds", "?"), meta.get("elapsed", "?")))
    busy = meta.get("busy", "").split()
    if busy:
        out.append("  machine busy before each round (others' work; >10% adds noise): " +
                   " ".join(b + "%" for b in busy))
    out.append("")

    have = {p for (sec, _), cells in data.items() if sec not in ("relay", "tunnel")
            for p in cells}
    if have:
        out += table(data, MAIN_ROWS, PEERS,
                     [("sluice/direct", "sluice", "direct"),
                      ("sluice/haproxy", "sluice", "haproxy")], meta)
        if "sluice" not in have:
            out.append("(sluice n/a: build/sluice was missing)")
        out.append("socat RSS: n/a (one process per connection)")
        errs = data.get(("connrate", "conn_errors"), {})
        bad = {p: int(sum(v for _, v in vals)) for p, vals in errs.items()
               if sum(v for _, v in vals) > 0}
        if bad:
            out.append("connrate errors (all rounds): " +
                       ", ".join("{} {}".format(p, e) for p, e in sorted(bad.items())))
        drops = data.get(("connrate", "listen_drops"), {})
        dropped = {p: int(sum(v for _, v in vals)) for p, vals in drops.items()
                   if sum(v for _, v in vals) > 0}
        if dropped:
            out.append("SYNs dropped at a full accept queue during connrate (all rounds; each "
                       "costs that client a 1 s SYN retry): " +
                       ", ".join("{} {}".format(p, e) for p, e in sorted(dropped.items())))
        out.append("")

    relay_peers = ["sluice-buffer", "sluice-splice"]
    if any(p in cells for (sec, _), cells in data.items() if sec == "relay"
           for p in relay_peers):
        relay = {(s if s != "relay" else "iperf", m): c
                 for (s, m), c in data.items() if s == "relay"}
        out.append("sluice --relay buffer vs splice (same run)")
        out += table(relay, RELAY_ROWS, relay_peers,
                     [("splice/buffer", "sluice-splice", "sluice-buffer")], meta)
        out.append("")

    if any(sec == "tunnel" for sec, _ in data):
        out.append("tunnel: iperf3 through sluice -F tunnel:// -> -L tunnel:// vs kcptun "
                   "(aes, --nocomp), via tools/lossy; CPU = both tunnel processes")
        out += table(data, TUNNEL_ROWS, TUNNEL_PEERS,
                     [("sluice/fast3", "sluice-tunnel", "kcptun-fast3"),
                      ("sluice/fast", "sluice-tunnel", "kcptun-fast")], meta)
        out.append("")

    out.append("rounds")
    out += rounds(data, [r for r in MAIN_ROWS], PEERS, meta)
    if any(sec == "tunnel" for sec, _ in data):
        out += rounds(data, TUNNEL_ROWS, TUNNEL_PEERS, meta)
    if any(sec == "relay" for sec, _ in data):
        relay = {("iperf", m): c for (s, m), c in data.items() if s == "relay"}
        out += ["relay " + line if not line.startswith(" ") else line
                for line in rounds(relay, RELAY_ROWS, relay_peers, meta)]
    print("\n".join(out))


if __name__ == "__main__":
    main()
