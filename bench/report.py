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
    ("  client's own CPU us/conn", "connrate", "conn_client_cpu_us", "{:.1f}", True, True),
    ("  echod's own CPU us/conn", "connrate", "conn_server_cpu_us", "{:.1f}", True, True),
    ("RSS B/idle conn ({n})", "rss", "rss_b_per_conn", "{:.0f}", False, True),
]
RELAY_ROWS = [r for r in MAIN_ROWS if r[1] == "iperf"]
MAIN_SECTIONS = {"iperf", "connrate", "rss"}


def px_rows(section):
    return [
        ("conn/s", section, "conn_rate", "{:.0f}", True, False),
        ("conn p50 latency us", section, "conn_p50_us", "{:.0f}", True, True),
        ("conn p99 latency us", section, "conn_p99_us", "{:.0f}", True, True),
        ("CPU us/conn", section, "conn_cpu_us", "{:.1f}", False, True),
    ]


TPUT_ROWS = [
    ("1 stream Gbit/s", "socks5tput", "tput1_gbps", "{:.2f}", True, False),
    ("4 streams Gbit/s", "socks5tput", "tput4_gbps", "{:.2f}", True, False),
    ("CPU s/GB (1 stream)", "socks5tput", "tput1_cpu_s_per_gb", "{:.3f}", False, True),
    ("CPU s/GB (4 streams)", "socks5tput", "tput4_cpu_s_per_gb", "{:.3f}", False, True),
]

# (title, section, rows, peers, ratios)
PX_TABLES = [
    ("SOCKS5: connect + handshake + 64 B request/reply (tools/connrate --socks5)",
     "socks5", px_rows("socks5"), ["direct", "sluice-socks5", "microsocks", "dante"],
     [("sluice/direct", "sluice-socks5", "direct"),
      ("sluice/microsocks", "sluice-socks5", "microsocks"),
      ("sluice/dante", "sluice-socks5", "dante")]),
    ("SOCKS5 bulk download (tools/sockspipe; sluice-tcp = tcp:// forwarding, same relay)",
     "socks5tput", TPUT_ROWS, ["direct", "sluice-tcp", "sluice-socks5", "microsocks", "dante"],
     [("socks5/direct", "sluice-socks5", "direct"),
      ("socks5/tcp", "sluice-socks5", "sluice-tcp"),
      ("sluice/microsocks", "sluice-socks5", "microsocks"),
      ("sluice/dante", "sluice-socks5", "dante")]),
    ("HTTP CONNECT + 64 B request/reply (tools/connrate --http-connect)",
     "httpconnect", px_rows("httpconnect"), ["direct", "sluice-http", "tinyproxy"],
     [("sluice/direct", "sluice-http", "direct"),
      ("sluice/tinyproxy", "sluice-http", "tinyproxy")]),
]
UDP_PEERS = ["direct", "sluice", "socat"]
UDP_ROWS = []
for _size in (64, 1400):
    for _flows in (1, 16):
        _t = "udp_{}_{}".format(_size, _flows)
        UDP_ROWS += [
            ("{}B x{} dgram/s".format(_size, _flows), "udp", _t + "_pps", "{:.0f}", True, False),
            ("{}B x{} Mbit/s".format(_size, _flows), "udp", _t + "_mbps", "{:.1f}", True, False),
            ("{}B x{} loss %".format(_size, _flows), "udp", _t + "_loss", "{:.2f}", True, True),
        ]
UDP_ROWS.append(("1400B x16 paced: loss %", "udp", "udp_loss_1400_16_at_rate", "{:.2f}", True,
                 True))
UDP_ROWS += [
    ("1400B x1 GSO client dgram/s", "udp", "udp_1400_1_gso_pps", "{:.0f}", True, False),
    ("1400B x1 GSO client loss %", "udp", "udp_1400_1_gso_loss", "{:.2f}", True, True),
]
BACKEND_ROWS = [r for r in MAIN_ROWS
                if r[2] in ("iperf1_gbps", "iperf1_cpu_s_per_gb", "conn_rate", "conn_p50_us",
                            "conn_p99_us", "conn_cpu_us")]
