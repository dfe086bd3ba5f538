"""report.html's plots, written as SVG text (issue 12).

Why not a plotting library: `evals compare` ends with these plots, and they depend on every
answer, so they are drawn after the last one, while the user's GPUs sit idle and a release
pipeline waits. Drawn with matplotlib, they were most of the 2.09 s a GSM8K comparison spent
outside sending its requests (against the slower endpoint's 12.9 s of service); drawn here, that
time is 1.04 s (docs/performance.md, fourth round). Five small charts (horizontal intervals, stacked bars, bubbles, step
histograms, box plots) need lines, rectangles, circles and text on linear scales: written
here they take milliseconds, need no extra to install, and every report has its plots. Plotly
or Bokeh would add a multi-megabyte script to every report, and the page loads nothing from
anywhere (its Content-Security-Policy).

Text is measured by an estimate of its width in a sans-serif font (`text_width`), enough to
leave room for labels; the browser lays it out. Output is deterministic: the same data give
the same bytes (the page `evals report` draws from disk is the one `evals compare` wrote).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evals.records import Run
from evals.scores import z

VERDICT_COLOURS = {"LOSSLESS": "#1a7f37", "REGRESSION": "#cf222e", "INCONCLUSIVE": "#bf8700", "ERROR": "#6e7781"}
ARM_COLOURS = ("#0969da", "#e16f24")
GREY, LIGHT, RED = "#57606a", "#eaeef2", "#cf222e"
FONT = 12  # px, tick labels and row labels
WIDTH = 880  # px, a full-width plot


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of a sans-serif line's width in px (average glyph ≈ 0.56 em)."""
    return 0.56 * size * len(text)


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class Svg:
    """An SVG document built element by element, in drawing order."""

    def __init__(self, width: float, height: float) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1.0, dash: str | None = None, id: str | None = None) -> None:
        extra = (f" stroke-dasharray='{dash}'" if dash else "") + (f" id='{html.escape(id, quote=True)}'" if id else "")
        self.parts.append(f"<line x1='{_n(x1)}' y1='{_n(y1)}' x2='{_n(x2)}' y2='{_n(y2)}' stroke='{colour}' stroke-width='{_n(width)}'{extra}/>")

    def rect(self, x: float, y: float, w: float, h: float, fill: str, opacity: float = 1.0, stroke: str | None = None, tip: str | None = None) -> None:
        extra = (f" fill-opacity='{opacity:g}'" if opacity < 1 else "") + (f" stroke='{stroke}'" if stroke else "")
        self._shape(f"<rect x='{_n(x)}' y='{_n(y)}' width='{_n(max(w, 0.0))}' height='{_n(max(h, 0.0))}' fill='{fill}'{extra}", tip)

    def circle(self, cx: float, cy: float, r: float, fill: str, opacity: float = 1.0, stroke: str | None = None, tip: str | None = None) -> None:
        extra = (f" fill-opacity='{opacity:g}'" if opacity < 1 else "") + (f" stroke='{stroke}'" if stroke else "")
        self._shape(f"<circle cx='{_n(cx)}' cy='{_n(cy)}' r='{_n(r)}' fill='{fill}'{extra}", tip)

    def path(self, d: str, colour: str, width: float = 1.0, fill: str = "none", tip: str | None = None) -> None:
        self._shape(f"<path d='{d}' stroke='{colour}' stroke-width='{_n(width)}' fill='{fill}'", tip)

    def text(self, x: float, y: float, s: str, size: float = FONT, anchor: str = "start", colour: str = "#1f2328", bold: bool = False) -> None:
        """One line of text whose vertical middle is at y."""
        weight = " font-weight='bold'" if bold else ""
        self.parts.append(f"<text x='{_n(x)}' y='{_n(y)}' font-size='{_n(size)}' text-anchor='{anchor}' dominant-baseline='central' fill='{colour}'{weight}>{html.escape(s)}</text>")

    def _shape(self, opening: str, tip: str | None) -> None:
        self.parts.append(f"{opening}><title>{html.escape(tip)}</title></{opening[1:opening.index(' ')]}>" if tip else f"{opening}/>")

    def render(self, label: str) -> str:
        return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {_n(self.width)} {_n(self.height)}' width='{_n(self.width)}' height='{_n(self.height)}' "
                f"font-family='sans-serif' role='img' aria-label='{html.escape(label, quote=True)}'>{''.join(self.parts)}</svg>")


