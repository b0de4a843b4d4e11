#!/usr/bin/env python3
"""connmgr's churn example against its raw mio ceiling (`churn --impl raw`): benches/README.md's rows.

    python3 benches/compare.py                 # every row, 3 alternating rounds (~10 min)
    python3 benches/compare.py --only cw1 --runs 3 --secs 10
    python3 benches/compare.py --runs 1 --secs 3   # a quick end-to-end check (~1.5 min)
    python3 benches/compare.py --only proxy        # CW1 K=64 through microsocks, and direct for context
    python3 benches/compare.py --only shards --json shards.jsonl   # "Using every core": 1, 2, 4 shards, tokio
    python3 benches/compare.py --only nocost --baseline OLD_CHURN   # the 'shards' feature off: before/after

Both implementations are the same binary (`cargo run --release --example churn -- WL --impl raw|connmgr`),
so they share the measurement code. For CW1 and HW1 both use one sink started here (`churn sink`,
a separate process), so the only difference between them is the client; IW1's load client is a
child each run starts itself, and "CW1 via proxy" runs with `--proxy spawn`: each run starts its
own microsocks (Debian's, which must be installed) on a free port. Rounds alternate the order (raw first, then connmgr first, ...)
so drift on a shared machine hits both alike; the table shows medians of the runs and the
ratios the targets are stated in. Loopback only; every run is bounded.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHURN = os.path.join(ROOT, "target", "release", "examples", "churn")
# The row key of CW1 through a proxy (`churn cw1 --proxy spawn`).
PROXIED = "cw1-proxy"
IW1_RULES = "iw1+rules"  # IW1 with every admission rule on (connmgr only; raw is unchanged)
# The tokio `multi_thread` client of "Using every core" (benches/tokio-churn, its own project).
TOKIO_DIR = os.path.join(ROOT, "benches", "tokio-churn")
TOKIO = os.path.join(TOKIO_DIR, "target", "release", "tokio-churn")


def build(features=None):
    cmd = ["cargo", "build", "--quiet", "--release", "--example", "churn"]
    if features:
        cmd += ["--features", features]
    subprocess.run(cmd, cwd=ROOT, check=True)


class Sink:
    """`churn sink` on a free port (read from its `ready <port>` line); stopped by its PID. Its
    stdin stays open while it runs: the sink exits by itself if this script goes away."""

    def __init__(self, mode, secs):
        self.p = subprocess.Popen(
            [CHURN, "sink", "--mode", mode, "--port", "0", "--secs", f"{secs:.0f}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"churn sink did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def client(impl, wl, args):
    # Peak RSS is VmHWM (see examples/churn/os.rs), so starting the client straight from Python
    # (vfork + exec) does not leak this process's peak into it.
    cmd = [CHURN, wl, "-q", "--impl", impl] + args
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=200).stdout
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def paired(res, f):
    """Median over rounds of f(connmgr run) / f(raw run) within the same round: the two runs
    of a round are back to back, so a burst of load from elsewhere on the machine hits both."""
    return statistics.median(f(c) / f(r) for r, c in zip(res["raw"], res["connmgr"]))


def cpu_us(x):
    return x["cpu_s"] / max(x["established"], 1) * 1e6


def rw1_expected(n, base_ms, secs):
    """Dials N permanent requests make in `secs` with linear backoff base x retry (cap 5 min):
    dial k of a request starts at base x k(k+1)/2, so 14 per request in 10 s."""
    at, k = 0, 0
    while at + min(base_ms * (k + 1), 300_000) < secs * 1000:
        at += min(base_ms * (k + 1), 300_000)
        k += 1
    return n * (k + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--only", choices=["cw1", "hw1", "rw1", "iw1", "proxy", "shards", "nocost"])
    ap.add_argument("--baseline", help="--only nocost: the churn binary built before the change (feature off)")
    ap.add_argument("--json", help="also write every run to this file (JSON lines)")
    ap.add_argument("--report", help="only print the table for runs saved earlier with --json (pass their --secs)")
    a = ap.parse_args()
    if a.report:
        results = {}
        for line in open(a.report):
            j = json.loads(line)
            key = (PROXIED if j.get("proxy") else j["wl"], j.get("k", j.get("n")))
            results.setdefault(key, {"raw": [], "connmgr": []})[j["impl"]].append(j)
        a.runs = max(len(r["raw"]) for r in results.values())
        return report(results, a)
    if not (1 <= a.runs <= 9 and 0 < a.secs <= 60):
        ap.error("--runs 1..9, --secs (0, 60]")
    if a.only == "shards":
        return shards(a)
    if a.only == "nocost":
        if not a.baseline:
            ap.error("--only nocost needs --baseline OLD_CHURN")
        return nocost(a)
    build()
    secs = f"{a.secs:g}"
    rows = []
    if a.only in (None, "cw1"):
        rows += [("cw1", k) for k in (8, 64, 512)]
    if a.only in (None, "hw1"):
        rows += [("hw1", n) for n in (1000, 5000, 15000)]
    if a.only in (None, "rw1"):
        rows += [("rw1", 2000)]
    if a.only in (None, "iw1"):
        rows += [("iw1", 64), (IW1_RULES, 64)]
    if a.only in (None, "proxy"):
        if shutil.which("microsocks"):
            # Direct CW1 K=64 is the context for the proxied rate: run it if nothing else does.
            if ("cw1", 64) not in rows:
                rows += [("cw1", 64)]
            rows += [(PROXIED, 64)]
        elif a.only == "proxy":
            ap.error("CW1 via proxy needs microsocks (apt-get install microsocks)")
        else:
            print("note: microsocks is not installed: no CW1 via proxy rows", file=sys.stderr)
    results = {}
    log = open(a.json, "w") if a.json else None
    for wl, p in rows:
        res = {"raw": [], "connmgr": []}
        for r in range(a.runs):
            order = ["raw", "connmgr"] if r % 2 == 0 else ["connmgr", "raw"]
            for impl in order:
                # A fresh sink per run: HW1's holds every connection until it exits.
                sink = None
                if wl in ("cw1", PROXIED):
                    sink = Sink("close", a.secs + 40)
                    args = ["--k", str(p), "--port", str(sink.port), "--warm", "1", "--secs", secs]
                    if wl == PROXIED:
                        # A fresh microsocks per run, started and killed by the run itself.
                        args += ["--proxy", "spawn"]
                elif wl == "hw1":
                    sink = Sink("hold", a.secs + 70)
                    args = ["--n", str(p), "--port", str(sink.port), "--secs", secs]
                elif wl == "rw1":
                    # No --port: the example picks a port where nothing listens.
                    args = ["--n", str(p), "--retry-ms", "100", "--secs", secs]
                else:
                    # IW1 starts its own load client child (`churn load`); with rules on,
                    # connmgr checks every admission rule against the same raw loop.
                    args = ["--k", str(p), "--warm", "1", "--secs", secs]
                    if wl == IW1_RULES and impl == "connmgr":
                        args += ["--rules", "on"]
                try:
                    j = client(impl, {PROXIED: "cw1", IW1_RULES: "iw1"}.get(wl, wl), args)
                finally:
                    if sink:
                        sink.stop()
                res[impl].append(j)
                if log:
                    log.write(json.dumps(j) + "\n")
                print(f"  {wl} {p} {impl:8} {json.dumps(j)}", file=sys.stderr)
                time.sleep(0.5)
        results[(wl, p)] = res
    report(results, a)


def report(results, a):
    print(f"\n## connmgr vs raw mio ceiling: medians of {a.runs} alternating runs, {a.secs:g} s windows\n")
    print("raw and connmgr columns: medians of the runs; ratios: median over rounds of the ratio of the")
    print("two back-to-back runs of a round (robust to load bursts from elsewhere on the machine).\n")
    print("| workload | metric | raw | connmgr | ratio / difference | target | met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def churn_stats(res):
        """CW1's medians, direct or through a proxy: conn/s and CPU us/conn of each side, their
        paired ratios, and connmgr's in-flight mean."""
        raw, cm = res["raw"], res["connmgr"]
        return (med(raw, "conn_per_s"), med(cm, "conn_per_s"),
                statistics.median(cpu_us(x) for x in raw), statistics.median(cpu_us(x) for x in cm),
                paired(res, lambda x: x["conn_per_s"]), paired(res, cpu_us), med(cm, "in_flight_mean"))

    def row(wl, metric, raw, cm, rel, target, ok):
        print(f"| {wl} | {metric} | {raw} | {cm} | {rel} | {target} | {'yes' if ok else 'NO'} |")

    cpu_per = {}
    for (wl, p), res in results.items():
        raw, cm = res["raw"], res["connmgr"]
        if wl == "cw1":
            r_cps, c_cps, r_cpu, c_cpu, q_cps, q_cpu, inf = churn_stats(res)
            cpu_per[p] = (r_cpu, c_cpu, q_cpu)
            # A client below 90 % of a core was waiting (for the sink, or for a CPU taken by
            # something else on the machine): such a run measures the machine, not the client.
            waited = sum(1 for x in raw + cm if x["cpu_s"] < 0.9 * x["secs"])
            note = f" ({waited} of {len(raw) + len(cm)} runs below 90 % CPU)" if waited else ""
            row(f"CW1 K={p}", "conn/s", f"{r_cps:,.0f}", f"{c_cps:,.0f}", f"{q_cps:.3f}x{note}", ">= 0.9x", q_cps >= 0.9)
            row(f"CW1 K={p}", "CPU us/conn", f"{r_cpu:.2f}", f"{c_cpu:.2f}", f"{q_cpu:.3f}x", "<= 1.15x", q_cpu <= 1.15)
            row(f"CW1 K={p}", "in-flight mean", "", f"{inf:.2f}", f"{inf / p:.4f} of K", "within 5 %", abs(inf / p - 1) <= 0.05)
            row(f"CW1 K={p}", "peak RSS KiB", f"{med(raw, 'peak_rss_kb'):,.0f}", f"{med(cm, 'peak_rss_kb'):,.0f}",
                f"{med(cm, 'peak_rss_kb') - med(raw, 'peak_rss_kb'):+,.0f} KiB", "(context)", True)
        elif wl == PROXIED:
            # microsocks does most of the work (a thread per connection, about a core on a
            # 2-core machine), so both clients wait for it: the rate is the proxy's, and CPU per
            # connection (this process only, not the proxy's) is the comparison.
            r_cps, c_cps, r_cpu, c_cpu, q_cps, q_cpu, inf = churn_stats(res)
            errs = sum(x["dial_errs"] for x in raw + cm)
            name = f"CW1 K={p} via proxy"
            row(name, "conn/s", f"{r_cps:,.0f}", f"{c_cps:,.0f}", f"{q_cps:.3f}x (paced by the proxy)", "(context)", True)
            row(name, "CPU us/conn", f"{r_cpu:.2f}", f"{c_cpu:.2f}", f"{q_cpu:.3f}x", "<= 1.15x", q_cpu <= 1.15)
            row(name, "in-flight mean", "", f"{inf:.2f}", f"{inf / p:.4f} of K", "within 5 %", abs(inf / p - 1) <= 0.05)
            row(name, "dial errors", "", "", f"{errs} in all runs", "0", errs == 0)
        elif wl == "hw1":
            r_e, c_e = med(raw, "establish_s"), med(cm, "establish_s")
            r_rss, c_rss = med(raw, "rss_after_kb"), med(cm, "rss_after_kb")
            q_e = paired(res, lambda x: max(x["establish_s"], 1e-3))
            row(f"HW1 N={p}", "establish s", f"{r_e:.3f}", f"{c_e:.3f}", f"{q_e:.3f}x", "<= 1.3x", q_e <= 1.3)
            row(f"HW1 N={p}", "RSS after KiB", f"{r_rss:,.0f}", f"{c_rss:,.0f}", f"{c_rss - r_rss:+,.0f} KiB", "<= +1024 KiB", c_rss - r_rss <= 1024)
            r_cs, c_cs = med(raw, "idle_nvcsw"), med(cm, "idle_nvcsw")
            row(f"HW1 N={p}", "idle voluntary switches", f"{r_cs:g}", f"{c_cs:g}", f"{c_cs - r_cs:+g}", "<= raw + 1", c_cs <= r_cs + 1)
            r_ic, c_ic = med(raw, "idle_cpu_s"), med(cm, "idle_cpu_s")
            row(f"HW1 N={p}", "idle CPU s", f"{r_ic:.4f}", f"{c_ic:.4f}", f"{c_ic - r_ic:+.4f}", "clock resolution (< 1 ms)", c_ic < 0.001)
        elif wl in ("iw1", IW1_RULES):
            r_aps, c_aps = med(raw, "accepts_per_s"), med(cm, "accepts_per_s")
            r_cpu = statistics.median(cpu_us(x) for x in raw)
            c_cpu = statistics.median(cpu_us(x) for x in cm)
            q_aps = paired(res, lambda x: x["accepts_per_s"])
            q_cpu = paired(res, cpu_us)
            # On 2 cores the load client (one process, one core) is usually slower than either
            # listener, so the listener waits for it: accepts/s then measures the client, and
            # CPU per accept is the comparison that tells the two apart.
            waited = sum(1 for x in raw + cm if x["cpu_s"] < 0.9 * x["secs"])
            note = f" ({waited} of {len(raw) + len(cm)} runs below 90 % CPU: client-bound)" if waited else ""
            name = f"IW1 K={p}" + (", rules on" if wl == IW1_RULES else "")
            row(name, "accepts/s", f"{r_aps:,.0f}", f"{c_aps:,.0f}", f"{q_aps:.3f}x{note}", ">= 0.9x", q_aps >= 0.9)
            row(name, "CPU us/accept", f"{r_cpu:.2f}", f"{c_cpu:.2f}", f"{q_cpu:.3f}x", "<= 1.15x", q_cpu <= 1.15)
            row(name, "peak RSS KiB", f"{med(raw, 'peak_rss_kb'):,.0f}", f"{med(cm, 'peak_rss_kb'):,.0f}",
                f"{med(cm, 'peak_rss_kb') - med(raw, 'peak_rss_kb'):+,.0f} KiB", "(context)", True)
        else:
            r_d, c_d = med(raw, "dials"), med(cm, "dials")
            r_c, c_c = med(raw, "cpu_s"), med(cm, "cpu_s")
            r_m, c_m = med(raw, "peak_rss_kb"), med(cm, "peak_rss_kb")
            want = rw1_expected(p, 100, a.secs)
            row(f"RW1 N={p}", "dials", f"{r_d:,.0f}", f"{c_d:,.0f}", "", f"exactly {want:,}", all(x["dials"] == want for x in cm))
            q_c = paired(res, lambda x: x["cpu_s"])
            row(f"RW1 N={p}", "CPU s", f"{r_c:.3f}", f"{c_c:.3f}", f"{q_c:.3f}x", "<= 1.2x", q_c <= 1.2)
            row(f"RW1 N={p}", "peak RSS KiB", f"{r_m:,.0f}", f"{c_m:,.0f}", f"{c_m - r_m:+,.0f} KiB", "<= +1024 KiB", c_m - r_m <= 1024)
    if 8 in cpu_per and 512 in cpu_per:
        # Absolute growth moves with the machine (raw's own moves too); the growth of the paired
        # ratio is what connmgr adds as K grows.
        r_g, c_g = cpu_per[512][0] / cpu_per[8][0], cpu_per[512][1] / cpu_per[8][1]
        q_g = cpu_per[512][2] / cpu_per[8][2]
        row("CW1 K=8 -> 512", "CPU/conn growth", f"{r_g:.3f}x", f"{c_g:.3f}x", f"{q_g:.3f}x relative to raw",
            "flat within 10 %", abs(q_g - 1) <= 0.10)
    for p in sorted(p for (wl, p) in results if wl == PROXIED):
        direct, via = results.get(("cw1", p)), results[(PROXIED, p)]
        if not direct:
            continue
        # Context, no target: what going through microsocks costs each client.
        for metric, f, fmt in (("conn/s", lambda x: x["conn_per_s"], "{:,.0f}"), ("CPU us/conn", cpu_us, "{:.2f}")):
            d = {impl: statistics.median(f(x) for x in direct[impl]) for impl in ("raw", "connmgr")}
            v = {impl: statistics.median(f(x) for x in via[impl]) for impl in ("raw", "connmgr")}
            col = {impl: f"{fmt.format(d[impl])} -> {fmt.format(v[impl])}" for impl in d}
            row(f"CW1 K={p}", f"{metric}: direct -> via proxy", col["raw"], col["connmgr"],
                f"x{v['raw'] / d['raw']:.2f} raw, x{v['connmgr'] / d['connmgr']:.2f} connmgr", "(context)", True)
    hw = {p: r for (wl, p), r in results.items() if wl == "hw1"}
    if {1000, 5000, 15000} <= hw.keys():
        for impl in ("raw", "connmgr"):
            rss = {n: med(hw[n][impl], "rss_after_kb") for n in (1000, 5000, 15000)}
            lo = (rss[5000] - rss[1000]) * 1024 / 4000
            hi = (rss[15000] - rss[5000]) * 1024 / 10000
            row("HW1 N=1000..15000", f"RSS bytes/held conn ({impl})", "", f"{lo:.0f} -> {hi:.0f}",
                "1k-5k -> 5k-15k", "flat", impl == "raw" or (hi <= lo * 1.25 + 16))
        # The intercept is the binary and its libraries (both impls are the same binary) plus
        # whatever each allocates up front; the slope above is what each held connection costs.
        rs = {impl: {n: med(hw[n][impl], "rss_after_kb") for n in (1000, 15000)} for impl in ("raw", "connmgr")}
        base = {impl: rs[impl][1000] - (rs[impl][15000] - rs[impl][1000]) / 14 for impl in rs}
        row("HW1", "RSS at N=0 (intercept KiB)", f"{base['raw']:,.0f}", f"{base['connmgr']:,.0f}",
            f"{base['connmgr'] - base['raw']:+,.0f} KiB", "(fixed state)", True)


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def shards(a):
    """CW1 at K=64 and 512: connmgr on 1 (the single-reactor Manager), 2 and 4 shards, and the
    tokio client with 2 workers, one fresh sink per run, the order rotated every round."""
    build("shards")
    subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=TOKIO_DIR, check=True)
    secs = f"{a.secs:g}"
    configs = ["1", "2", "4", "tokio"]
    results = {}
    log = open(a.json, "w") if a.json else None
    for r in range(a.runs):
        for k in (64, 512):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            for cfg in order:
                sink = Sink("close", a.secs + 40)
                try:
                    common = ["--k", str(k), "--port", str(sink.port), "--warm", "1", "--secs", secs]
                    before = load()
                    if cfg == "tokio":
                        out = subprocess.run([TOKIO, "--workers", "2"] + common, check=True, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True, timeout=200).stdout
                        j = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
                    else:
                        j = client("connmgr", "cw1", common + ["--shards", cfg])
                        j.setdefault("shards", 1)
                finally:
                    sink.stop()
                j["config"], j["load_before"] = cfg, before
                results.setdefault((k, cfg), []).append(j)
                if log:
                    log.write(json.dumps(j) + "\n")
                print(f"  cw1 k={k} {cfg:6} load {before:.2f} {json.dumps(j)}", file=sys.stderr)
                time.sleep(0.5)
    shards_report(results, a)


def shards_report(results, a):
    print(f"\n## CW1 on every core: medians of {a.runs} rotated rounds, {a.secs:g} s windows (spread: min-max)\n")
    print("| K | client | conn/s | CPU us/conn | vs 1 shard: conn/s ; CPU/conn | vs tokio: conn/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k in (64, 512):
        base = results.get((k, "1"), [])
        tok = results.get((k, "tokio"), [])
        for cfg in ("1", "2", "4", "tokio"):
            runs = results.get((k, cfg))
            if not runs:
                continue
            cps = [x["conn_per_s"] for x in runs]
            cpu = [cpu_us(x) for x in runs]
            # Paired by round: the runs of one round are back to back.
            vs1 = [(x["conn_per_s"] / b["conn_per_s"], cpu_us(x) / cpu_us(b)) for x, b in zip(runs, base)]
            vst = [x["conn_per_s"] / t["conn_per_s"] for x, t in zip(runs, tok)]
            name = "tokio multi_thread, 2 workers" if cfg == "tokio" else f"connmgr, {cfg} shard{'s' if cfg != '1' else ''}"
            c1 = f"{statistics.median(v[0] for v in vs1):.2f}x ; {statistics.median(v[1] for v in vs1):.2f}x" if cfg != "1" else ""
            ct = f"{statistics.median(vst):.2f}x" if cfg != "tokio" else ""
            print(f"| {k} | {name} | {statistics.median(cps):,.0f} ({min(cps):,.0f}-{max(cps):,.0f}) | "
                  f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | {c1} | {ct} |")


def nocost(a):
    """CW1 K=64 and HW1 N=5000 with the `shards` feature off: the binary built before the change
    (--baseline) against this tree's, alternating, one fresh sink per run."""
    build()
    bins = {"before": a.baseline, "after": CHURN}
    secs = f"{a.secs:g}"
    res = {}
    for r in range(a.runs):
        for wl in ("cw1", "hw1"):
            for which in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                sink = Sink("close" if wl == "cw1" else "hold", a.secs + 70)
                try:
                    args = (["--k", "64", "--warm", "1"] if wl == "cw1" else ["--n", "5000"]) + ["--port", str(sink.port), "--secs", secs]
                    out = subprocess.run([bins[which], wl, "-q"] + args, check=True, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, timeout=200).stdout
                    j = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
                finally:
                    sink.stop()
                res.setdefault((wl, which), []).append(j)
                print(f"  {wl} {which:6} {json.dumps(j)}", file=sys.stderr)
                time.sleep(0.5)
    print(f"\n## The 'shards' feature off, before and after: medians of {a.runs} alternating runs (min-max)\n")
    print("| workload | metric | before | after | after / before (paired median) |")
    print("| --- | --- | --- | --- | --- |")
    for wl, metric, f in (("cw1", "conn/s", lambda x: x["conn_per_s"]), ("cw1", "CPU us/conn", cpu_us),
                          ("hw1", "establish s", lambda x: x["establish_s"]),
                          ("hw1", "RSS after KiB", lambda x: x["rss_after_kb"]),
                          ("hw1", "idle voluntary switches", lambda x: x["idle_nvcsw"])):
        b, n = [f(x) for x in res[(wl, "before")]], [f(x) for x in res[(wl, "after")]]
        q = statistics.median(y / x if x else 1.0 for x, y in zip(b, n))
        print(f"| {wl.upper()} | {metric} | {statistics.median(b):,.2f} ({min(b):,.2f}-{max(b):,.2f}) | "
              f"{statistics.median(n):,.2f} ({min(n):,.2f}-{max(n):,.2f}) | {q:.3f}x |")


if __name__ == "__main__":
    main()