BACKEND_PEERS = ["sluice-epoll", "sluice-uring"]


def backend_data(data):
    """The backend section's cells, keyed like the main rows'."""
    return {("iperf" if m.startswith("iperf") else "connrate", m): c
            for (s, m), c in data.items() if s == "backend"}
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
    rw = [max(16, len(name) + 2) for name, _, _ in ratios]
    head += "".join("{:>{w}}".format(name, w=w) for (name, _, _), w in zip(ratios, rw))
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
        for (_, a, b), w in zip(ratios, rw):
            if b == "direct" and not direct_ok:
                line += "{:>{w}}".format("-", w=w)
            else:
                line += "{:>{w}}".format(ratio(med.get(a), med.get(b)), w=w)
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
        noisy = [int(b) for b in busy if b.isdigit() and int(b) > 10]
        if noisy:
            out.append("  WARNING: {} of {} rounds started on a busy machine (up to {}%): other "
                       "work shared the CPUs, so these ratios are not comparable with an idle "
                       "run; stop it and run again".format(len(noisy), len(busy), max(noisy)))
    out.append("")

    have = {p for (sec, _), cells in data.items() if sec in MAIN_SECTIONS for p in cells}
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

    for title, section, rows, peers, ratios in PX_TABLES:
        if not any(sec == section for sec, _ in data):
            continue
        out.append(title)
        out += table(data, rows, peers, ratios, meta)
        errs = data.get((section, "conn_errors"), {})
        bad = {p: int(sum(v for _, v in vals)) for p, vals in errs.items()
               if sum(v for _, v in vals) > 0}
        if bad:
            out.append("errors (all rounds): " +
                       ", ".join("{} {}".format(p, e) for p, e in sorted(bad.items())))
        missing = [p for p in peers if not any(p in c for (sec, _), c in data.items()
                                               if sec == section)]
        if missing:
            out.append("n/a (not installed or failed): " + ", ".join(missing))
    if any(sec == "udp" for sec, _ in data):
        out.append("UDP forwarding (" + meta.get("udp", "") + ")")
        out += table(data, UDP_ROWS, UDP_PEERS,
                     [("sluice/socat", "sluice", "socat"),
                      ("sluice/direct", "sluice", "direct")], meta)
    if any(sec == "backend" for sec, _ in data):
        out.append("sluice --io-backend epoll vs uring (same run)")
        out += table(backend_data(data), BACKEND_ROWS, BACKEND_PEERS,
                     [("uring/epoll", "sluice-uring", "sluice-epoll")], meta)
    if any(sec == "tunnel" for sec, _ in data):
        out.append("tunnel: iperf3 through sluice -F tunnel:// -> -L tunnel:// vs kcptun "
                   "(aes, --nocomp), via tools/lossy; CPU = both tunnel processes")
        out += table(data, TUNNEL_ROWS, TUNNEL_PEERS,
                     [("sluice/fast3", "sluice-tunnel", "kcptun-fast3"),
                      ("sluice/fast", "sluice-tunnel", "kcptun-fast")], meta)
        out.append("")

    out.append("rounds")
    out += rounds(data, [r for r in MAIN_ROWS], PEERS, meta)
    for _, section, rows, peers, _ in PX_TABLES:
        out += [section + " " + line if not line.startswith(" ") else line
                for line in rounds(data, rows, peers, meta)]
    out += rounds(data, UDP_ROWS, UDP_PEERS, meta)
    if any(sec == "tunnel" for sec, _ in data):
        out += rounds(data, TUNNEL_ROWS, TUNNEL_PEERS, meta)
    if any(sec == "relay" for sec, _ in data):
        relay = {("iperf", m): c for (s, m), c in data.items() if s == "relay"}
        out += ["relay " + line if not line.startswith(" ") else line
                for line in rounds(relay, RELAY_ROWS, relay_peers, meta)]
    if any(sec == "backend" for sec, _ in data):
        out += ["backend " + line if not line.startswith(" ") else line
                for line in rounds(backend_data(data), BACKEND_ROWS, BACKEND_PEERS, meta)]
    print("\n".join(out))


if __name__ == "__main__":
    main()
