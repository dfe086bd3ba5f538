"""How often sequential gating is wrong, and what it saves: `python -m evals.calibration_sequential`.

Exact, for 0/1 items with one repeat: the distribution of the discordant counts (worse, better)
is carried from look to look — the paths that stopped removed, the rest convolved with the
multinomial counts of the next share of items — so P(LOSSLESS), P(REGRESSION) and the expected
number of items come out as sums, not simulations. Every decision is `sequential.decide`, which
`gate.gate_runs` calls at each look of a sequential run; sampled cells next to the boundaries
are cross-checked through `gate_runs` on records with a sequential manifest, the public path.
Repeats (GPQA's seeds) by simulation through the same `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve
from scipy.stats import binom

from evals.calibration import (
    ALPHA,
    GRID_ACCURACY,
    GRID_MARGIN,
    GRID_N,
    discordances,
    feasible,
)
from evals.inference import Paired
from evals.sequential import DEFAULT_FUTILITY, DEFAULT_LOOKS, Design, decide, look_sizes

START, END = "<!-- sequential:start -->", "<!-- sequential:end -->"


def _increments(items: int, p_worse: float, p_better: float, top_b: int, top_c: int) -> np.ndarray:
    """P(worse = b, better = c) among `items` fresh items, for b ≤ top_b, c ≤ top_c."""
    b = np.arange(top_b + 1)[:, None]
    c = np.arange(top_c + 1)[None, :]
    # worse ~ Bin(items, p_w); better | worse ~ Bin(items − worse, p_b / (1 − p_w))
    p_cond = p_better / (1 - p_worse) if p_worse < 1 else 0.0
    return binom.pmf(b, items, p_worse) * binom.pmf(c, np.maximum(items - b, 0), p_cond) * (b + c <= items)


def _top(n: int, p: float) -> int:
    """A count beyond which Bin(n, p) has no mass worth carrying (below 1e-15)."""
    return int(min(n, binom.isf(1e-15, n, p) + 2)) if p > 0 else 0


@dataclass(frozen=True)
class Outcome:
    lossless: float
    regression: float
    futile: float
    items: float  # expected items per arm when it stops
    stops: tuple[float, ...]  # P(stopping at each look)


def exact(n: int, margin: float, design: Design, p_worse: float, p_better: float) -> Outcome:
    """P(LOSSLESS), P(REGRESSION), P(stopped for futility) and expected items of a sequential run, exactly."""
    top_b, top_c = _top(n, p_worse), _top(n, p_better)
    running = np.zeros((1, 1))
    running[0, 0] = 1.0
    previous = 0
    lossless = regression = futile = items = 0.0
    stops = []
    for look, size in enumerate(design.sizes):
        step = _increments(size - previous, p_worse, p_better, min(top_b, size - previous), min(top_c, size - previous))
        running = np.clip(fftconvolve(running, step)[: top_b + 1, : top_c + 1], 0, None)
        b, c = np.meshgrid(np.arange(running.shape[0], dtype=float), np.arange(running.shape[1], dtype=float), indexing="ij")
        data = Paired(n=size, repeats=1, delta=(c - b) / size, var_items=np.nan, worse=b, better=c, binary=True)
        d = decide(data, margin, design, look)
        yes, no, stop = np.asarray(d.lossless), np.asarray(d.regression), np.asarray(d.futile)
        last = look == len(design.sizes) - 1
        p_l, p_r, p_f = float(running[yes].sum()), float(running[no].sum()), float(running[stop].sum())
        lossless, regression, futile = lossless + p_l, regression + p_r, futile + p_f
        stopping = p_l + p_r + p_f if not last else float(running.sum())
        stops.append(stopping)
        items += stopping * size
        running = np.where(yes | no | stop, 0.0, running)
        previous = size
    return Outcome(lossless, regression, futile, items, tuple(stops))


@dataclass
class Worst:
    rate: float = 0.0
    where: str = ""

    def update(self, rate: float, where: str) -> None:
        if rate > self.rate:
            self.rate, self.where = rate, where


def design_for(n: int, looks: int = DEFAULT_LOOKS, futility: float = DEFAULT_FUTILITY) -> Design:
    return Design(tuple(look_sizes(n, looks)), ALPHA, futility, 0)


def error_table(grid_n: tuple[int, ...] = GRID_N, looks: int = DEFAULT_LOOKS, futility: float = DEFAULT_FUTILITY) -> tuple[dict[tuple[int, float], Worst], Worst, Worst]:
    """Worst false LOSSLESS at a true Δ of −m per (n, m); worst false REGRESSION at −m and at 0."""
    per_nm: dict[tuple[int, float], Worst] = {}
    regression_at_margin, regression_at_zero = Worst(), Worst()
    for n in grid_n:
        design = design_for(n, looks, futility)
        for m in GRID_MARGIN:
            worst = per_nm.setdefault((n, m), Worst())
            for q in discordances(m):
                if not any(feasible(a, m, q) for a in GRID_ACCURACY):
                    continue
                at_margin = exact(n, m, design, (q + m) / 2, (q - m) / 2)
                worst.update(at_margin.lossless, f"discordance {q:.3f}")
                regression_at_margin.update(at_margin.regression, f"n {n}, m {m}, discordance {q:.3f}")
                at_zero = exact(n, m, design, q / 2, q / 2)
                regression_at_zero.update(at_zero.regression, f"n {n}, m {m}, discordance {q:.3f}")
    return per_nm, regression_at_margin, regression_at_zero
