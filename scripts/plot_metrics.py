#!/usr/bin/env python3
"""Draws a training curve from an example's --metrics CSV as a standalone SVG.

usage: scripts/plot_metrics.py METRICS.csv OUT.svg [--title TEXT]
Left axis: train and test loss; right axis: test accuracy. No dependencies.
"""
import csv
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[sys.argv.index("--title") + 1] if "--title" in sys.argv else src
    rows = list(csv.DictReader(open(src)))
    if not rows:
        print(f"{src}: no rows")
        return 1
    epochs = [int(r["epoch"]) for r in rows]
    series = {k: [float(r[k]) for r in rows] for k in ("train_loss", "test_loss", "test_acc")}

    w, h, left, right, top, bottom = 640, 360, 60, 60, 40, 50
    pw, ph = w - left - right, h - top - bottom
    loss_max = max(series["train_loss"] + series["test_loss"]) * 1.1
    acc_lo = min(series["test_acc"]) - 0.02
    acc_hi = max(series["test_acc"]) + 0.01
    e_lo, e_hi = min(epochs), max(max(epochs), min(epochs) + 1)

    def x(e):
        return left + (e - e_lo) / (e_hi - e_lo) * pw

    def y_loss(v):
        return top + ph - v / loss_max * ph

    def y_acc(v):
        return top + ph - (v - acc_lo) / (acc_hi - acc_lo) * ph

    def path(values, fy):
        return " ".join(f"{'M' if i == 0 else 'L'}{x(e):.1f},{fy(v):.1f}" for i, (e, v) in enumerate(zip(epochs, values)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for i in range(5):  # grid and labels
        frac = i / 4
        yy = top + ph - frac * ph
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{frac * loss_max:.2f}</text>')
        parts.append(f'<text x="{left + pw + 6}" y="{yy + 4:.1f}">{acc_lo + frac * (acc_hi - acc_lo):.3f}</text>')
    for e in epochs:
        parts.append(f'<text x="{x(e):.1f}" y="{top + ph + 16}" text-anchor="middle">{e}</text>')
    parts += [
        f'<text x="{left + pw / 2}" y="{h - 10}" text-anchor="middle">epoch</text>',
        f'<text x="16" y="{top + ph / 2}" transform="rotate(-90 16 {top + ph / 2})" text-anchor="middle">loss</text>',
        f'<text x="{w - 12}" y="{top + ph / 2}" transform="rotate(90 {w - 12} {top + ph / 2})" text-anchor="middle">test accuracy</text>',
        f'<path d="{path(series["train_loss"], y_loss)}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
        f'<path d="{path(series["test_loss"], y_loss)}" fill="none" stroke="#ff7f0e" stroke-width="2"/>',
        f'<path d="{path(series["test_acc"], y_acc)}" fill="none" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 3"/>',
    ]
    legend = [("train loss", "#1f77b4", ""), ("test loss", "#ff7f0e", ""), ("test accuracy (right)", "#2ca02c", "6 3")]
    for i, (name, color, dash) in enumerate(legend):
        yy = top + ph - 52 + i * 16  # bottom left, below the loss curves
        parts.append(f'<line x1="{left + 12}" x2="{left + 37}" y1="{yy}" y2="{yy}" stroke="{color}" '
                     f'stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{left + 42}" y="{yy + 4}">{name}</text>')
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
