#!/usr/bin/env python3
"""Draws benches/README.md's "Using every core" chart (docs/shards.svg) from
`compare.py --only shards --json FILE` runs: CW1 connections per second against the number of
shards (1 is the single-reactor Manager), one line per K (median of the runs, the bar spans
min-max), and the tokio multi_thread client with 2 workers as a dashed line per K.
Plain SVG written by hand: no plotting library needed.

    python3 benches/compare.py --only shards --runs 5 --json shards.jsonl
    python3 benches/shards_chart.py shards.jsonl docs/shards.svg
"""
import json
import statistics
import sys

W, H = 840, 440
L, R, T, B = 90, 270, 60, 60  # margins: the legend sits on the right
COLORS = {64: "#1b9e77", 512: "#7570b3"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = {}
    for j in runs:
        by.setdefault((j["k"], j["config"]), []).append(j["conn_per_s"])
    ks = sorted({k for k, _ in by})
    shards = sorted({int(c) for _, c in by if c != "tokio"})
    ymax = max(max(v) for v in by.values()) * 1.15
    step = 10_000 if ymax > 40_000 else 5_000
    ymax = (int(ymax) // step + 1) * step

    def x(s):
        return L + (shards.index(s) + 0.5) * (W - L - R) / len(shards)

    def y(v):
        return T + (H - T - B) * (1 - v / ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="13">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - R / 2 + L / 2}" y="24" text-anchor="middle" font-size="16">'
           'CW1 churn on a 2-core machine: connections per second against shards</text>',
           f'<text x="{W / 2 - R / 2 + L / 2}" y="44" text-anchor="middle" fill="#555">'
           f'median of {min(len(v) for v in by.values())}+ runs per point (bars: min-max); sink on the same cores</text>']
    for v in range(0, ymax + 1, step):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,}</text>')
    for s in shards:
        label = f"{s} (Manager)" if s == 1 else str(s)
        out.append(f'<text x="{x(s):.1f}" y="{H - B + 20}" text-anchor="middle">{label}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 14}" text-anchor="middle">shards (reactor threads)</text>')
    out.append(f'<text transform="translate(22,{(T + H - B) / 2}) rotate(-90)" text-anchor="middle">'
               'connections established per second</text>')
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="#333"/>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="#333"/>')
    legend = []
    for n, k in enumerate(ks):
        c = COLORS.get(k, "#d95f02")
        # Side by side, so the bars do not hide each other; labels left and right of them.
        dx = (n - (len(ks) - 1) / 2) * 14
        pts = []
        for s in shards:
            v = by.get((k, str(s)))
            if not v:
                continue
            m = statistics.median(v)
            px = x(s) + dx
            pts.append((px, y(m)))
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(min(v)):.1f}" y2="{y(max(v)):.1f}" '
                       f'stroke="{c}" stroke-width="2"/>')
            out.append(f'<circle cx="{px:.1f}" cy="{y(m):.1f}" r="4.5" fill="{c}"/>')
            anchor, tx = ("end", px - 9) if dx < 0 else ("start", px + 9)
            out.append(f'<text x="{tx:.1f}" y="{y(m) + 4:.1f}" text-anchor="{anchor}" fill="{c}">{m:,.0f}</text>')
        out.append('<polyline fill="none" stroke-width="2.5" stroke="{}" points="{}"/>'.format(
            c, " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)))
        legend.append((c, f"connmgr, K={k}", ""))
        t = by.get((k, "tokio"))
        if t:
            m = statistics.median(t)
            out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(m):.1f}" y2="{y(m):.1f}" stroke="{c}" '
                       'stroke-dasharray="7,5" stroke-width="1.5"/>')
            legend.append((c, f"tokio, 2 workers, K={k}", "7,5", m))
    for i, item in enumerate(legend):
        c, text, dash = item[:3]
        ly = T + 20 + i * 24
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{W - R + 16}" x2="{W - R + 46}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="2.5"{dash_attr}/>')
        extra = f": {item[3]:,.0f}" if len(item) > 3 else ""
        out.append(f'<text x="{W - R + 52}" y="{ly + 4}">{text}{extra}</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
