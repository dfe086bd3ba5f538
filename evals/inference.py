"""The test behind a verdict: is the paired Δ above −m? (design §8; methods, references and
calibration in docs/statistics.md).

Why not the Wald interval Δ ± z·sd(d)/√n: quantizations live where the model is strong and
few answers change. With a handful of discordant pairs the sample SD is mostly luck, and the
Wald gate said LOSSLESS at a true Δ of −m far more often than α (docs/statistics.md). Every statistic
here takes its variance *under the hypothesis tested*, as a score test does, so a run where
few answers happened to change is not mistaken for a precise one.

- 0/1 scores, one repeat: Tango's score test for a difference of paired proportions
  (Tango 1998, Stat Med 17:891–908; the usual choice for matched-pair non-inferiority).
- 0/1 draws, K > 1 repeats per item: the same score statistic over all draws, referred to t with
  n − 1 degrees of freedom (for LOSSLESS on at most 300 items, at least the exact critical value
  of items decided outright, where t on the items is a lattice approximation). The part of its
  null variance that the data show is multiplied by the estimated design effect of clustering by
  item, never below 1 (Rao & Scott 1992, Biometrics 48:577–585: draws of one item are
  exchangeable given the item, so their differences are non-negatively correlated); the part the
  data did not show, by K, the design effect of failures tied to items, which nothing observed
  can rule out. And never below the variance of the least favourable null with items broken
  outright, which a run may not have drawn (`hidden_failures`), whose bound LOSSLESS also needs
  at its worst over every candidate made better (`raised_bound`, monotone by construction).
- Scores in [0, 1] that are not all 0/1 (partial credit): the 0/1 statistic itself, over the
  discordance Σ max(reference − candidate, 0) and Σ max(candidate − reference, 0). A difference
  in [−1, 1] has E[d²] ≤ E|d|, so no scores with that discordance vary more than 0/1 scores with
  it (Bhatia & Davis 2000): the null variance is the largest the data allow, and a few total
  failures that a run of many small gains happened not to show cannot make it small. Taking
  the observed variance instead (the paired t-test, and a blend of the two tried after it) said
  LOSSLESS at a true Δ of −m in up to 28 % of 20-item runs. One formula for 0/1 and partial
  credit also means a score moving between 0, 0.5 and 1 moves the statistic continuously.
- A macro over groups (tau2's domains, lm-eval groups): Δ = mean of the groups' Δ,
  Var = Σ Var_g / G², each group's variance taken at its Δ under the macro's null (the groups
  moved in proportion to their variances, `macro_null`; a group of fewer than `TINY_GROUP` items
  bounded by what its reference fixes), t with the smallest group's degrees of freedom (`macro_df`: never more than
  Welch–Satterthwaite's, and fixed by the sizes); toward LOSSLESS, one draw of continuity correction
  (`lossless_continuity`: a macro on few items is a lattice, and its gains skewed), and a bound
  monotone by construction beside it (`macro_raised_bound`). Its REGRESSION is not this statistic's
  lower tail but upper bounds monotone by construction (`macro_regression`), as with repeats below.
- On the REGRESSION side, a continuity correction of one discordant item (`continuity`). With
  repeats, REGRESSION is not the design-effect statistic's lower tail (studentized by the spread
  of the items, it is not monotone: one more failure on an item that already failed can raise the
  spread faster than it lowers Δ̂) but two upper bounds below −m (`clustered_regression`): the t
  bound over per-item differences taken at the worst of every candidate made worse than this one
  (`lowered_bound`), and Tango's over all draws with its unseen part tied to items
  (`draws_variance`). A candidate made worse can only lower both, so REGRESSION is monotone in the
  candidate's scores by construction.

Every function takes numpy arrays as well as numbers, so the calibration runs thousands of
simulated comparisons through exactly the code the gate runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from evals.distributions import t_cdf, t_ppf

ArrayLike = Any  # a float or a numpy array of floats (a batch of simulated runs)


@dataclass(frozen=True)
class Paired:
    """Sufficient statistics of one paired comparison (or a batch of them, field by field)."""

    n: int  # items
    repeats: int  # draws per item
    delta: ArrayLike  # mean over items of (candidate − reference)
    var_items: ArrayLike  # sample variance (ddof 1) of the per-item mean differences
    worse: ArrayLike  # Σ over draws of max(reference − candidate, 0): for 0/1, draws right in the reference only
    better: ArrayLike  # Σ over draws of max(candidate − reference, 0): for 0/1, right in the candidate only
    binary: bool  # every draw scored 0 or 1
    square: ArrayLike = None  # Σ over draws of (candidate − reference)²; None: worse + better, as for 0/1
    # per item (last axis), for the REGRESSION side with repeats (`clustered_regression`); None: not known
    item_delta: ArrayLike = None  # the mean over draws of (candidate − reference)
    item_floor: ArrayLike = None  # −(the reference's mean): where item_delta goes with every candidate draw at 0

    @property
    def draws(self) -> int:
        return self.n * self.repeats

    @cached_property
    def bounded_variance(self) -> ArrayLike:
        """Var(Δ̂) of a group too small to estimate it (`TINY_GROUP`): the largest items' spread that any
        candidate could show against this reference, over n (`reference_spread`); without per-item
        data, or with one item, 1/n (Bhatia–Davis: a difference in [−1, 1] varies by at most 1). It
        depends on the reference alone, so no candidate moves it."""
        if self.item_floor is None or self.n < 2:
            return 1.0 / self.n
        floor = np.asarray(self.item_floor, dtype=float)
        return scalar(reference_spread(floor.reshape(-1, self.n)).reshape(floor.shape[:-1]) / self.n)


def summarise(reference: np.ndarray, candidate: np.ndarray) -> Paired:
    """From score matrices of shape (…, items, repeats), the last two axes being one comparison."""
    ref, cand = np.asarray(reference, dtype=float), np.asarray(candidate, dtype=float)
    n, k = ref.shape[-2:]
    d = (cand - ref).mean(axis=-1)
    binary = bool(np.isin(ref, (0.0, 1.0)).all() and np.isin(cand, (0.0, 1.0)).all())
    with np.errstate(invalid="ignore", divide="ignore"):
        var = d.var(axis=-1, ddof=1) if n > 1 else np.full(d.shape[:-1], np.nan)
    return Paired(
        n=n,
        repeats=k,
        delta=scalar(d.mean(axis=-1)),
        var_items=scalar(var),
        worse=scalar(np.maximum(ref - cand, 0).sum(axis=(-2, -1))),
        better=scalar(np.maximum(cand - ref, 0).sum(axis=(-2, -1))),
        binary=binary,
        square=scalar(((cand - ref) ** 2).sum(axis=(-2, -1))),
        item_delta=d,
        item_floor=-ref.mean(axis=-1),
    )


def scalar(x: np.ndarray) -> ArrayLike:
    return float(x) if np.ndim(x) == 0 else x


@lru_cache(maxsize=16)
def _corners(n: int) -> np.ndarray:
    return np.array(np.meshgrid(*[[0.0, 1.0]] * n, indexing="ij")).reshape(n, -1).T  # (2^n, n)


def reference_spread(floor: np.ndarray) -> np.ndarray:
    """Per row of `floor` (rows × items, each −(the reference's mean on the item)), the largest sample
    variance (ddof 1) of per-item differences that any candidate can show: each difference lies in
    [floor, floor + 1], and a convex function's largest value over a box is at one of its corners,
    enumerated (2^n of them: for groups under `TINY_GROUP` items only)."""
    corners = _corners(floor.shape[-1])
    out = np.empty(len(floor))
    for rows in np.array_split(np.arange(len(floor)), max(1, len(floor) // 1024)):
        out[rows] = (floor[rows, None, :] + corners[None]).var(axis=-1, ddof=1).max(axis=-1)
    return out


def restricted_worse(worse: ArrayLike, better: ArrayLike, draws: int, delta0: ArrayLike) -> np.ndarray:
    """The restricted maximum-likelihood estimate of P(right in the reference only) under Δ = delta0 (Tango 1998, eq. 3)."""
    b, c, n = np.asarray(worse, dtype=float), np.asarray(better, dtype=float), float(draws)
    lin = (b + c) - delta0 * (2 * n + b - c)
    return (lin + np.sqrt(np.maximum(lin * lin + 8 * n * b * delta0 * (1 - delta0), 0.0))) / (4 * n)


def restricted_draw_variance(worse: ArrayLike, better: ArrayLike, draws: int, delta0: ArrayLike) -> ArrayLike:
    """Var of one draw's difference under Δ = delta0, at the restricted estimate: never zero when delta0 ≠ 0."""
    return scalar(2 * restricted_worse(worse, better, draws, delta0) + delta0 - delta0 * delta0)


def draws_variance(p: Paired, delta0: ArrayLike) -> ArrayLike:
    """One draw's variance for `clustered_regression`'s U_draws: Tango's null variance, with the part
    the draws did not show taken as tied to items (× K), as `variance_of_delta` does.

    Without that term (a design effect of 1 throughout), a candidate that gains every draw of a
    few items the reference always fails while losing elsewhere said REGRESSION at a true Δ of −m
    in 8% of runs of 10 items × 8 repeats (an independent review's null). The seen part is taken
    from the counts, (worse + better)/N − Δ̂², as for 0/1 (for partial credit it is at least the
    observed one), so the bound is a function of (worse, better) alone: its REGRESSION region is
    monotone in both (checked on grids of counts and of real values, test_stats)."""
    worse, better, draws = np.asarray(p.worse, dtype=float), np.asarray(p.better, dtype=float), p.draws
    null = np.asarray(restricted_draw_variance(worse, better, draws, delta0), dtype=float)
    seen = np.maximum((worse + better) / draws - ((better - worse) / draws) ** 2, 0.0)
    return scalar(np.minimum(seen, null) + p.repeats * np.maximum(null - seen, 0.0))


def variance_of_delta(p: Paired, delta0: ArrayLike) -> tuple[ArrayLike, float]:
    """The variance of Δ̂ under Δ = delta0, and its degrees of freedom (inf: normal)."""
    if p.n < 2 and not (p.binary and p.repeats == 1):
        # one item: its between-item variance cannot be estimated; bound it (Bhatia–Davis, d̄ ∈ [−1, 1])
        return scalar((1 - np.asarray(delta0)) * (1 + np.asarray(delta0))), 1.0
    draws, delta = p.draws, np.asarray(p.delta)
    worse, better = np.asarray(p.worse), np.asarray(p.better)
    null = np.asarray(restricted_draw_variance(worse, better, draws, delta0))
    if p.repeats == 1:
        return scalar(null / draws), math.inf
    square = worse + better if p.square is None or p.binary else np.asarray(p.square)
    seen = np.maximum(square / draws - delta**2, 0.0)  # the variance of one draw's difference, as observed
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(seen > 0, (np.asarray(p.var_items) / p.n) / (seen / draws), 1.0)
    deff = np.where(np.isfinite(deff), np.maximum(deff, 1.0), 1.0)
    # The part of the null's discordance that the data did not show could be tied to items (a
    # candidate wrong on every draw of a few items): it gets the worst design effect, K. With
    # nothing differing, that is the one-repeat bound over items; repeats never prove more.
    unseen = np.maximum(null - seen, 0.0)
    design = (deff * np.minimum(seen, null) + p.repeats * unseen) / draws
    return scalar(np.maximum(design, np.asarray(hidden_failures(p, delta0)))), float(p.n - 1)


def hidden_failures(p: Paired, delta0: ArrayLike) -> ArrayLike:
    """Var(Δ̂) under the least favourable null the items leave open toward LOSSLESS: the items as
    observed, plus a share π of items the candidate loses on every draw (a difference of −1),
    just enough to bring the mean down to delta0: π = (Δ̂ − Δ0)/(Δ̂ + 1),
    Var = ((1 − π)·s²_items + π(1 − π)(Δ̂ + 1)²)/n; where Δ̂ ≤ Δ0, the items' own s²_items/n.

    A quantization that breaks a few items outright, beside answers that vary from draw to draw
    elsewhere (GPQA at temperature 1), leaves runs that drew few of the broken items looking
    clean, with plenty of discordance for the design-effect variance to feed on: that variance
    said LOSSLESS at a true Δ of −m in up to 10% of runs (10 items × 8 repeats) and 3.9% at
    200 × 8 (docs/statistics.md, section 4). For 0/1 scores with one repeat, Tango's restricted
    estimate is this null already; with repeats the item, not the draw, is what can be missing."""
    delta, spread = np.asarray(p.delta, dtype=float), np.asarray(p.var_items, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(delta > delta0, (delta - np.asarray(delta0)) / (delta + 1), 0.0)
        spread = np.where(np.isfinite(spread), spread, 0.0)
    return scalar(((1 - share) * spread + share * (1 - share) * (delta + 1) ** 2) / p.n)


def continuity(data: Paired | list[Paired]) -> float:
    """One item's worth of Δ: the REGRESSION side's continuity correction.

    When few answers change, the count of answers lost is skewed to the right and the score
    statistic's lower tail is liberal: at a true Δ of exactly −m, REGRESSION was said about twice
    as often as α (n = 200, one repeat, a candidate that only breaks answers). Moving the
    statistic by one discordant item toward the null keeps it within α (docs/statistics.md).
    With repeats the unit that can be missing is the item, not the draw: a reference whose few
    wrong draws sit on one or two hard items, which the candidate gets right, gives a run that
    happened to draw none of those items the look of a clean regression, and a correction of one
    draw's worth said REGRESSION there in up to 5% of runs (20 items × 8 repeats at accuracy 0.95).
    Partial credit gets the same (its statistic is the 0/1 one where scores are 0 or 1, and a
    score moving from 1 to 0.5 must not escape a REGRESSION that 0 would not).
    A macro's is the mean over groups of one item's step, 1/(n_g·G); with repeats, at least one item
    of its smallest group, 1/(n_g·G), a group under `TINY_GROUP` items counted as that many. The mean
    alone said REGRESSION at a true Δ of −m in up to 6.2% of runs where a tenth of a 15-item group's
    items, beside groups of 200 × 8 repeats, were won outright (an independent review's cells,
    `calibration.gains_limit_table`): a run that drew few of them has the look of a clean
    regression, and the smallest group's items are the ones a run draws fewest of. Counting only
    groups of 10 items or more left 4.4% beside a group of 9 (a second review: 9 beside four groups
    of 114 × 8); one item of a group of 3 (a ninth of a 3-group macro) would all but bar REGRESSION.
    With one repeat the mean keeps that family within α (the second review's 90 cells: 1.9% at
    most). The LOSSLESS side needs no correction."""
    if isinstance(data, list):
        mean = float(np.mean([continuity(g) for g in data])) / len(data)
        if all(g.repeats == 1 for g in data):
            return mean
        return max(mean, 1.0 / (max(min(g.n for g in data), TINY_GROUP) * len(data)))
    return 1.0 / data.n


def lossless_continuity(data: Paired | list[Paired]) -> float:
    """One draw's worth of a macro's Δ (the mean over groups of 1/(n_g·K_g), over G): LOSSLESS's
    continuity correction for a macro over groups.

    A macro of 0/1 groups on few items is a lattice, and Student's t at its edge is liberal where the
    critical value falls just below a lattice point: an independent review found false LOSSLESS at a
    true Δ of −m of 3.4% (3 groups of 20 items, one repeat, m 0.05: one group losing 75% of its
    answers, the others gaining 30%) and 4.0% (5 groups of 20, m 0.1), where the single task's exact
    critical value (`exact_critical`) does not reach. Half a lattice step (Yates) took those to about
    2%, but not where few answers change in large groups: one group losing nearly every answer and
    the others gaining a few, one repeat, gave 3.02% exactly (4 groups of 120 items, m 0.219;
    `calibration.broken_group_exact_table`), the skew of few gains on top of the lattice. One whole
    step keeps that family within α. With repeats the step is a draw, and the correction shrinks
    with it. One task needs none: its critical value is exact on few items."""
    if not isinstance(data, list):
        return 0.0
    return float(np.mean([1.0 / g.draws for g in data])) / len(data)


def statistic(data: Paired | list[Paired], delta0: ArrayLike, shift: float = 0.0) -> tuple[ArrayLike, ArrayLike]:
    """T = (Δ̂ − delta0 + shift)/SE(delta0) and its degrees of freedom, for one comparison or a macro over groups."""
    if isinstance(data, Paired):
        var, df = variance_of_delta(data, delta0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (np.asarray(data.delta) - delta0 + shift) / np.sqrt(var)
        return scalar(np.where(np.asarray(var) > 0, t, np.nan)), df
    g = len(data)
    estimates = [np.asarray(x.delta) for x in data]
    macro = np.mean(estimates, axis=0)
    nulls = macro_null(data, estimates, macro - delta0)
    total = np.sum([np.asarray(group_variance(x, d)[0]) for x, d in zip(data, nulls)], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (macro - delta0 + shift) / (np.sqrt(total) / g)
    return scalar(np.where(total > 0, t, np.nan)), scalar(np.full(np.shape(total), macro_df(data)))


def group_variance(group: Paired, delta0: ArrayLike, bounded: bool = True) -> tuple[ArrayLike, float]:
    """A group's part of a macro: its variance under its own null, with at most n − 1 degrees of
    freedom; for a group of fewer than `TINY_GROUP` items (unless `bounded` is False: the advice asks
    for the estimate), a bound that the reference alone fixes (`Paired.bounded_variance`: the largest
    spread of per-item differences that any candidate could show against it, over n_g).

    Alone, a one-repeat 0/1 task's score variance is referred to the normal (its calibration is
    exact); inside a macro a group of a handful of items can carry most of the variance, and the
    normal then makes the macro liberal (a 3-group macro with a 10-item group: false LOSSLESS
    above α + 0.5 point), so every group counts its items as the repeats path does.

    A tiny group's variance from its counts moves with every answer, and faster than the macro's Δ̂.
    Independent reviews' walks found INCONCLUSIVE turned into LOSSLESS twice over: 8 changes in
    1,144,300, a group of 3 or 4 items whose gain was taken away (its variance, the discordance
    observed, fell; 3 items the reference fails and the candidate wins beside two groups of 100, one
    of the three lost: LOSSLESS), and 33 in 299,587 where the macro's null pushed a 2-item group that
    gained both answers toward −1, where Tango's null variance collapses (−0.74, and −0.91 after one
    more failure elsewhere; such a group's box is a point, so `macro_raised_bound` sees no spread in
    it). The bound is what no candidate can lower (nor raise): a worse answer in a tiny group lowers
    the macro's Δ̂ and leaves its variance; the others' variances move only as the macro's null moves
    them (measured by the walks of `calibration_monotone`, not proven: taking the largest variance on
    the way from a group's estimate to its null, as a first fix did, changed no walk's count once tiny
    groups were bounded, and was dropped). It costs the LOSSLESS power a few items' discordance gave
    (measured in docs/statistics.md, section 5): the Bhatia–Davis bound 1/n_g cost all of it beside 5
    to 9 items (an independent review: 9 items beside two groups of 114 × 4 at m 0.2, 100% to 0.1%),
    where the reference's bound, as high only where the reference is right on about half the items
    and wrong on the rest, keeps much."""
    var, df = variance_of_delta(group, delta0)
    if bounded and group.n < TINY_GROUP:
        bound = np.asarray(group.bounded_variance, dtype=float)
        var = scalar(np.broadcast_to(bound, np.broadcast_shapes(bound.shape, np.shape(var))).copy())
    return var, min(df, float(max(group.n - 1, 1)))


TINY_GROUP = 10  # items: a smaller group's variance in a macro is bounded, not estimated (`group_variance`; 2^n corners in `reference_spread`)


NULL_STEPS = 8  # of `macro_null`'s damped fixed-point iteration
NULL_TOLERANCE = 1e-9


def macro_null(data: list[Paired], estimates: list[np.ndarray], moved: ArrayLike, steps: int = NULL_STEPS) -> list[ArrayLike]:
    """Each group's Δ under the macro's null: the estimates moved, in all, by `moved` per group.

    An approximation of the score test's null (the most likely one with the macro at Δ0): to
    second order, the group Δs closest to the estimates in Σ (Δ_g − Δ̂_g)² / Var_g subject to
    mean Δ_g = Δ0, that is each group moved in proportion to its variance, by `steps` damped
    fixed-point steps with the variances taken at the moved Δs, each going halfway to the next
    allocation: undamped, beside a tiny group whose variance collapses near −1 the steps jumped
    between two allocations, and one more failure elsewhere could land on the other. Not always
    converged (where the undamped map contracts fast, halving its steps slows it), and clipped to
    (−1, 1), which can leave the mean off Δ0: the calibration measures what is computed, not the
    exact optimum, and a tiny group pushed far keeps its bound (`group_variance`). Moving every group by the
    same amount instead left a small, damaged group's null variance as small as its luck made it,
    and such macros said LOSSLESS at a true Δ of −m well above α (test_stats has the case)."""
    g = len(data)
    nulls = [np.clip(e - moved, -1 + 1e-9, 1 - 1e-9) for e in estimates]
    for _ in range(steps):
        variances = [np.asarray(group_variance(x, d)[0]) for x, d in zip(data, nulls)]
        total = np.sum(variances, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = [np.where(total > 0, v / total, 1 / g) for v in variances]
        new = [np.clip(e - g * np.asarray(moved) * w, -1 + 1e-9, 1 - 1e-9) for e, w in zip(estimates, shares)]
        change = max(float(np.nanmax(np.abs(a - b), initial=0.0)) for a, b in zip(new, nulls))
        nulls = [(a + b) / 2 for a, b in zip(new, nulls)]
        if change < NULL_TOLERANCE:
            break
    return nulls


def _cdf(t: ArrayLike, df: ArrayLike) -> ArrayLike:
    df = np.asarray(df, dtype=float)
    return scalar(t_cdf(t, df))  # normal where df is infinite; no scipy to import (evals.distributions says why)


def critical(alpha: float, df: ArrayLike) -> ArrayLike:
    """The one-sided 1 − α quantile: normal for inf degrees of freedom, else Student's t."""
    df = np.asarray(df, dtype=float)
    return scalar(t_ppf(1 - alpha, df))


@dataclass(frozen=True)
class Test:
    """The test of H0: Δ ≤ −m (LOSSLESS rejects it) and of H0': Δ ≥ −m (REGRESSION rejects it)."""

    statistic: ArrayLike  # for LOSSLESS
    df: ArrayLike
    p_lossless: ArrayLike  # one-sided p-value against Δ ≤ −m, the approximation's (normal or t): where `lossless_critical` is the exact one, a p just below α can come without LOSSLESS (for a macro, its guard's level counts: `_guard_p_value`)
    lossless: ArrayLike  # bool
    regression: ArrayLike  # bool
    p_regression_of: Callable[[], ArrayLike] = field(repr=False)  # `p_regression`, computed when first read

    @cached_property
    def p_regression(self) -> ArrayLike:
        """The one-sided p-value against Δ ≥ −m (of the REGRESSION side's test; `clustered_regression`
        and `macro_regression` say what it is there). Computed when first read: a macro's takes a
        bisection over its bounds, which the simulations of the repeats advice never read."""
        return self.p_regression_of()


def noninferiority(data: Paired | list[Paired], margin: float, alpha: float) -> Test:
    """The gate's decision at margin m > 0: LOSSLESS if T(−m) > crit, REGRESSION if T_cc(−m) < −crit
    (with repeats, REGRESSION by `clustered_regression`).

    On at most `EXACT_ITEMS` items LOSSLESS's critical value is raised to an exact one where the
    approximation is liberal (`lossless_critical`, `exact_critical`): with one repeat, that of 0/1
    scores; with repeats, that of items decided outright."""
    t, df = statistic(data, -margin, -lossless_continuity(data))
    crit = critical(alpha, df)
    lossless_crit = lossless_critical(data, margin, alpha)
    if clustered(data):
        regression, p_regression = clustered_regression(data, margin, alpha)  # type: ignore[arg-type]
    elif itemised_macro(data):
        regression, p_regression = macro_regression(data, margin, alpha)  # type: ignore[arg-type]  # a function: computed when read
    else:
        t_reg, _ = statistic(data, -margin, continuity(data))
        with np.errstate(invalid="ignore"):
            regression, p_regression = scalar(np.asarray(t_reg) < -np.asarray(crit)), np.asarray(_cdf(t_reg, df), dtype=float)
        if isinstance(data, Paired) and data.repeats == 1:
            p_regression = np.maximum(p_regression, _without_gains(data, margin))
        p_regression = scalar(p_regression)
    with np.errstate(invalid="ignore"):
        lossless = np.asarray(t) > lossless_crit
    if clustered(data):  # with repeats, the items' spread at its worst over every candidate made better too
        shape, flat = lossless.shape, lossless.reshape(-1)
        pick = np.flatnonzero(flat)
        if len(pick):
            rows = Paired(n=data.n, repeats=data.repeats, delta=np.nan, var_items=np.nan, worse=np.nan, better=np.nan, binary=data.binary,  # type: ignore[union-attr]
                          item_delta=np.asarray(data.item_delta, dtype=float).reshape(-1, data.n)[pick],  # type: ignore[union-attr]
                          item_floor=np.asarray(data.item_floor, dtype=float).reshape(-1, data.n)[pick])  # type: ignore[union-attr]
            flat[pick] = raised_bound(rows, margin, lossless_crit) > -margin
        lossless = flat.reshape(shape)
    if itemised_macro(data):  # a macro: the same, over its groups
        shape, flat = np.shape(lossless), np.asarray(lossless, dtype=bool).reshape(-1)
        pick = np.flatnonzero(flat)
        if len(pick):
            flat[pick] = macro_raised_bound(data, pick, margin, alpha) > -margin
        lossless = flat.reshape(shape)
    with np.errstate(invalid="ignore"):
        p_lossless = np.asarray(1 - np.asarray(_cdf(t, df)), dtype=float)
    if itemised_macro(data):
        p_lossless = _guard_p_value(data, p_lossless, np.asarray(lossless, dtype=bool), margin, alpha)  # type: ignore[arg-type]
    with np.errstate(invalid="ignore"):
        return Test(
            statistic=t,
            df=df,
            p_lossless=scalar(p_lossless),
            lossless=scalar(lossless),
            regression=regression,
            p_regression_of=p_regression if callable(p_regression) else lambda: p_regression,
        )


def _guard_p_value(data: list[Paired], p: np.ndarray, lossless: np.ndarray, margin: float, alpha: float) -> np.ndarray:
    """A macro's LOSSLESS p-value where its statistic's is at most α and the guard (`macro_raised_bound`)
    stops LOSSLESS: the α at which the guard would let it pass (the largest c it still passes, by
    bisection), so that p ≤ α exactly when LOSSLESS. An independent review found p 0.004 beside
    INCONCLUSIVE, a 5-item group lost outright and the guard alone holding."""
    shape, flat = p.shape, p.reshape(-1).copy()
    pick = np.flatnonzero((flat <= alpha) & ~lossless.reshape(-1))
    if len(pick):
        df = macro_df(data)
        lo = _largest_critical(lambda rows, c: macro_raised_bound(data, rows, None, alpha, crit=c) > -margin, pick, np.full(len(pick), float(critical(alpha, df))))
        flat[pick] = np.maximum(np.maximum(flat[pick], 1 - np.asarray(_cdf(lo, df), dtype=float)), np.nextafter(alpha, 1))  # above α: the bisection's last bit
    return flat.reshape(shape)


def _without_gains(data: Paired, margin: float) -> np.ndarray:
    """REGRESSION's p-value (one repeat) with none of the candidate's gains: its p-value is taken at
    least this, as a gain can only count against REGRESSION. Tango's p-value alone is not monotone
    where the statistic is positive (p above 1/2) and few answers are worse: losing a gain there
    shrinks the null's variance faster than Δ̂, and the p-value rises (20 items, m 0.02, none
    worse: 0.980 with one better answer, 0.987 with none; partial credit likewise near the corner).
    Only the sequential bars read p above 1/2, and they need it monotone (`sequential.decide`);
    where p ≤ 1/2 the maximum leaves it, and the decision, as they were (`test_stats`)."""
    worse = np.asarray(data.worse, dtype=float)
    alone = replace(data, delta=-worse / data.n, better=np.zeros_like(worse), square=None, item_delta=None, item_floor=None)
    t, df = statistic(alone, -margin, continuity(data))
    with np.errstate(invalid="ignore"):
        return np.asarray(_cdf(t, df), dtype=float)


def itemised_macro(data: Paired | list[Paired]) -> bool:
    """Whether a macro's LOSSLESS also needs `macro_raised_bound`: a macro with per-item data (not a published table's)."""
    return isinstance(data, list) and all(g.item_delta is not None for g in data)


def item_rows(data: list[Paired]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each group's per-item differences and floors (rows × items): what a macro's item bounds read."""
    return ([np.asarray(g.item_delta, dtype=float).reshape(-1, g.n) for g in data],
            [np.asarray(g.item_floor, dtype=float).reshape(-1, g.n) for g in data])


def clustered(data: Paired | list[Paired]) -> bool:
    """Whether REGRESSION is decided by `clustered_regression`: one task, repeats, two items or more, per-item data."""
    return isinstance(data, Paired) and data.repeats > 1 and data.n > 1 and data.item_delta is not None


def clustered_regression(p: Paired, margin: float, alpha: float) -> tuple[ArrayLike, ArrayLike]:
    """REGRESSION with repeats, and its p-value: monotone in the candidate's scores by construction.

    The score statistic with an estimated design effect (`variance_of_delta`) is studentized by the
    spread of the per-item differences, and a studentized statistic is not monotone: one more
    failure on an item that already failed raises the spread more than it lowers Δ̂, and an
    independent review built runs (20 items × 8 repeats) where that turned REGRESSION into
    INCONCLUSIVE. Here REGRESSION needs two bounds below −m, U_items and U_draws:

    - U_items bounds, from above, Δ̂ + 1/n + c·s_items/√n (the t upper bound on per-item
      differences, with one item of continuity correction) over *every* candidate obtained from
      this one by lowering scores (`lowered_bound`). A candidate made worse lowers each item's box
      [floor, Δ̂_i] into the old one, so its bound can only be lower: the decision is monotone by
      construction, whatever the spread does. Where a lowered candidate would show a larger
      spread (an item turned into an outlier), REGRESSION waits for Δ̂ to be low enough for that too.
    - U_draws = Δ̂ + 1/n + c·√(v/N): Tango's statistic over all N draws, with the null's
      discordance that the draws did not show taken as tied to items (`draws_variance`); its
      REGRESSION region is monotone in (worse, better).

    Both bounds use Student's t with n − 1 df, c = its 1 − α quantile. Against the design-effect
    statistic this drops, on this side only, its design effect estimated from the spread (U_items
    uses the spread itself) and its rescaling of the spread to the null's discordance. Measured,
    not assumed: false REGRESSION at Δ = −m and power are in docs/statistics.md.

    The p-value is the α at which the decision changes (the largest c both bounds still pass,
    `lowered_critical`), computed where the plain bounds (no lowering) give at most α, so that
    p ≤ α exactly when REGRESSION at every level up to α (Holm's adjustment across tasks asks for
    levels below α only). Above α it is the plain bounds' p-value, a lower bound of that α."""
    n, draws, df = p.n, p.draws, float(p.n - 1)
    shift = continuity(p)
    base = np.asarray(p.delta, dtype=float) + margin + shift
    per_draw = np.asarray(draws_variance(p, -margin), dtype=float)
    spread = np.asarray(p.var_items, dtype=float) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        t_draws = base / np.sqrt(per_draw / draws)
        t_plain = base / np.sqrt(np.maximum(spread, per_draw / draws))  # ≥ each bound's own t where base < 0
        p_plain = np.asarray(_cdf(t_plain, df), dtype=float)
    crit = float(critical(alpha, df))
    x, low = np.asarray(p.item_delta, dtype=float), np.asarray(p.item_floor, dtype=float)
    shape = base.shape
    x, low = x.reshape(-1, n), low.reshape(-1, n)
    base, t_draws, t_plain, p_plain = base.reshape(-1), t_draws.reshape(-1), t_plain.reshape(-1), p_plain.reshape(-1)
    regression = t_plain < -crit  # needed: U_items ≥ the plain bound
    pick = np.flatnonzero(regression)
    if len(pick):
        regression[pick] = lowered_bound(x[pick], low[pick], np.full(len(pick), crit)) + margin + shift < 0
    p_value = p_plain.copy()
    pick = np.flatnonzero(np.isfinite(p_plain) & (p_plain <= alpha))  # there base < 0
    if len(pick):
        best = np.minimum(lowered_critical(x[pick], low[pick], -base[pick]), -t_draws[pick])
        p_value[pick] = np.asarray(_cdf(-best, df), dtype=float)
    return scalar(regression.reshape(shape)), scalar(p_value.reshape(shape))


def macro_regression(data: list[Paired], margin: float, alpha: float) -> tuple[ArrayLike, Callable[[], ArrayLike]]:
    """REGRESSION over a macro, and its p-value: monotone in the candidate's scores by construction,
    as `clustered_regression` is for one task.

    The macro's statistic takes each group's variance at the macro's null (`macro_null`, `group_variance`),
    which the candidate moves: one more failure could raise a group's variance faster than it lowered
    the macro's Δ̂, and the walk search of `calibration_monotone` found 48 such changes from REGRESSION
    to INCONCLUSIVE in about a million. Here REGRESSION needs upper bounds below −m that a candidate
    made worse can only lower:

    - U_draws (`macro_draws_bound`): Δ̂ + the continuity correction + c·√(Σ_g v_g/(N_g·G²)), each
      group's one-draw variance v_g `draws_variance`'s at −m, taken at its worst over every candidate
      made worse than this one;
    - with repeats, U_items: the same over the per-item differences (`macro_lowered_bound`, the
      spread of items within each group, as `clustered_regression`'s U_items).

    c is Student's t with `macro_df`'s degrees of freedom, which the sizes alone fix. The p-value is
    the α at which the decision changes (the largest c both bounds still pass, by bisection), where
    the bounds without the worst case give at most α; above it, theirs, a lower bound of that α."""
    g_count = len(data)
    df = macro_df(data)
    crit = float(critical(alpha, df))
    shift = continuity(data)
    rows = np.broadcast_shapes(*(np.shape(g.delta) for g in data))
    estimate = np.mean([np.broadcast_to(np.asarray(g.delta, dtype=float), rows).reshape(-1) for g in data], axis=0)
    base = estimate + margin + shift
    ends = [_draw_ends(g, margin, g_count, rows) for g in data]
    spread = 0.0
    xs, floors = item_rows(data)
    repeats = any(g.repeats > 1 for g in data)
    if repeats:  # where the lowered bound over items starts: the items' spread as observed
        spread = sum((x.var(axis=-1, ddof=1) if x.shape[-1] > 1 else np.ones(len(x))) / (x.shape[-1] * g_count**2) for x in xs)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_plain = base / np.sqrt(np.maximum(sum(e[2] for e in ends), spread))  # ≥ each bound's own t where base < 0
        p_plain = np.asarray(_cdf(t_plain, df), dtype=float).reshape(-1)
    t_plain = t_plain.reshape(-1)

    def passes(pick: np.ndarray, c: np.ndarray) -> np.ndarray:  # both bounds below −m at critical values c
        upper = macro_draws_bound([tuple(e[pick] for e in end) for end in ends], c)
        if repeats:
            upper = np.maximum(upper, macro_lowered_bound([x[pick] for x in xs], [f[pick] for f in floors], c, below=-margin - shift))
        return upper + margin + shift < 0

    regression = t_plain < -crit  # needed: each bound is at least its plain value
    pick = np.flatnonzero(regression)
    if len(pick):
        regression[pick] = passes(pick, np.full(len(pick), crit))

    def p_value() -> ArrayLike:  # where the plain bounds give at most α (there base < 0), by bisection over c
        p = p_plain.copy()
        pick = np.flatnonzero(np.isfinite(p_plain) & (p_plain <= alpha))
        p[pick] = np.asarray(_cdf(-_largest_critical(passes, pick, -t_plain[pick]), df), dtype=float)
        return scalar(np.where(regression, np.minimum(p, alpha), p).reshape(rows))  # the bisection's last bit, at the boundary

    return scalar(regression.reshape(rows)), p_value


def _largest_critical(passes: Callable[[np.ndarray, np.ndarray], np.ndarray], rows: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Per row, the largest critical value c in [0, top] at which `passes(rows, c)` holds (it holds
    below it and not above), by bisection: where a decision changes, for a p-value."""
    lo, hi = np.zeros(len(rows)), np.asarray(top, dtype=float).copy()
    for _ in range(CRITICAL_STEPS):
        open_ = np.flatnonzero(hi - lo > CRITICAL_TOLERANCE * hi)
        if not len(open_):
            break
        mid = (lo[open_] + hi[open_]) / 2
        ok = passes(rows[open_], mid)
        lo[open_], hi[open_] = np.where(ok, mid, lo[open_]), np.where(ok, hi[open_], mid)
    return lo


CRITICAL_STEPS = 40  # at most, of `_largest_critical`'s bisection
CRITICAL_TOLERANCE = 1e-7  # relative, on the critical value: a p-value to about 1e-7 of itself


def _draw_ends(group: Paired, margin: float, g_count: int, rows: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """A group's part of `macro_draws_bound`: at the two ends of its range of candidates made worse
    (as observed; and every draw the reference got right lost), its Δ/G and its variance over N·G²,
    `draws_variance`'s at −m and `_worse_variance`'s; and the σ from which the first serves."""
    flat = lambda a: np.broadcast_to(np.asarray(a, dtype=float), rows).reshape(-1)  # noqa: E731
    worse, better, draws, k = flat(group.worse), flat(group.better), group.draws, group.repeats
    most = -np.asarray(group.item_floor, dtype=float).reshape(-1, group.n).sum(axis=-1) * k  # Σ of the reference's draws
    most = np.maximum(np.broadcast_to(most, worse.shape), worse)
    ends = [(better - b) / (draws * g_count) for b in (worse, most)]
    for seen_at_worst in (False, True):
        ends += [_worse_variance(b, better, draws, k, margin, seen_at_worst) / (draws * g_count**2) for b in (worse, most)]
    return (*ends, (k - 1) * (1 + 2 * most / draws) / (2 * g_count * draws))


def _worse_variance(worse: np.ndarray, better: np.ndarray, draws: int, repeats: int, margin: float, seen_at_worst: bool) -> np.ndarray:
    """`draws_variance` at −m from the counts, v + (K − 1)·max(v − seen, 0) (v Tango's null variance,
    seen (w + b)/N − ((b − w)/N)²); with `seen_at_worst`, seen at its least over better' ∈ [0, better].

    v is nondecreasing in better (its restricted estimate rises with the counts' linear term) and
    convex in worse (`macro_draws_bound` says why), and seen is concave in each count, so both
    variances are convex in worse. seen is not monotone in better; at its least (concave: at an end)
    it falls as better rises, so the second variance is nondecreasing in better."""
    null = np.asarray(restricted_draw_variance(worse, better, draws, -margin), dtype=float)
    seen = (worse + better) / draws - ((better - worse) / draws) ** 2
    if seen_at_worst:
        seen = np.minimum(seen, worse / draws - (worse / draws) ** 2)
    return null + (repeats - 1) * np.maximum(null - np.maximum(seen, 0.0), 0.0)


SIGMAS = np.geomspace(1e-6, 4.0, 330)  # `macro_draws_bound`'s fixed grid of σ: neighbours 5% apart cost c·√V at most 0.03%


def macro_draws_bound(ends: list[tuple[np.ndarray, ...]], crit: np.ndarray) -> np.ndarray:
    """U_draws of `macro_regression` less its continuity correction: an upper bound, nondecreasing in
    the candidate's scores, of Σ_g Δ̂_g/G + c·√(Σ_g v_g/(N_g·G²)) over every candidate made worse
    than this one (rows of a batch; `ends` per group from `_draw_ends`), v_g `draws_variance` at −m.

    c·√V = min over σ > 0 of c·(V/(2σ) + σ/2), and for a fixed σ the groups separate: each group's
    f = Δ_g/G + c·v_g/(2σ·N_g·G²) is to be taken at its worst over (worse' ≥ worse, better' ≤ better).
    v_g falls by at most (K − 1)(1 + 2·worse'/N)/N per better' lowered (v's own slope is ≥ 0, seen's
    ≤ (1 + 2·worse'/N)/N), so from σ ≥ σ_g = c(K − 1)(1 + 2·Σ reference/N)/(2GN) f rises with
    better' and its worst is at better' = better; below σ_g, with seen at its least
    (`_worse_variance`), it is a bound that rises with better too. Either is convex in worse', so its
    worst is at an end of worse's range: as observed, or every draw the reference got right lost. A
    candidate made worse raises worse and lowers better, so each group's worst can only fall, and so
    can the least over a fixed grid of σ (`SIGMAS`, taken whole: the switch at σ_g leaves the sum
    not convex in σ). v's convexity in worse: with lin = worse(1 − δ) + better(1 + δ) − 2Nδ, v is
    linear in lin + √(lin² + 8N·worse·δ(1 − δ)), a quadratic in worse whose least value is
    −8Nδ(1 − δ)·4(1 − δ²)·better/(4(1 − δ)²) ≥ 0 for δ < 0: the square root of such a quadratic is convex."""
    crit = np.asarray(crit, dtype=float)
    best = np.empty(len(crit))
    for rows in np.array_split(np.arange(len(crit)), max(1, len(crit) // 2000)):  # (rows × σ) arrays of a bounded size
        c = crit[rows, None]
        total = c * SIGMAS / 2
        for here, most, v_here, v_most, w_here, w_most, start in ends:
            exact, scale = SIGMAS >= c * start[rows, None], c / (2 * SIGMAS)
            total += np.maximum(here[rows, None] + scale * np.where(exact, v_here[rows, None], w_here[rows, None]),
                                most[rows, None] + scale * np.where(exact, v_most[rows, None], w_most[rows, None]))
        best[rows] = total.min(axis=-1)
    return best


MU_STEPS = 40  # golden-section steps over the centre in `lowered_bound`: 0.618⁴⁰ × 2 < MU_GRID
MU_GRID = 2.0**-20  # the fixed grid of centres `lowered_bound` minimises over


def lowered_bound(x: np.ndarray, floor: np.ndarray, crit: np.ndarray, delta0: float | None = None) -> np.ndarray:
    """An upper bound, nondecreasing in x, of max z̄ + c·s(z)/√n over every z with floor ≤ z ≤ x
    (per item, rows of a batch): the t upper bound at every candidate made worse than this one.

    For a centre μ, s(z)² ≤ Σ(z_i − μ)²/(n − 1) (equality at μ = z̄). Let each z_i be random on
    {floor_i, x_i} (taking floor_i with probability λ_i), and bound the maximum by
    G_μ(x) = max over λ of E z̄ + c/√(n(n − 1))·√(E Σ(z_i − μ)²), which is at least the maximum over
    fixed z (λ of 0 or 1, and any z inside the box is a mixture of its ends with the same mean and
    no larger E(z_i − μ)²). G_μ is a maximum over distributions on the box [floor, x]; a lower x
    gives a smaller box, so G_μ can only fall: monotone by construction. With the inside linear in
    λ, G_μ is exact and cheap: items in order of gain per unit lowered (a fractional knapsack),
    then the best total lowering on each piece of the concave result (`_lowered_given_centre`).
    The bound is the minimum of G_μ over a fixed grid of μ (a minimum of nondecreasing functions
    is nondecreasing): G_μ is convex in μ, so golden-section search finds where, and the grid
    points on either side of it give the grid's minimum exactly.

    With `delta0` (where every z̄ in the box is below it), the square root also holds
    (n − 1)(1 − δ0)(δ0 − z̄): `hidden_failures`' term for a share of items unseen at +1, linear
    in λ like the rest, so G_μ keeps every property above (`raised_bound` uses it, mirrored)."""
    lo, hi, _ = _golden(lambda mu: _lowered_given_centre(x, floor, mu, crit, delta0), floor.min(axis=-1), x.max(axis=-1))
    k = np.floor((lo + hi) / 2 / MU_GRID)
    return np.min([_lowered_given_centre(x, floor, (k + j) * MU_GRID, crit, delta0) for j in (-1, 0, 1, 2)], axis=0)


def lowered_critical(x: np.ndarray, floor: np.ndarray, room: np.ndarray) -> np.ndarray:
    """The largest c for which `lowered_bound` stays below x̄ + room (room > 0): the critical value
    at which its decision changes, for a p-value.

    For a centre μ, G_μ < x̄ + room exactly when c' < (room + s/n)/√(A + F(s)) at every total
    lowering s (`_lowered_given_centre`'s terms), a ratio that has one minimum on each piece of F,
    in closed form; and c at its best centre, found by golden-section search (c_μ is unimodal in μ:
    G_μ is convex in μ, so where G_μ < x̄ + room is an interval)."""
    return -_golden(lambda mu: -_critical_given_centre(x, floor, mu, room), floor.min(axis=-1), x.max(axis=-1))[2]


def raised_bound(p: Paired, margin: float, crit: ArrayLike) -> np.ndarray:
    """A lower bound, nondecreasing in the candidate's scores, of Δ̂ − c·√(`hidden_failures` at −m)
    over every candidate made better than this one (rows of a batch): LOSSLESS with repeats needs
    it above −m.

    `hidden_failures` takes the items' spread as observed, and a spread can fall when a
    candidate gets worse (a lone win far above the other items lowered), faster than Δ̂: an
    independent review built runs where one lowered draw turned INCONCLUSIVE into LOSSLESS. Here
    the spread is taken at its worst over the box [x, every draw won], `lowered_bound` mirrored
    (y → −y), with the share of items unseen at −1 as its linear term; (1 + Δ0)/(1 + Δ̂) ≤ 1 on
    the spread is dropped. A candidate made better raises each item's box into the old one, so
    the bound can only rise: monotone by construction. It is never above the hidden_failures
    condition's own bound, so LOSSLESS with it is LOSSLESS without it and this too.
    Where Δ̂ ≤ −m (never LOSSLESS) the hidden share's term would be negative: −inf there."""
    x = np.asarray(p.item_delta, dtype=float).reshape(-1, p.n)
    ceiling = 1.0 + np.asarray(p.item_floor, dtype=float).reshape(-1, p.n)
    c = np.broadcast_to(np.asarray(crit, dtype=float), (x.shape[0],)).astype(float)
    with np.errstate(invalid="ignore"):
        return np.where(x.mean(axis=-1) > -margin, -lowered_bound(-x, -ceiling, c, margin), -np.inf)


def macro_raised_bound(data: list[Paired], rows: np.ndarray, margin: float | None, alpha: float, crit: np.ndarray | None = None) -> np.ndarray:
    """A macro's LOSSLESS guard (rows of a batch): a lower bound, nondecreasing in the candidate's
    scores, of the macro's Δ̂ − c·√(Σ_g s²_g/(n_g·G²)) − `lossless_continuity` over every candidate
    made better than this one; LOSSLESS over a macro needs it above −m.

    The macro's statistic takes each group's variance at the macro's null (`macro_null`), and one
    more failure in a tiny group far below the rest can push that group's null toward −1, where its
    variance collapses (and, with Welch's degrees of freedom, the critical value): the walk search of
    `calibration_monotone` found such a change turning INCONCLUSIVE into LOSSLESS 4 times in about
    a million (groups of 2 to 5 items beside 10 to 50, m 0.2). The guard is `raised_bound`'s idea
    over groups (`macro_lowered_bound`, mirrored), with c from degrees of freedom that the groups'
    sizes alone give (`macro_df`), so nothing in it can move the wrong way; where a small group
    carries the macro, it binds. LOSSLESS with it is LOSSLESS without it and this too. With `margin`,
    rows already clear of −m are not searched (`macro_lowered_bound`'s `below`): their value is
    then only a lower bound of the guard's, above −m all the same. `crit`, per row: critical values
    other than α's (`_guard_p_value`)."""
    xs, floors = item_rows(data)
    xs, ceilings = [x[rows] for x in xs], [1.0 + f[rows] for f in floors]
    crit = np.full(len(rows), float(critical(alpha, macro_df(data)))) if crit is None else crit
    shift = lossless_continuity(data)
    return -macro_lowered_bound([-x for x in xs], [-c for c in ceilings], crit, below=None if margin is None else margin - shift) - shift


def macro_df(data: list[Paired]) -> float:
    """A macro's degrees of freedom: its smallest group's, n_g − 1 (at least 1).

    Welch–Satterthwaite's (Satterthwaite 1946) are never fewer, so its critical value is never
    below theirs: the conservative choice for unequal variances (Scheffé 1970). They are taken
    because the sizes alone fix them. Welch's are estimated from the groups' variances, which the
    candidate moves, and with a group of a few items they are as noisy as its variance: one more
    failure lowered such a group's variance, the degrees of freedom rose (1.97 to 2.04 in one case
    the walk search found, 3.4 to 3.7 in another), and the critical value fell past the statistic,
    INCONCLUSIVE turning into LOSSLESS. A cap at the sizes' own Welch value left 6 such changes in
    the walk's million; with these, none in that walk. They cost power where one group is much smaller than
    the rest (docs/statistics.md has the rows)."""
    return float(min(max(g.n - 1, 1) for g in data))


def macro_lowered_bound(xs: list[np.ndarray], floors: list[np.ndarray], crit: np.ndarray, below: float | None = None) -> np.ndarray:
    """An upper bound, nondecreasing in every x, of max Σ_g z̄_g/G + c·√(Σ_g s²(z_g)/(n_g·G²)) over
    every z with floor ≤ z ≤ x (groups of items, rows of a batch): `lowered_bound` for a macro.

    As there, each z_i is random on {floor_i, x_i} and the maximum is over those distributions, a
    concave problem over a box: a lower x gives a smaller box and a lower maximum. For one group the
    centre μ is searched; here its dual is, with no centre per group: c·√V = min over σ > 0 of
    c·(V/(2σ) + σ/2), and for a fixed σ the groups separate, each a concave quadratic whose optimum
    lowers its items in order of their box's midpoint, (x_i + floor_i)/2, while it stays below the
    group's mean less σ·G(n_g − 1)/c (a closed form). The bound is the least over a fixed grid of σ
    (convex in σ: golden-section search, then the grid points beside it), each value of which is
    monotone by construction. A group of one item has no spread to estimate: its variance is
    bounded by 1 (d ∈ [−1, 1]), which no candidate moves. With `below`, a row whose value at one
    grid point is already below it gets that value (the grid's least is lower still, so a
    comparison with `below` is unchanged) and is not searched: most rows a macro's LOSSLESS asks
    about, at a fraction of the cost."""
    g_count, rows = len(xs), xs[0].shape[0]
    crit = np.asarray(crit, dtype=float)
    const = sum(1.0 / g_count**2 for x in xs if x.shape[-1] == 1)
    qmax = const + sum(1.0 / (g_count**2 * (x.shape[-1] - 1)) for x in xs if x.shape[-1] > 1)
    groups = []  # per group of two items or more: its items in order of their box's midpoint
    fixed = sum((x[:, 0] / g_count for x in xs if x.shape[-1] == 1), np.zeros(rows))
    for x, floor in zip(xs, floors):
        if x.shape[-1] > 1:
            mid = (x + floor) / 2
            order = np.argsort(mid, axis=-1, kind="stable")
            room = np.take_along_axis(x - floor, order, -1)
            groups.append((x.shape[-1], np.take_along_axis(mid, order, -1), room, np.cumsum(room, axis=-1) - room, x.mean(axis=-1), (x**2).sum(axis=-1)))

    def phi(sigma: np.ndarray) -> np.ndarray:
        total = fixed + crit * (const / (2 * sigma) + sigma / 2)
        for n, mid, room, before, xbar, square in groups:
            amount = np.clip(n * ((xbar - sigma * g_count * (n - 1) / crit)[:, None] - mid) - before, 0.0, room)
            s = amount.sum(axis=-1)
            q = square - 2 * (amount * mid).sum(axis=-1) - n * (xbar - s / n) ** 2
            total = total + (xbar - s / n) / g_count + crit * q / (2 * sigma * g_count**2 * n * (n - 1))
        return total

    if below is not None:  # at the grid's σ nearest the spread as observed, most rows are already below
        observed = const + sum((square - n * xbar**2) / (g_count**2 * n * (n - 1)) for n, _, _, _, xbar, square in groups)
        start = phi(np.maximum(np.round(np.sqrt(np.maximum(observed, 0.0)) / MU_GRID), 1.0) * MU_GRID)
        rest = np.flatnonzero(~(start < below))
        if len(rest) < rows:
            if len(rest):
                start[rest] = macro_lowered_bound([x[rest] for x in xs], [f[rest] for f in floors], crit[rest])
            return start
    lo, hi, _ = _golden(phi, np.zeros(rows), np.full(rows, math.sqrt(qmax)))
    k = np.floor((lo + hi) / 2 / MU_GRID)
    return np.min([phi(np.maximum((k + j) * MU_GRID, MU_GRID)) for j in (-1, 0, 1, 2)], axis=0)


def _golden(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Golden-section search for the minimum of a unimodal f on [lo, hi], row by row of a batch:
    the final bracket, and the least value f took at its two inner points."""
    ratio = (math.sqrt(5) - 1) / 2
    u, v = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f_u, f_v = f(u), f(v)
    for _ in range(MU_STEPS):
        left = f_u <= f_v  # the minimum is in [lo, v]
        hi, lo = np.where(left, v, hi), np.where(left, lo, u)
        new = np.where(left, hi - ratio * (hi - lo), lo + ratio * (hi - lo))
        f_new = f(new)
        # left: the old u becomes v and the new point u; else the old v becomes u and the new point v
        u, v, f_u, f_v = np.where(left, new, v), np.where(left, u, new), np.where(left, f_new, f_v), np.where(left, f_u, f_new)
    return lo, hi, np.minimum(f_u, f_v)


def _pieces(x: np.ndarray, floor: np.ndarray, centre: np.ndarray, delta0: float | None = None) -> tuple[np.ndarray, ...]:
    """For `lowered_bound` at a centre μ: A = Σ(x_i − μ)², and per piece of F (items in order of
    spread gained per unit lowered) its start, end, F at its start and its slope."""
    mu = np.asarray(centre, dtype=float)[:, None]
    kept, lowered = (x - mu) ** 2, (floor - mu) ** 2
    room, gain = x - floor, lowered - kept
    n = x.shape[-1]
    total = kept.sum(axis=-1, keepdims=True)
    if delta0 is not None:  # + (n − 1)(1 − δ0)(δ0 − z̄), linear in λ (`lowered_bound`)
        e = (n - 1) * (1 - delta0)
        gain = gain + e * room / n
        total = total + e * (delta0 - x.mean(axis=-1, keepdims=True))
    useful = (gain > 0) & (room > 0)  # lowering any other item costs Δ̂ and gains no spread
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(useful, gain / np.where(useful, room, 1.0), -np.inf)
    order = np.argsort(-rate, axis=-1, kind="stable")
    rate = np.take_along_axis(rate, order, axis=-1)
    useful = np.isfinite(rate)
    room = np.where(useful, np.take_along_axis(room, order, axis=-1), 0.0)
    gain = np.where(useful, np.take_along_axis(gain, order, axis=-1), 0.0)
    end, gained = np.cumsum(room, axis=-1), np.cumsum(gain, axis=-1)
    return total, end - room, end, gained - gain, np.where(useful, rate, 1.0)


def _critical_given_centre(x: np.ndarray, floor: np.ndarray, centre: np.ndarray, room: np.ndarray) -> np.ndarray:
    """c_μ of `lowered_critical`: √(n(n − 1)) × the least (room + s/n)/√(A + F(s)) over s."""
    n = x.shape[-1]
    total, start, end, before, rate = _pieces(x, floor, centre)
    a, b = np.asarray(room, dtype=float)[:, None] + start / n, total + before
    # d/du of (a + u/n)/√(b + rate·u) has the sign of b/n − rate·a/2 + rate·u/(2n): one minimum
    u = np.clip(n * a - 2 * b / rate, 0.0, end - start)
    with np.errstate(invalid="ignore", divide="ignore"):
        least = np.where(b + rate * u > 0, (a + u / n) / np.sqrt(b + rate * u), np.inf).min(axis=-1)
    return math.sqrt(n * (n - 1)) * least


def _lowered_given_centre(x: np.ndarray, floor: np.ndarray, centre: np.ndarray, crit: np.ndarray, delta0: float | None = None) -> np.ndarray:
    """G_μ of `lowered_bound`: max over λ ∈ [0, 1]^n of x̄ − Σλ_i D_i/n + c'·√(A + Σλ_i g_i), with
    D_i = x_i − floor_i, A = Σ(x_i − μ)², g_i = (floor_i − μ)² − (x_i − μ)², c' = c/√(n(n − 1))."""
    n = x.shape[-1]
    c = np.asarray(crit, dtype=float)[:, None] / math.sqrt(n * (n - 1))
    total, start, end, before, rate = _pieces(x, floor, centre, delta0)
    # on each piece the objective −s/n + c'√(A + before + rate·(s − start)) is concave in s: its
    # stationary point, clipped to the piece
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.clip(start + ((n * c * rate / 2) ** 2 - total - before) / rate, start, end)
    value = -s / n + c * np.sqrt(np.maximum(total + before + rate * (s - start), 0.0))
    best = np.maximum(value.max(axis=-1), c[:, 0] * np.sqrt(total[:, 0]))
    return x.mean(axis=-1) + best


def lossless_critical(data: Paired | list[Paired], margin: float, alpha: float) -> ArrayLike:
    """LOSSLESS's critical value: the t or normal quantile, raised on at most `EXACT_ITEMS` items
    to the exact one of 0/1 scores for one repeat, and with repeats to the exact one of items
    decided outright (`exact_critical`)."""
    _, df = statistic(data, -margin)
    crit = critical(alpha, df)
    if isinstance(data, Paired) and data.repeats > 1 and 2 <= data.n <= EXACT_ITEMS:
        # Where every item is won or lost on every draw, Student's t on the items is a lattice
        # approximation: an independent review's exact sums found false LOSSLESS of 3.0–3.05% at
        # margins of 0.145 and more (64 items × 2 repeats, m 0.185). Data varying from draw to
        # draw are calibrated by simulation (section 4); this is their limit with no variation.
        return float(max(float(crit), exact_critical(data.n, margin, alpha, repeats=2)))
    if isinstance(data, Paired) and data.repeats == 1 and data.n <= EXACT_ITEMS:
        # Partial credit falls between the counts of 0/1 scores, where the exact value's size was
        # never summed: 25 items all changing, each a whole gain or a loss of 0.975, said LOSSLESS
        # in 3.4% of runs at a true Δ of −m (0/1 scores: 1.5%). Student's t covers that continuum,
        # with 2(n − 1)/3 degrees of freedom: n − 1 still left 3.0% at 30 items (calibration §7,
        # its near-whole steps). It is taken for 0/1 scores too, so that both get one critical
        # value and a score moving between 0, 0.5 and 1 never changes it.
        return float(max(float(critical(alpha, PARTIAL_DF * (data.n - 1))) if data.n > 1 else math.inf, exact_critical(data.n, margin, alpha)))
    return crit


PARTIAL_DF = 2 / 3  # of n − 1: the degrees of freedom of LOSSLESS's t floor on one repeat (lossless_critical)
EXACT_ITEMS = 300  # beyond: the normal's size stays within α + 0.5 point at every discordance (calibration §6), and the enumeration grows as n²
NUISANCE = 200  # discordances at which the exact size is evaluated


@lru_cache(maxsize=4096)
def exact_critical(n: int, margin: float, alpha: float, repeats: int = 1) -> float:
    """The smallest critical value, at least the normal's, for Tango's statistic whose size at
    Δ = −m is at most α whatever the discordance: the exact unconditional test, the size maximised
    over the whole range of the nuisance parameter (Suissa & Shuster 1991, Biometrics 47:361–372; for
    non-inferiority of paired proportions with a score statistic, Hsueh, Liu & Chen 2001, Biometrics
    57:478–483, who also show the maximum is reached at the boundary Δ = −m).

    On few items the normal's critical value is liberal where many answers change (n = 20, m = 0.05:
    3.6% false LOSSLESS when every answer differs), which no test on the grid of usual settings
    shows; the size of each threshold is summed exactly over every (worse, better) count, at
    `NUISANCE` discordances from m to 1 (the size is smooth in the discordance).

    With `repeats` > 1, the same for the repeats statistic on items decided outright (every draw
    of an item won, lost or tied alike: b items at −1, c at +1), at least Student's t with n − 1
    df. That statistic does not depend on the number of repeats there (the design effect is
    K·n/(n − 1), and `hidden_failures` sees only the items), so one value serves every K > 1."""
    b, c = np.meshgrid(np.arange(n + 1.0), np.arange(n + 1.0), indexing="ij")
    keep = b + c <= n
    b, c = b[keep], c[keep]
    if repeats == 1:
        data = Paired(n=n, repeats=1, delta=(c - b) / n, var_items=np.nan, worse=b, better=c, binary=True)
        floor = float(critical(alpha, math.inf))
    else:
        data, floor = decided_outright(n, b, c, repeats), float(critical(alpha, n - 1))
    t = np.asarray(statistic(data, -margin)[0])
    # the gate takes the larger of this and the floor (the normal's or t's critical value): only cells above it count
    top = np.flatnonzero(np.isfinite(t) & (t > floor))
    order = top[np.argsort(-t[top], kind="stable")]
    t_sorted = t[order]
    if not len(order):
        # no count of 0/1 scores passes, nor may partial credit, which falls between them; with
        # repeats, nor draws that vary: `hidden_failures` keeps T ≤ √(n(Δ̂ + m)/(1 − m)), whose
        # largest value, every draw of every item won, is one of these cells
        return math.inf
    counts = np.stack([b[order], c[order], n - b[order] - c[order]])
    log_factorial = np.r_[0.0, np.cumsum(np.log(np.arange(1.0, n + 1)))]
    log_choose = log_factorial[n] - log_factorial[counts.astype(int)].sum(axis=0)
    size = np.zeros(len(order))
    for qs in np.array_split(np.linspace(margin, 1.0, NUISANCE), NUISANCE // 25):
        cells = np.stack([(qs + margin) / 2, (qs - margin) / 2, 1 - qs], axis=1)
        # log 0 as a huge finite number: 0 × it is 0 (a count of 0 at probability 0 is certain)
        log = log_choose + np.log(np.maximum(cells, 1e-300)) @ counts
        size = np.maximum(size, np.cumsum(np.exp(np.maximum(log, -700.0)), axis=1).max(axis=0))  # no subnormals: slow, and nothing next to α
    # a threshold must take every cell with the same statistic or none: the last cell of each tie
    last = np.r_[t_sorted[1:] != t_sorted[:-1], True]
    ok = (size <= alpha) & last
    if not ok.any():
        return math.inf
    j = np.flatnonzero(ok)[-1]
    # between the last statistic taken and the next one down, so that `T > critical` takes exactly
    # the cells counted, whatever the rounding of T computed from records
    return float((t_sorted[j] + t_sorted[j + 1]) / 2) if j + 1 < len(t_sorted) else floor


def decided_outright(n: int, lost: np.ndarray, won: np.ndarray, repeats: int) -> Paired:
    """The sufficient statistics of n items × `repeats` draws where every item is decided outright:
    `lost` items whose every draw the candidate loses (a difference of −1), `won` whose every
    draw it wins (+1), the rest tied (batches of counts, element by element)."""
    delta = (won - lost) / n
    spread = (lost * (-1 - delta) ** 2 + won * (1 - delta) ** 2 + (n - lost - won) * delta**2) / (n - 1)
    return Paired(n=n, repeats=repeats, delta=delta, var_items=spread, worse=lost * repeats, better=won * repeats, binary=True)


def interval(data: Paired | list[Paired], alpha: float, margin: float | None = None) -> tuple[float, float]:
    """The two-sided 1 − 2α interval: the Δ0 that the one-sided tests at α do not reject, found by
    inverting the same statistics (its bounds agree with the verdict at every margin where each
    side's test changes its answer once in Δ0: found by bisection, they could miss a second change.
    A macro's REGRESSION bound can change more than once, so its upper end is looked for on the side
    of the gated margin that the verdict's test gives: there they agree by construction).

    Where the verdict's LOSSLESS critical value is the exact one (`exact_critical`, which depends
    on the margin), the lower bound inverts with the critical value of the gated `margin`, so
    that "L > −m" and LOSSLESS agree at that margin."""
    lossless_crit = lossless_critical(data, margin, alpha) if margin is not None else None
    estimate = float(np.mean([x.delta for x in data])) if isinstance(data, list) else float(data.delta)
    correction = continuity(data)

    def excess(delta0: float, side: int) -> float:
        if side < 0 and itemised_macro(data):  # U_draws of `macro_regression`; U_items is taken below
            groups = data  # type: ignore[assignment]
            crit = np.array([float(critical(alpha, macro_df(groups)))])  # type: ignore[arg-type]
            return delta0 - float(macro_draws_bound([_draw_ends(g, -delta0, len(groups), ()) for g in groups], crit)[0]) - correction  # type: ignore[union-attr]
        if side < 0 and clustered(data):  # U_draws of `clustered_regression`; U_items is taken below
            p = data  # type: ignore[assignment]
            t = (float(p.delta) - delta0 + correction) / math.sqrt(float(draws_variance(p, delta0)) / p.draws)  # type: ignore[union-attr, arg-type]
            return -t - float(critical(alpha, p.n - 1))  # type: ignore[union-attr]
        t, df = statistic(data, delta0, -lossless_continuity(data) if side > 0 else correction)
        return side * float(t) - (lossless_crit if side > 0 and lossless_crit is not None else float(critical(alpha, df)))

    def bound(lo: float, hi: float, side: int, edge: float) -> float:
        if side > 0 and lossless_crit is not None and math.isinf(lossless_crit):
            return edge  # no data this size can pass at this margin: nothing is excluded below
        f_lo, f_hi = excess(lo, side), excess(hi, side)
        if not (math.isfinite(f_lo) and math.isfinite(f_hi)):
            return math.nan
        if f_lo * f_hi > 0:  # no crossing inside the range: the bound is its edge
            return edge
        return bisect(lambda d: excess(d, side), lo, hi, f_lo, f_hi)

    eps = 1e-9  # the statistic is 0/0 exactly at the estimate when nothing differs: start just beside it
    if not math.isfinite(estimate):
        return math.nan, math.nan
    low = bound(-1 + eps, estimate - eps, 1, -1.0) if estimate > -1 + 2 * eps else -1.0
    if clustered(data) and low > -1.0 and not math.isnan(low):  # LOSSLESS at Δ0 also needs `raised_bound` above Δ0
        p = data  # type: ignore[assignment]
        c = lossless_crit if lossless_crit is not None else float(critical(alpha, p.n - 1))  # type: ignore[union-attr]

        def above(delta0: float) -> float:  # > 0 where the raised bound rejects Δ ≤ delta0
            return float(raised_bound(p, -delta0, c)[0]) - delta0  # type: ignore[arg-type]

        edge = low - 1e-9
        at_edge = above(edge)
        if at_edge <= 0:  # the raised bound is the binding one: its own crossing, below
            at_floor = above(-1 + eps)
            low = bisect(above, -1 + eps, edge, at_floor, at_edge) if at_floor > 0 else -1.0
    if itemised_macro(data) and low > -1.0 and not math.isnan(low):
        low = min(low, float(macro_raised_bound(data, np.array([0]), None, alpha)[0]))  # LOSSLESS at Δ0 also needs the guard above Δ0
    top = min(estimate + correction, 1 - 2 * eps)
    high = bound(top + eps, 1 - eps, -1, 1.0) if top < 1 - 2 * eps else 1.0
    if itemised_macro(data) and margin is not None and top + eps < -margin < 1 - eps:
        # U_draws(Δ0) − Δ0 can change sign more than once (an independent review: three times, a
        # 3-item group with nothing differing): the crossing is looked for on the side of −m that the
        # verdict's own test at −m gives, so that high < −m exactly when it rejects there
        rejected = excess(-margin, -1) > 0
        lo, hi = (top + eps, -margin) if rejected else (-margin, 1 - eps)
        high = bound(lo, hi, -1, -margin if rejected else 1.0)
    if clustered(data):  # REGRESSION at Δ0 needs U_items < Δ0 too, and U_items does not depend on Δ0
        p = data  # type: ignore[assignment]
        crit = np.array([float(critical(alpha, p.n - 1))])  # type: ignore[union-attr]
        items = float(lowered_bound(np.asarray(p.item_delta, dtype=float)[None], np.asarray(p.item_floor, dtype=float)[None], crit)[0])  # type: ignore[union-attr]
        high = min(max(high, items + correction), 1.0)
    if itemised_macro(data) and any(g.repeats > 1 for g in data):  # likewise for a macro  # type: ignore[union-attr]
        groups = data  # type: ignore[assignment]
        crit = np.array([float(critical(alpha, macro_df(groups)))])  # type: ignore[arg-type]
        items = float(macro_lowered_bound(*item_rows(groups), crit)[0])  # type: ignore[arg-type]
        high = min(max(high, items + correction), 1.0)
    return low, high


def bisect(f: Callable[[float], float], lo: float, hi: float, f_lo: float, f_hi: float, xtol: float = 1e-12) -> float:
    """The root of `f` between lo and hi (where it changes sign; f(lo) and f(hi) given), to within xtol.

    The Illinois variant of false position (Dowell & Jarratt 1971, BIT 11:168–174): the bracket
    always holds the sign change, as in bisection, and it converges superlinearly: about 10 steps
    where bisection takes 40, which matters where a step is `raised_bound` (about 10 ms). scipy's
    brentq would do as well, but importing scipy.optimize costs more than every step of a gate.
    A step that leaves the bracket, or values that are not finite, fall back to halving it.
    """
    kept = 0  # which end stayed in the last step: −1 lo, +1 hi
    for _ in range(400):
        if hi - lo <= xtol:
            break
        mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo) if math.isfinite(f_lo) and math.isfinite(f_hi) and f_hi != f_lo else math.nan
        if not lo < mid < hi:
            mid = (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
            f_hi, kept = (f_hi / 2 if kept == 1 else f_hi), 1
        else:
            hi, f_hi = mid, f_mid
            f_lo, kept = (f_lo / 2 if kept == -1 else f_lo), -1
    return (lo + hi) / 2


def holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections at family-wise level α (Holm 1979, Scand J Stat 6:65–70)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if not p_values[i] <= alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected
