#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/run's table: reads the raw outputs bench/run left in OUT (crypto.txt,
datapath-N.txt, lab-*.json), prints one table, writes OUT/bench.json and, when
matplotlib is installed, OUT/throughput.png (throughput against packet size).

    python3 bench/report.py bench/out
"""
import glob
import json
import os
import re
import sys

FEATURES = ("aes", "avx2", "avx512f", "avx512vl", "avx512ifma", "vaes", "vpclmulqdq", "sha_ni", "bmi2", "adx")
PKTGEN = "not measured: needs sixgate-pktgen"


def cpu_info():
    model, flags = "unknown", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k == "model name" and model == "unknown":
                model = v.strip()
            elif k == "flags" and not flags:
                flags = set(v.split())
    return {"model": model, "features": [x for x in FEATURES if x in flags], "cpus": os.cpu_count()}


def parse_crypto(path):
    """bench_crypto rows: bytes op engine Mpps Gbit/s cyc/B x-sodium."""
    rows, arch = [], None
    row = re.compile(r"^\s*(\d+)\s+(encrypt|decrypt)\s+(ipsec-mb burst|ipsec-mb job|libsodium)\s+([\d.]+)\s+([\d.]+)")
    for line in open(path):
        m = re.search(r"\(arch ([^)]+)\)", line)
        if m and arch is None:
            arch = m.group(1)
        m = row.match(line)
        if m:
            rows.append({"bytes": int(m.group(1)), "op": m.group(2), "engine": m.group(3),
                         "mpps": float(m.group(4)), "gbps": float(m.group(5))})
    return rows, arch


def parse_datapath(path):
    """bench_datapath rows: bytes, path (28 wide), peers, Mpps, Gbit/s, cyc/pkt[, crypto, other, x crypto]."""
    rows = []
    row = re.compile(r"^\s*(\d+)  (.{28}) +(\d+) +([\d.]+) +([\d.]+) +(\d+)(?: +(\d+) +(-?\d+) +([\d.]+))?")
    for line in open(path):
        m = row.match(line)
        if not m:
            continue
        r = {"bytes": int(m.group(1)), "path": m.group(2).strip(), "peers": int(m.group(3)),
             "mpps": float(m.group(4)), "gbps": float(m.group(5)), "cyc_pkt": int(m.group(6))}
        if m.group(7) is not None:
            r.update({"crypto_cyc_pkt": int(m.group(7)), "other_cyc_pkt": int(m.group(8)),
                      "x_dpcrypto_same_packets": float(m.group(9))})
        r["lost"] = "LOST" in line
        rows.append(r)
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out")
    cpu = cpu_info()
    date = open(os.path.join(out, "date.txt")).read().strip() if os.path.exists(os.path.join(out, "date.txt")) else "?"
    crypto, arch = parse_crypto(os.path.join(out, "crypto.txt"))
    cpu["ipsec_mb_arch"] = arch
    # Every row names the CPU: its model, its widest vector features and ipsec-mb's code path
    # (the header line lists every feature).
    wide = [x for x in ("avx2", "avx512f", "vaes") if x in cpu["features"]]
    cpu_col = "%s %s%s" % (cpu["model"], "/".join(wide), ", imb " + arch if arch else "")
    # The crypto limit per size and op: the better of ipsec-mb's two APIs.
    limit = {}
    for r in crypto:
        if r["engine"].startswith("ipsec-mb"):
            k = (r["bytes"], r["op"])
            if k not in limit or r["mpps"] > limit[k]["mpps"]:
                limit[k] = r
    rows = []

    def add(figure, size, peers, mpps, gbps, cyc, x_crypto, x_wg, note=""):
        rows.append({"figure": figure, "bytes": size, "peers": peers, "mpps": mpps, "gbps": gbps,
                     "cyc_pkt": cyc, "x_crypto": x_crypto, "x_wireguard_go": x_wg, "note": note, "cpu": cpu_col})

    for (size, op), r in sorted(limit.items()):
        add("crypto limit: %s (%s)" % (op, r["engine"]), size, None, r["mpps"], r["gbps"], None, 1.0, None)
    stages = []
    peer_counts = sorted(int(re.search(r"datapath-(\d+)\.txt$", p).group(1))
                         for p in glob.glob(os.path.join(out, "datapath-*.txt")))
    for n in peer_counts:
        for r in parse_datapath(os.path.join(out, "datapath-%d.txt" % n)):
            stages.append(dict(r, run_peers=n))
            if r["peers"] != n or r["path"] not in ("rx nic_input+ingress", "tx egress"):
                continue
            op = "decrypt" if r["path"].startswith("rx") else "encrypt"
            lim = limit.get((r["bytes"], op))
            x = r["mpps"] / lim["mpps"] if lim else None
            note = "other %d cyc/pkt" % r["other_cyc_pkt"] if "other_cyc_pkt" in r else ""
            if r["lost"]:
                note += " LOST packets"
            name = "stages: ingress (nic_input+ingress)" if op == "decrypt" else "stages: egress"
            add(name, r["bytes"], n, r["mpps"], r["gbps"], r["cyc_pkt"], x, None, note.strip())
    lab = {}
    for g in ("wireguard-go", "sixgate"):
        p = os.path.join(out, "lab-%s.json" % g)
        if os.path.exists(p):
            lab[g] = json.load(open(p))
    cycles = None
    cp = os.path.join(out, "lab-sixgate.json.cycles")
    if os.path.exists(cp):
        try:
            cycles = json.load(open(cp))["/sixgate/cycles"]
        except (ValueError, KeyError, TypeError):
            cycles = None
    wg = lab.get("wireguard-go")
    for g in ("wireguard-go", "sixgate"):
        if g not in lab:
            add("lab end to end: %s" % g, None, 1, None, None, None, None, None,
                "not measured: the lab needs root (bench/run as root)")
            continue
        for key, what in (("c2vm_mbps", "client -> VM"), ("vm2c_mbps", "VM -> client")):
            v = lab[g][key]
            x = v / wg[key] if wg and wg.get(key) else None
            add("lab end to end: %s, TCP %s (iperf3)" % (g, what), None, 1, None, v / 1000.0, None, None, x,
                "%d s, kernel TCP, veths" % lab[g]["seconds"])
    if cycles:
        for s in ("nic_input", "ingress", "egress", "vm_rx"):
            st = cycles.get(s, {})
            add("lab sixgate /sixgate/cycles: %s" % s, None, 1, None, None, st.get("cycles_per_packet"), None, None,
                "%d packets" % st.get("packets", 0))
    e2e = pktgen_rows(out, limit, add)
    if not e2e:
        for figure in ("no-drop rate, ingress/egress/both, 64/512/1420 B, 1/100/10,000 peers",
                       "partial-drop rate (loss <= 0.5%)",
                       "handshakes per second on one control core",
                       "data rate under an invalid-initiation flood",
                       "drops attributable to rekeys under full load",
                       "p99 latency at 50% load"):
            add(figure, None, None, None, None, None, None, None, PKTGEN)

    def f(v, fmt):
        if isinstance(v, str):  # an IMIX row's size
            return v
        return "-" if v is None else fmt % v

    print("bench/run on %s: %s (%d CPUs), features %s, ipsec-mb arch %s" %
          (date, cpu["model"], cpu["cpus"], " ".join(cpu["features"]), arch or "?"))
    print("Stages at up to %d peers (bench_datapath supports up to 10,000)." % (max(peer_counts) if peer_counts else 0))
    hdr = "%-58s %5s %5s %7s %7s %7s %8s %7s  %-34s %s" % ("figure", "bytes", "peers", "Mpps", "Gbit/s", "cyc/pkt",
                                                           "x crypto", "x wg-go", "note", "cpu")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-58s %5s %5s %7s %7s %7s %8s %7s  %-34s %s" % (
            r["figure"], f(r["bytes"], "%d"), f(r["peers"], "%d"), f(r["mpps"], "%.2f"), f(r["gbps"], "%.2f"),
            f(r["cyc_pkt"], "%d"), f(r["x_crypto"], "%.2f"), f(r["x_wireguard_go"], "%.2f"), r["note"], r["cpu"]))
    print("Gbit/s: inner (plaintext) bytes for the stages and the crypto limit, iperf3 goodput in the lab.")
    print("x crypto: the stage's packet rate over the crypto limit's at the same size (decrypt for ingress,")
    print("encrypt for egress).  x wg-go: over wireguard-go's in the same lab place.  The lab runs every")
    print("process (wireguard-go client, gateway, VM bridge, iperf3) on the same shared cores and kernel veths.")
    if e2e:
        print("e2e: sixgate-pktgen (one lcore) against sixgate (one worker) on net_memif + vhost-user, both on the")
        print("same 2 shared CPUs: pps per direction; x crypto over one core's crypto limit (decrypt for in and")
        print("both, encrypt for out); NDR = no loss in a trial, PDR = loss <= 0.5%, max = received at full speed.")
    json.dump({"date": date, "cpu": cpu, "crypto": crypto, "stages": stages, "lab": lab, "lab_cycles": cycles,
               "e2e": e2e, "rows": rows}, open(os.path.join(out, "bench.json"), "w"), indent=1)
    plot(out, limit, rows, peer_counts, e2e)


def load_pktgen(out, name):
    p = os.path.join(out, "pktgen-%s.json" % name)
    try:
        return [r for r in json.load(open(p))["results"] if "error" not in r]
    except (OSError, ValueError, KeyError):
        return []


REKEY_DROPS = ("wg_unknown_index", "wg_keypair_expired", "wg_replay", "no_session", "staged_full",
               "staged_timeout", "staged_vm_limit")


def pktgen_rows(out, limit, add):
    """(d): bench/pktgen.sh's rows (pktgen-ndr, -half, -flood, -rekey, -norekey.json) as table rows."""
    ndr = load_pktgen(out, "ndr")
    if not ndr:
        return {}

    def size_bytes(size):
        return int(size) if size.isdigit() else None

    def x_of(pps, size, d):
        lim = limit.get((size_bytes(size), "encrypt" if d == "out" else "decrypt")) if size_bytes(size) else None
        return pps / 1e6 / lim["mpps"] if lim else None

    e2e = {"ndr": ndr}
    for r in ndr:
        size, d, peers = r["size"], r["direction"], r["peers"]
        t0 = r["trials"][0] if r.get("trials") else None
        b = size_bytes(size)
        inner = r["ndr"]["gbps"] * 1e9 / 8 / r["ndr"]["pps"] if r["ndr"]["pps"] else None
        add("e2e NDR: %s" % d, b or size, peers, r["ndr"]["pps"] / 1e6, r["ndr"]["gbps"], None,
            x_of(r["ndr"]["pps"], size, d), None, "p99 %.0f us, %.0f s trials" % (
                r["ndr"]["latency_ns"]["p99"] / 1e3, r["trial_seconds"]))
        add("e2e PDR (loss <= 0.5%%): %s" % d, b or size, peers, r["pdr"]["pps"] / 1e6, r["pdr"]["gbps"], None,
            x_of(r["pdr"]["pps"], size, d), None, "loss %.3f%%" % (r["pdr"]["loss"] * 100))
        if t0 and t0["tx"]:
            rx_pps = t0["pps"] * t0["rx"] / t0["tx"]
            add("e2e max rate (received at full speed): %s" % d, b or size, peers, rx_pps / 1e6,
                rx_pps * inner * 8 / 1e9 if inner else None, None, x_of(rx_pps, size, d), None,
                "offered %.3f Mpps, loss %.1f%%" % (t0["pps"] / 1e6, t0["loss"] * 100))
    # Handshakes per second: the first search with the most clients (fresh gateway).
    big = max(ndr, key=lambda r: r["peers"])
    if big.get("handshake_seconds"):
        hs = big["handshakes"] / big["handshake_seconds"]
        e2e["handshakes_per_second"] = hs
        add("e2e handshakes per second, one control core", None, big["peers"], None, None, None, None, None,
            "%.0f/s: %d in %.1f s, %d initiations" % (hs, big["handshakes"], big["handshake_seconds"],
                                                     big["initiations"]))

    def ref_ndr(peers, size, d):
        for r in ndr:
            if (r["peers"], r["size"], r["direction"]) == (peers, size, d):
                return r["ndr"]["pps"]
        return None

    for r in load_pktgen(out, "half"):
        x = r["in"]
        e2e["half"] = r
        add("e2e p99 latency at 50% of the NDR: in", size_bytes(r["size"]), r["peers"], x["mpps"], x["gbps"],
            None, x_of(x["mpps"] * 1e6, r["size"], "in"), None,
            "p50 %.0f p99 %.0f p99.9 %.0f us, lost %d" % (x["latency_ns"]["p50"] / 1e3, x["latency_ns"]["p99"] / 1e3,
                                                          x["latency_ns"]["p99.9"] / 1e3, x["lost"]))
    for r in load_pktgen(out, "flood"):
        x = r["in"]
        e2e["flood"] = r
        ref = ref_ndr(r["peers"], r["size"], "in")
        drops = r.get("gw_drops", {})
        add("e2e data at the NDR under an invalid-initiation flood: in", size_bytes(r["size"]), r["peers"],
            x["mpps"], x["gbps"], None, x_of(x["mpps"] * 1e6, r["size"], "in"), None,
            "%.2f of NDR, lost %d; flood %.2f Mpps; %d rekeys done; gw %s" % (
                x["mpps"] * 1e6 / ref if ref else 0, x["lost"], r.get("flood_tx", 0) / r["seconds"] / 1e6,
                r.get("rekeys", 0), " ".join("%s=%d" % kv for kv in sorted(drops.items()))))
    runs = {n: load_pktgen(out, n) for n in ("rekey", "norekey")}
    for n in ("rekey", "norekey"):
        for r in runs[n]:
            e2e[n] = r
            drops = r.get("gw_drops", {})
            rk = sum(drops.get(k, 0) for k in REKEY_DROPS)
            lost = sum(r[d]["lost"] for d in ("in", "out") if d in r)
            mpps = sum(r[d]["mpps"] for d in ("in", "out") if d in r) / 2
            add("e2e 90%% of the NDR, both ways, %s" % ("rekeying (" + r.get("extra", "").strip() + ")"
                                                       if n == "rekey" else "no rekey"),
                size_bytes(r["size"]), r["peers"], mpps, None, None, x_of(mpps * 1e6, r["size"], "in"), None,
                "lost %d; rekey-kind drops %d; %d rekeys; gw %s" % (
                    lost, rk, r.get("rekeys", 0), " ".join("%s=%d" % kv for kv in sorted(drops.items()))))
    if runs["rekey"] and runs["norekey"]:
        a, b = runs["rekey"][0], runs["norekey"][0]
        la = sum(a[d]["lost"] for d in ("in", "out") if d in a)
        lb = sum(b[d]["lost"] for d in ("in", "out") if d in b)
        ra = sum(a.get("gw_drops", {}).get(k, 0) for k in REKEY_DROPS)
        rb = sum(b.get("gw_drops", {}).get(k, 0) for k in REKEY_DROPS)
        e2e["rekey_attributable"] = {"lost": la - lb, "drops": ra - rb}
        add("e2e drops attributable to rekeys (rekeying - not)", None, a["peers"], None, None, None, None, None,
            "lost %+d, rekey-kind drops %+d, over %d rekeys" % (la - lb, ra - rb, a.get("rekeys", 0)))
    return e2e


