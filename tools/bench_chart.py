#!/usr/bin/env python3
"""bench_chart.py -- an SVG bar chart of maplog-bench's CSV: append throughput (records/s,
log scale) per store and record size, single thread.  No dependencies.

Usage: tools/bench_chart.py RESULTS.csv OUT.svg
"""
import csv
import math
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
data = {}
for r in rows:
    # stores and limits; not the cost rows (what getting new pages alone costs)
    if r["workload"] == "append" and r["threads"] == "1" and not r["system"].startswith("cost:"):
        data.setdefault(r["system"], {})[int(r["size"])] = float(r["median"])
sizes = sorted({s for d in data.values() for s in d})
systems = sorted(data, key=lambda s: -data[s].get(sizes[0], 0))
colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
W, row_h, left, top = 900, 22, 230, 50
H = top + len(systems) * (row_h * len(sizes) + 12) + 50
vmax = max(v for d in data.values() for v in d.values())
lo, hi = 4.0, math.ceil(math.log10(vmax))


def x(v):
    return left + (math.log10(max(v, 10 ** lo)) - lo) / (hi - lo) * (W - left - 40)


out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
       '<rect width="100%" height="100%" fill="white"/>',
       '<text x="%d" y="24" font-size="15" font-weight="bold">Append throughput, one thread (records/s, log scale; median)</text>' % left]
for e in range(int(lo), int(hi) + 1):
    xx = x(10 ** e)
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (xx, top - 8, xx, H - 40))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">1e%d</text>' % (xx, H - 24, e))
y = top
for s in systems:
    out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + row_h * len(sizes) / 2 + 4, s))
    for k, size in enumerate(sizes):
        v = data[s].get(size)
        if v:
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y, x(v) - left, row_h - 4, colors[k % 3]))
            out.append('<text x="%.1f" y="%d">%.3g</text>' % (x(v) + 4, y + row_h - 9, v))
        y += row_h
    y += 12
for k, size in enumerate(sizes):
    out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%d B</text>'
               % (left + 120 * k, H - 14, colors[k % 3], left + 120 * k + 16, H - 3, size))
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out))
print("wrote", sys.argv[2])
