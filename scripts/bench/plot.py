#!/usr/bin/env python3
"""Plots of the benchmark's lossy transfers, as one SVG (no plotting library needed).

    python3 scripts/bench/plot.py OUT.svg TITLE LABEL=TRACE.csv [LABEL=TRACE.csv ...]

Each TRACE is what scripts/bench.sh's lossy client samples from TCP_INFO every two milliseconds
while it sends (columns: ms, bytes_acked, cwnd_bytes, rtt_us). Three panels share the time axis:
the sending rate (bytes newly acknowledged over 10 ms), the congestion window and the smoothed RTT,
one line per system.
"""
import csv
import sys

COLORS = ["#222222", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
W, PANEL_H, LEFT, TOP, GAP = 900, 180, 80, 40, 50


def load(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f)]
    t = [float(r["ms"]) for r in rows]
    acked = [int(r["bytes_acked"]) for r in rows]
    cwnd = [int(r["cwnd_bytes"]) / 1024 for r in rows]
    rtt = [int(r["rtt_us"]) / 1000 for r in rows]
    # Rate over 10 ms windows, in MB/s, placed at each window's end.
    rate_t, rate = [], []
    j = 0
    for i in range(len(t)):
        while t[i] - t[j] > 10:
            j += 1
        if i > j and t[i] > t[j]:
            rate_t.append(t[i])
            rate.append((acked[i] - acked[j]) / (t[i] - t[j]) / 1000)
    return {"rate": (rate_t, rate), "cwnd": (t, cwnd), "rtt": (t, rtt)}


def nice_max(v):
    if v <= 0:
        return 1
    step = 10 ** len(str(int(v))) / 10
    for m in (1, 2, 5, 10):
        if v <= m * step:
            return m * step
    return v


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, title = sys.argv[1], sys.argv[2]
    series = []
    for arg in sys.argv[3:]:
        label, _, path = arg.partition("=")
        try:
            series.append((label, load(path)))
        except (OSError, KeyError, ValueError) as e:
            print(f"plot: {path}: {e}", file=sys.stderr)
    if not series:
        sys.exit("plot: no trace to draw")
    panels = [("rate", "sending rate (MB/s)"), ("cwnd", "cwnd (KiB)"), ("rtt", "smoothed RTT (ms)")]
    tmax = max(max(s[k][0] or [0]) for _, s in series for k, _ in panels) or 1
    height = TOP + len(panels) * (PANEL_H + GAP) + 20
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{height}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="15">{title}</text>']
    plot_w = W - LEFT - 160
    for n, (key, name) in enumerate(panels):
        y0 = TOP + n * (PANEL_H + GAP)
        vmax = nice_max(max(max(s[key][1] or [0]) for _, s in series))
        svg.append(f'<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL_H}" '
                   'fill="none" stroke="#999"/>')
        svg.append(f'<text x="{LEFT}" y="{y0 - 6}">{name}</text>')
        for frac in (0, 0.5, 1):
            y = y0 + PANEL_H * (1 - frac)
            svg.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{vmax * frac:g}</text>')
        for frac in (0, 0.25, 0.5, 0.75, 1):
            x = LEFT + plot_w * frac
            svg.append(f'<text x="{x}" y="{y0 + PANEL_H + 15}" text-anchor="middle">'
                       f'{tmax * frac:.0f} ms</text>')
        for i, (label, s) in enumerate(series):
            ts, vs = s[key]
            pts = " ".join(f"{LEFT + plot_w * t / tmax:.1f},{y0 + PANEL_H * (1 - min(v, vmax) / vmax):.1f}"
                           for t, v in zip(ts, vs))
            color = COLORS[i % len(COLORS)]
            svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{pts}"/>')
            if n == 0:
                svg.append(f'<text x="{LEFT + plot_w + 12}" y="{y0 + 16 + 16 * i}" fill="{color}">'
                           f'{label}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