def plot(out, limit, rows, peer_counts, e2e):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no plot: python3-matplotlib is not installed)")
        return
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(13, 5))
    for op in ("decrypt", "encrypt"):
        pts = sorted((s, r["gbps"]) for (s, o), r in limit.items() if o == op)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "k--" if op == "decrypt" else "k:",
                    label="crypto limit (%s)" % op)
    for n in peer_counts:
        for name, style in (("stages: ingress (nic_input+ingress)", "o-"), ("stages: egress", "s-")):
            pts = sorted((r["bytes"], r["gbps"]) for r in rows if r["figure"] == name and r["peers"] == n)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                        label="%s, %d peers" % (name.split(": ")[1].split(" ")[0], n))
    # End to end (sixgate-pktgen): the NDR per direction and number of clients, and its p99.
    series = {}
    for r in (e2e or {}).get("ndr", []):
        if r["size"].isdigit():
            series.setdefault((r["direction"], r["peers"]), []).append(
                (int(r["size"]), r["ndr"]["gbps"], r["ndr"]["latency_ns"]["p99"] / 1e3))
    for i, ((d, n), pts) in enumerate(sorted(series.items())):
        pts.sort()
        color = "C%d" % ((i + 4) % 10)  # the same series in the same colour in both panels
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "^-.", color=color,
                label="e2e NDR %s, %d clients" % (d, n))
        lat.plot([p[0] for p in pts], [p[2] for p in pts], "^-", color=color, label="%s, %d clients" % (d, n))
    ax.set_xlabel("inner packet size (bytes)")
    ax.set_ylabel("Gbit/s of inner payload, one core")
    ax.set_title("sixgate against the ChaCha20-Poly1305 limit")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    lat.set_xlabel("inner packet size (bytes)")
    lat.set_ylabel("p99 latency at the NDR (us)")
    lat.set_title("end to end (sixgate-pktgen), p99 at the no-drop rate")
    lat.grid(True, alpha=0.3)
    if series:
        lat.set_yscale("log")
        lat.legend(fontsize=7)
    else:
        lat.text(0.5, 0.5, "not measured (bench/run (d) needs root)", ha="center", transform=lat.transAxes)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"), dpi=100)
    print("plot: %s" % os.path.join(out, "throughput.png"))


if __name__ == "__main__":
    main()
