"""How much data would decide an INCONCLUSIVE comparison, for the test the gate actually uses.

The advice is computed at what was observed — the discordance and Δ of this run — because
advice computed at a hoped-for Δ of 0 undershoots exactly when Δ is near the margin. For 0/1
tasks with one repeat it is exact: the probability of the verdict is summed over every
(worse, better) count of discordant pairs, each judged by `inference.noninferiority`. With
repeats or a macro, the normal approximation with the t quantile (the variances scale as 1/n);
repeats per item, simulated through the gate's own decision (`repeats_needed`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from evals.inference import (
    TINY_GROUP,
    Paired,
    clustered,
    continuity,
    critical,
    draws_variance,
    group_variance,
    lossless_continuity,
    macro_df,
    macro_null,
    noninferiority,
    restricted_draw_variance,
    summarise,
    variance_of_delta,
)


def _sps():  # type: ignore[no-untyped-def]
    """scipy.stats, imported on first use: only an INCONCLUSIVE verdict asks how many items would do,
    and the import costs a second that a LOSSLESS or REGRESSION verdict need not spend."""
    from scipy import stats

    return stats


MAX_ITEMS = 1_000_000  # beyond this, "more than a million" is the honest answer


def power_binary(n: int, p_worse: float, p_better: float, margin: float, alpha: float, goal: str = "lossless") -> float:
    """P(verdict = goal) for n paired 0/1 items whose discordance rates are p_worse and p_better, exactly."""
    b = _support(n, p_worse)
    pmf_b = _sps().binom.pmf(b, n, p_worse)
    rest = max(1 - p_worse, 1e-300)
    c = _support(n, min(p_better / rest, 1.0))
    bb, cc = np.meshgrid(b, c, indexing="ij")
    ok = bb + cc <= n
    pmf = np.where(ok, pmf_b[:, None] * _sps().binom.pmf(cc, n - bb, min(p_better / rest, 1.0)), 0.0)
    bb, cc = np.where(ok, bb, 0), np.where(ok, cc, 0)
    data = Paired(n=n, repeats=1, delta=(cc - bb) / n, var_items=np.nan, worse=bb, better=cc, binary=True)
    test = noninferiority(data, margin, alpha)
    hit = np.asarray(test.lossless if goal == "lossless" else test.regression)
    return float(pmf[hit].sum())


def _support(n: int, p: float) -> np.ndarray:
    """The counts of a Binomial(n, p) holding all but 1e-10 of its mass."""
    lo, hi = _sps().binom.ppf(1e-11, n, p), _sps().binom.isf(1e-11, n, p)
    return np.arange(int(max(lo, 0)), int(min(hi, n)) + 1)


EXACT_UP_TO = 5_000  # items; beyond, the normal approximation of the score test is as good and far cheaper


def _smallest_n(achieves: Callable[[int], bool], lo: int, hi: int, cap: int = MAX_ITEMS) -> int | None:
    """The smallest n in [lo, cap] with achieves(n), by doubling from hi then bisection (power is nearly
    monotone in n); None if even `cap` does not."""
    while not achieves(hi):
        if hi >= cap:
            return None
        lo, hi = hi, min(hi * 2, cap)
    while lo < hi:
        mid = (lo + hi) // 2
        if achieves(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def items_needed_binary(p_worse: float, p_better: float, margin: float, alpha: float, power: float) -> int | None:
    """Items for `power` of deciding at the observed rates (LOSSLESS above −m, REGRESSION below):
    exact up to EXACT_UP_TO items, the score test's normal approximation beyond."""
    delta = p_better - p_worse
    if math.isclose(delta, -margin, abs_tol=1e-12):
        return None  # at the margin nothing decides
    goal = "lossless" if delta > -margin else "regression"
    null_sd = math.sqrt(float(restricted_draw_variance(p_worse, p_better, 1, -margin)))
    true_sd = math.sqrt(max(p_worse + p_better - delta**2, 0.0))
    guess = math.ceil(((_sps().norm.ppf(1 - alpha) * null_sd + _sps().norm.ppf(power) * true_sd) / (delta + margin)) ** 2)
    if guess > EXACT_UP_TO:
        return guess if guess <= MAX_ITEMS else None
    exact = _smallest_n(lambda n: power_binary(n, p_worse, p_better, margin, alpha, goal) >= power, max(guess // 2, 1), max(guess, 2), EXACT_UP_TO)
    return exact if exact is not None else max(guess, EXACT_UP_TO)


def items_needed_scaled(data: Paired | list[Paired], margin: float, alpha: float, power: float) -> int | None:
    """Items (per group, in proportion) for `power` at the observed Δ and per-item variance, when
    every variance scales as 1/n: the normal approximation with the t quantile.

    Toward LOSSLESS a macro's continuity correction counts as it does in the test
    (`lossless_continuity`: one draw), and so do its variances: each group's at its share of the
    macro's null (`group_variance`; each group's own at −m, taken before, advised items that
    gave 70% to 77% power beside a small group, an independent review found), a group that would
    still hold fewer than `TINY_GROUP` items at its bound. Toward REGRESSION it is the REGRESSION
    side's test: one item of continuity correction, and with repeats `clustered_regression`'s variance
    (the larger of the items' spread and U_draws', `draws_variance`), which the design-effect variance
    can undershoot; a macro's, each group's at −m, as its U_draws takes it. A macro's correction is
    taken at the sizes advised (with repeats it is one item of the smallest group of 10 or more, not
    1/n: taken at today's sizes it advised items that gave 74% to 78% power toward REGRESSION beside a
    group under 10 items, an independent review found)."""
    groups = data if isinstance(data, list) else [data]
    delta = float(np.mean([g.delta for g in groups]))
    if math.isclose(delta, -margin, abs_tol=1e-12):
        return None
    n_now = sum(g.n for g in groups)
    if isinstance(data, Paired) and clustered(data) and delta < -margin:
        parts = [(max(float(data.var_items) / data.n, float(draws_variance(data, -margin)) / data.draws), float(data.n - 1))]
    elif isinstance(data, Paired):
        parts = [variance_of_delta(data, -margin)]
    elif delta > -margin:
        estimates = [np.asarray(g.delta, dtype=float) for g in groups]
        nulls = macro_null(groups, estimates, delta + margin)
        parts = [(group_variance(g, d, bounded=False)[0], 0.0) for g, d in zip(groups, nulls)]
    else:
        parts = [group_variance(g, -margin, bounded=False) for g in groups]
    units = [g.n * float(v) for g, (v, _) in zip(groups, parts)]  # each group's Var(Δ̂_g)·n_g
    bounds = [g.n * float(np.mean(g.bounded_variance)) if g.n < TINY_GROUP else 1.0 for g in groups]  # likewise, a tiny group's bound (`group_variance`; a larger group advised fewer items: Bhatia–Davis's)
    correction = continuity if delta < -margin else lossless_continuity
    # degrees of freedom as the test will have them (a macro: its smallest group's), growing in
    # proportion with the items
    df_now = macro_df(data) if isinstance(data, list) else parts[0][1]
    bounded = isinstance(data, list) and delta > -margin

    def achieves(n: int) -> bool:
        df = max(df_now * n / n_now, 1) if math.isfinite(df_now) else math.inf
        scaled = [replace(g, n=g.n * n / n_now) for g in groups]  # the correction at these sizes: a macro's is not 1/n
        shift = correction(scaled if isinstance(data, list) else scaled[0])
        var = sum(bound / g.n if bounded and g.n < TINY_GROUP else unit / g.n for unit, bound, g in zip(units, bounds, scaled)) / len(groups) ** 2
        return (abs(delta + margin) - shift) / math.sqrt(var) >= float(critical(alpha, df)) + _sps().norm.ppf(power)

    return _smallest_n(achieves, 1, 2)


def repeats_needed(pairs: list[tuple[np.ndarray, np.ndarray]], macro: bool, margin: float, alpha: float, power: float, seed: int = 0) -> tuple[int | None, int]:
    """Repeats per item on these items (`pairs`: each group's reference and candidate score matrices,
    items × repeats) for `power` at what was observed, or None; and the most repeats simulated
    (`MAX_REPEATS`, or fewer on a task too large to simulate more of).

    Simulated through the gate's own decision (`inference.noninferiority`, with `hidden_failures`,
    the exact critical value, `raised_bound` and `clustered_regression`) on draws like the observed
    ones (`_draws`). Formulas on the variance alone (τ² + σ²/K) advised repeats that reached far
    less power than asked (an independent review): toward REGRESSION, whose bounds keep the part of
    the null that no draw showed tied to items and take the items' spread at its worst over every
    candidate made worse, and toward LOSSLESS on GPQA's 198 items, where `hidden_failures` puts a
    floor under the variance that no repeat lowers. How far this advice lands from the truth is
    measured by `evals.calibration_advice`."""
    delta = float(np.mean([np.mean(c - r) for r, c in pairs]))
    if math.isclose(delta, -margin, abs_tol=1e-12) or any(r.shape[1] < 2 for r, _ in pairs):
        return None, MAX_REPEATS
    rng = np.random.default_rng(seed)
    items = sum(r.shape[0] for r, _ in pairs)
    own = [_own_share(r, c) for r, c in pairs]
    tried = 0
    for k in REPEATS_TRIED:
        runs = min(SIMULATED_RUNS, MAX_CELLS // (items * k))
        if runs < MIN_RUNS:
            return None, tried  # too many items to simulate this many repeats of (MMLU's 14,042 beyond 6)
        data = [summarise(*_draws(r, c, w, runs, k, rng)) for (r, c), w in zip(pairs, own)]
        test = noninferiority(data if macro else data[0], margin, alpha)
        # the first K whose simulated power crosses `power` by chance is biased low: one standard error more
        if float(np.mean(test.lossless if delta > -margin else test.regression)) >= power + math.sqrt(power * (1 - power) / runs):
            return k, k
        tried = k
    return None, tried


def _own_share(reference: np.ndarray, candidate: np.ndarray) -> float:
    """How often a simulated draw (`_draws`) is of its own item: w = √(τ²/(τ² + σ²/K₀)), with
    τ² = s²_items − σ²/K₀ (the method of moments). Each item's few observed draws carry noise
    (σ²/K₀) that the bootstrap alone would freeze into the items' spread; with w the simulated items
    have the spread τ² the observed ones estimate. Where no item varies from draw to draw (σ² = 0),
    each keeps its own draws."""
    d = candidate - reference
    spread = float(d.mean(axis=1).var(ddof=1)) if d.shape[0] > 1 else 0.0
    within = float(d.var(axis=1, ddof=1).mean()) / d.shape[1]
    return math.sqrt(max(1.0 - within / spread, 0.0)) if spread > 0 else 1.0


def _draws(reference: np.ndarray, candidate: np.ndarray, own: float, runs: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`runs` runs of k draws per item, each an observed (reference, candidate) pair of draws: of its
    own item with probability `own` (`_own_share`), else of any item of the group."""
    n, k0 = reference.shape
    shape = (runs, n, k)
    item = np.where(rng.random(shape) < own, np.arange(n, dtype=np.int32)[None, :, None], rng.integers(n, size=shape, dtype=np.int32))
    draw = rng.integers(k0, size=shape, dtype=np.int32)
    return reference[item, draw], candidate[item, draw]


MAX_REPEATS = 64  # beyond, repeats are not a way out worth naming
REPEATS_TRIED = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, MAX_REPEATS)
SIMULATED_RUNS = 400  # per number of repeats tried: the power within about ±2 points
MIN_RUNS = 25  # fewer, and the power simulated says too little
MAX_CELLS = 2_500_000  # draws simulated at once, per arm (with their indices and the statistics, some 200 MB)