class Scale:
    """A linear map from data [lo, hi] to pixels [start, end]."""

    def __init__(self, lo: float, hi: float, start: float, end: float) -> None:
        self.lo, self.hi, self.start, self.end = lo, (hi if hi > lo else lo + 1.0), start, end

    def __call__(self, v: float) -> float:
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def ticks(lo: float, hi: float, target: int = 6) -> list[tuple[float, str]]:
    """Round tick values in [lo, hi] (steps of 1, 2, 2.5 or 5 × 10^k) and their labels."""
    span = hi - lo if hi > lo else 1.0
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw * 0.999)
    exponent = math.floor(math.log10(step) + 1e-9)
    decimals = max(0, -exponent + (1 if round(step / 10**exponent, 6) == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9)
    out = []
    for k in range(first, first + int(span / step) + 2):
        v = k * step
        if v > hi + step * 1e-9:
            break
        label = f"{v:,.{decimals}f}"
        out.append((v, "0" if v == 0 else label.replace("-", "−")))
    return out


def x_axis(svg: Svg, scale: Scale, top: float, bottom: float, label: str | None, lo: float, hi: float, grid: bool = True) -> None:
    """Grid lines, tick labels under `bottom`, and the axis label under them."""
    for v, text in ticks(lo, hi):
        x = scale(v)
        if grid:
            svg.line(x, top, x, bottom, LIGHT)
        svg.line(x, bottom, x, bottom + 4, GREY)
        svg.text(x, bottom + 14, text, size=FONT - 1, anchor="middle", colour=GREY)
    svg.line(scale.start, bottom, scale.end, bottom, GREY)
    if label:
        svg.text((scale.start + scale.end) / 2, bottom + 34, label, size=FONT, anchor="middle")


def y_axis(svg: Svg, scale: Scale, left: float, lo: float, hi: float) -> None:
    """Tick labels left of `left` on a vertical scale."""
    for v, text in ticks(lo, hi, 5):
        y = scale(v)
        svg.line(left - 4, y, left, y, GREY)
        svg.text(left - 6, y, text, size=FONT - 1, anchor="end", colour=GREY)
    svg.line(left, scale.start, left, scale.end, GREY)


def _title(svg: Svg, text: str) -> None:
    svg.text(10, 14, text, size=FONT + 1, bold=True)


def _labels_width(labels: Sequence[str]) -> float:
    return min(max((text_width(line) for s in labels for line in s.split("\n")), default=0.0) + 16, 320)


# ---------------------------------------------------------------- the plots


def forest_plot(gate: dict[str, Any]) -> str:
    """One row per task (and per tau2 domain or other group): Δ, the two-sided 1 − 2α interval,
    the one-sided bound that decides (its lower end L), and the task's margin −m; coloured by verdict."""
    rows: list[dict[str, Any]] = []
    for t in gate["tasks"]:
        rows.append({"label": t["task"], "delta": t["delta"], "low": t["ci"][0], "high": t["ci"][1], "margin": t["margin"],
                     "colour": VERDICT_COLOURS.get(t["verdict"], "#6e7781"), "verdict": t["verdict"], "group": False, "key": t["task"]})
        half = z(t["alpha"])
        for g, s in (t.get("groups") or {}).items():
            ok = s["delta"] is not None and s["se"] is not None
            rows.append({"label": f"{t['task']} · {g}", "delta": s["delta"], "low": s["delta"] - half * s["se"] if ok else None,
                         "high": s["delta"] + half * s["se"] if ok else None, "margin": t["margin"], "colour": GREY, "verdict": "group (descriptive)", "group": True,
                         "key": f"{t['task']}.{g}"})
    values = [v for r in rows for v in (r["low"], r["high"], r["delta"], -r["margin"]) if v is not None and math.isfinite(v)] + [0.0]
    span = max(values) - min(values)
    lo, hi = min(values) - 0.1 * span - 1e-3, max(values) + 0.1 * span + 1e-3
    left = _labels_width([r["label"] for r in rows])
    row_h, top = 30, 30
    bottom = top + row_h * max(len(rows), 1)
    svg = Svg(WIDTH, bottom + 44)
    x = Scale(lo, hi, left, WIDTH - 16)
    title = f"Δ with its two-sided {100 * (1 - 2 * gate['tasks'][0]['alpha']):g}% interval per task" if gate["tasks"] else "no tasks"
    _title(svg, title)
    x_axis(svg, x, top, bottom, "Δ = candidate − reference (score units); red dashes: −margin; thick tick: one-sided bound L", lo, hi)
    svg.line(x(0), top, x(0), bottom, "#8c959f")
    for i, row in enumerate(rows):
        y = top + row_h * (i + 0.5)
        svg.text(left - 8, y, row["label"], size=FONT - 1 if row["group"] else FONT, anchor="end", colour=row["colour"])
        # every row has a margin line with an id: the page's test counts them
        svg.line(x(-row["margin"]), y - 12, x(-row["margin"]), y + 12, RED, 1.5, dash="5,3", id=f"forest-{'group' if row['group'] else 'task'}-{row['key']}")
        if row["delta"] is None:
            svg.text(x(0), y, "no estimate", size=FONT - 1, anchor="middle", colour=GREY)
            continue
        colour = row["colour"]
        if row["low"] is not None and row["high"] is not None:
            svg.line(x(row["low"]), y, x(row["high"]), y, colour, 2)
            svg.line(x(row["high"]), y - 4, x(row["high"]), y + 4, colour, 1.5)
            tick = 9 if not row["group"] else 4  # the one-sided bound the verdict rests on
            svg.line(x(row["low"]), y - tick, x(row["low"]), y + tick, colour, 4 if not row["group"] else 1.5)
        tip = f"{row['label']}: Δ {row['delta']:+.4f}" + (f", interval [{row['low']:+.4f}, {row['high']:+.4f}]" if row["low"] is not None and row["high"] is not None else "") + f", margin −{row['margin']:g}; {row['verdict']}"
        cx = x(row["delta"])
        if row["group"]:
            svg.circle(cx, y, 4, colour, tip=tip)
        else:
            svg.path(f"M{_n(cx)},{_n(y - 7)}L{_n(cx + 6)},{_n(y)}L{_n(cx)},{_n(y + 7)}L{_n(cx - 6)},{_n(y)}Z", colour, 1, fill=colour, tip=tip)
    return svg.render(title)


def discordance_plot(counts: dict[str, dict[str, int]], flip_rates: dict[str, float | None]) -> str:
    """Per task, the share of draws right in both, only in the reference, only in the candidate, in neither."""
    kinds = [("both right", "#8fd19e"), ("only reference right", RED), ("only candidate right", "#0969da"), ("neither", "#d0d7de")]
    names = list(counts)
    labels = [f"{t}\nflips {flip_rates[t]:.1%}" if flip_rates.get(t) is not None else t for t in names]
    left, row_h, top = _labels_width(labels), 44, 30
    bottom = top + row_h * max(len(names), 1)
    svg = Svg(WIDTH, bottom + 68)
    x = Scale(0, 1, left, WIDTH - 16)
    title = "Which answers changed correctness (flip rate: share that changed either way)"
    _title(svg, title)
    x_axis(svg, x, top, bottom, "share of draws (item × repeat), counts in the bars", 0, 1, grid=False)
    for i, (task, label) in enumerate(zip(names, labels, strict=True)):
        y = top + row_h * (i + 0.5)
        lines = label.split("\n")
        for j, line in enumerate(lines):
            svg.text(left - 8, y + (j - (len(lines) - 1) / 2) * 15, line, anchor="end")
        total = sum(counts[task].values()) or 1
        start = 0.0
        for kind, colour in kinds:
            count = counts[task].get(kind, 0)
            share = count / total
            svg.rect(x(start), y - 13, x(start + share) - x(start), 26, colour, stroke="white", tip=f"{task}: {kind}: {count:,} ({share:.1%})")
            if share > 0.04:
                svg.text(x(start + share / 2), y, f"{count:,}", size=FONT - 1, anchor="middle")
            start += share
    cursor = left
    for kind, colour in kinds:
        svg.rect(cursor, bottom + 52, 12, 12, colour)
        svg.text(cursor + 16, bottom + 58, kind, size=FONT - 1)
        cursor += 16 + text_width(kind, FONT - 1) + 24
    return svg.render(title)


def item_means_plot(task: str, ref_means: Sequence[float], cand_means: Sequence[float], repeats: int, arms: tuple[str, str]) -> str:
    """Per-item mean score, reference against candidate: one bubble per (ref, cand) pair, sized by how many items."""
    pairs = Counter((round(float(r), 4), round(float(c), 4)) for r, c in zip(ref_means, cand_means, strict=True))
    size, left, top = 400, 56, 30
    svg = Svg(size, size)
    plot = size - left - 50  # the square's side
    x, y = Scale(-0.08, 1.08, left, left + plot), Scale(-0.08, 1.08, top + plot, top)
    title = f"{task}: per-item mean score (items per bubble)"
    _title(svg, title)
    x_axis(svg, x, top, top + plot, f"{arms[0]}: mean over {repeats} repeats", 0, 1, grid=False)
    y_axis(svg, y, left, 0, 1)
    svg.text(left + 4, top + 6, f"{arms[1]}: mean over {repeats} repeats", size=FONT - 1, colour=GREY)
    svg.line(x(0), y(0), x(1), y(1), "#8c959f", 1, dash="2,3")
    most = max(pairs.values(), default=1)
    for (r, c), n in pairs.items():
        colour = RED if c < r else "#0969da" if c > r else "#8c959f"
        svg.circle(x(r), y(c), math.sqrt(20 + 600 * n / most) * 0.75, colour, opacity=0.6, stroke="white", tip=f"{n} item(s): {arms[0]} {r:g}, {arms[1]} {c:g}")
        svg.text(x(r), y(c), str(n), size=FONT - 3, anchor="middle")
    return svg.render(title)


def tokens_plot(tasks: dict[str, list[Run]], arms: Sequence[str]) -> str:
    """Per task, completion tokens per arm (a quantization that rambles shows here), and finish reasons."""
    panel_h, top = 200, 10
    svg = Svg(WIDTH, top + panel_h * len(tasks))
    hist_right, fin_left = 560, 630
    for row, (task, runs) in enumerate(tasks.items()):
        y0 = top + row * panel_h
        plot_top, plot_bottom = y0 + 28, y0 + panel_h - 40
        svg.text(56, y0 + 12, f"{task}: completion tokens", bold=True)
        values = [[r.completion_tokens for r in records if r.completion_tokens is not None] for _, records in runs]
        top_v = max((max(v) for v in values if v), default=1)
        low_v = min((min(v) for v in values if v), default=0)
        low_v, top_v = (low_v - 1, top_v + 1) if low_v == top_v else (low_v, top_v)
        bins = int(min(40, max(5, top_v - low_v)))
        width = (top_v - low_v) / bins
        histograms = [[0] * bins for _ in values]
        for h, v in zip(histograms, values, strict=True):
            for t in v:
                h[min(int((t - low_v) / width), bins - 1)] += 1
        x = Scale(low_v, top_v, 56, hist_right)
        y = Scale(0, max((max(h) for h in histograms), default=1) or 1, plot_bottom, plot_top)
        x_axis(svg, x, plot_top, plot_bottom, None, low_v, top_v, grid=False)
        y_axis(svg, y, 56, 0, y.hi)
        for i, (arm, v, h, colour) in enumerate(zip(arms, values, histograms, ARM_COLOURS, strict=False)):
            if not v:
                continue
            d = f"M{_n(x(low_v))},{_n(y(0))}" + "".join(f"V{_n(y(c))}H{_n(x(low_v + (b + 1) * width))}" for b, c in enumerate(h)) + f"V{_n(y(0))}"
            svg.path(d, colour, 1.5, tip=f"{arm}: {len(v):,} answers")
            svg.text(hist_right, plot_top + 6 + 15 * i, f"{arm} (median {sorted(v)[len(v) // 2]:,})", size=FONT - 1, anchor="end", colour=colour)
        limit = runs[0][0].sampling.get("max_tokens")
        if isinstance(limit, int) and limit <= 1.1 * top_v:  # answers cut at the limit pile up against this line
            svg.line(x(min(limit, top_v)), plot_top, x(min(limit, top_v)), plot_bottom, RED, 1, dash="5,3")
        elif isinstance(limit, int):
            svg.text(hist_right, plot_top + 6 + 15 * len(arms), f"max_tokens {limit:,}: off the scale", size=FONT - 2, anchor="end", colour=RED)
        reasons = [Counter("error" if r.error is not None and not r.counts else (r.finish_reason or "none") for r in records) for _, records in runs]
        kinds = sorted(set().union(*reasons), key=lambda k: (k != "stop", k))
        svg.text(fin_left, y0 + 12, "finish reasons", bold=True)
        fy = Scale(0, max((c for counter in reasons for c in counter.values()), default=1) * 1.15 or 1, plot_bottom, plot_top)
        slot = (WIDTH - 16 - fin_left) / max(len(kinds), 1)
        bar = slot * 0.8 / max(len(runs), 1)
        svg.line(fin_left, plot_bottom, WIDTH - 16, plot_bottom, GREY)
        for j, kind in enumerate(kinds):
            svg.text(fin_left + slot * (j + 0.5), plot_bottom + 14, kind, size=FONT - 1, anchor="middle", colour=GREY)
            for i, (arm, counter, colour) in enumerate(zip(arms, reasons, ARM_COLOURS, strict=False)):
                bx = fin_left + slot * (j + 0.1) + bar * i
                count = counter.get(kind, 0)
                svg.rect(bx, fy(count), bar, plot_bottom - fy(count), colour, tip=f"{arm}: {kind}: {count:,}")
                svg.text(bx + bar / 2, fy(count) - 8, f"{count:,}", size=FONT - 2, anchor="middle")
    return svg.render("completion tokens and finish reasons")


def latency_plot(tasks: dict[str, list[Run]], arms: Sequence[str]) -> str:
    """Per task, each arm's request latency (box: quartiles; whiskers: 5th–95th percentile)."""
    rows = []
    for task, runs in tasks.items():
        for arm, (_, records), colour in zip(arms, runs, ARM_COLOURS, strict=False):
            values = sorted(r.latency_s for r in records if r.latency_s is not None)
            label = f"{task} · {arm}" + (f"\nmedian {np.percentile(values, 50):.2f}s" if values else "")
            rows.append((label, values, colour))
    left, row_h, top = _labels_width([r[0] for r in rows]), 40, 30
    bottom = top + row_h * max(len(rows), 1)
    svg = Svg(WIDTH, bottom + 44)
    found = [v for _, values, _ in rows if values for v in np.percentile(values, [5, 95])]
    lo, hi = (min(found), max(found)) if found else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    x = Scale(lo - pad, hi + pad, left, WIDTH - 16)
    title = "Latency per arm"
    _title(svg, title)
    x_axis(svg, x, top, bottom, "seconds per request (as the client measured it, retries included)", lo - pad, hi + pad)
    for i, (label, values, colour) in enumerate(rows):
        y = top + row_h * (i + 0.5)
        lines = label.split("\n")
        for j, line in enumerate(lines):
            svg.text(left - 8, y + (j - (len(lines) - 1) / 2) * 14, line, size=FONT - 1, anchor="end")
        if not values:
            continue
        p5, q1, med, q3, p95 = np.percentile(values, [5, 25, 50, 75, 95])
        svg.line(x(p5), y, x(q1), y, "#1f2328")
        svg.line(x(q3), y, x(p95), y, "#1f2328")
        for end in (p5, p95):
            svg.line(x(end), y - 6, x(end), y + 6, "#1f2328")
        svg.rect(x(q1), y - 12, x(q3) - x(q1), 24, colour, opacity=0.5, stroke="#1f2328",
                 tip=f"{label.splitlines()[0]}: 5% {p5:.2f}s, 25% {q1:.2f}s, median {med:.2f}s, 75% {q3:.2f}s, 95% {p95:.2f}s")
        svg.line(x(med), y - 12, x(med), y + 12, "#1f2328", 2)
    return svg.render(title)
