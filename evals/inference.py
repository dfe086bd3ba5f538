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
  n − 1 degrees of freedom. The part of its null variance that the data show is multiplied by the
  estimated design effect of clustering by item, never below 1 (Rao & Scott 1992, Biometrics
  48:577–585: draws of one item are exchangeable given the item, so their differences are
  non-negatively correlated); the part the data did not show, by K, the design effect of
  failures tied to items, which nothing observed can rule out.
- Scores in [0, 1] that are not all 0/1: the paired t-test on per-item means.
- A macro over groups (tau2's domains): Δ = mean of the groups' Δ, Var = Σ Var_g / G², each
  group's variance taken at its Δ shifted by the same amount as the macro's, t with
  Welch–Satterthwaite degrees of freedom.
- On the REGRESSION side, a continuity correction of one discordant draw (`continuity`).

Every function takes numpy arrays as well as numbers, so the calibration runs thousands of
simulated comparisons through exactly the code the gate runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
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
    worse: ArrayLike  # draws right in the reference only
    better: ArrayLike  # draws right in the candidate only
    binary: bool  # every draw scored 0 or 1

    @property
    def draws(self) -> int:
        return self.n * self.repeats


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
        worse=scalar((ref * (1 - cand)).sum(axis=(-2, -1))),
        better=scalar(((1 - ref) * cand).sum(axis=(-2, -1))),
        binary=binary,
    )


def scalar(x: np.ndarray) -> ArrayLike:
    return float(x) if np.ndim(x) == 0 else x


def restricted_draw_variance(worse: ArrayLike, better: ArrayLike, draws: int, delta0: ArrayLike) -> ArrayLike:
    """Var of one draw's difference under Δ = delta0, at the restricted maximum-likelihood
    estimate of P(right in the reference only) (Tango 1998, eq. 3): never zero when delta0 ≠ 0."""
    b, c, n = np.asarray(worse, dtype=float), np.asarray(better, dtype=float), float(draws)
    lin = (b + c) - delta0 * (2 * n + b - c)
    p_worse = (lin + np.sqrt(np.maximum(lin * lin + 8 * n * b * delta0 * (1 - delta0), 0.0))) / (4 * n)
    return scalar(2 * p_worse + delta0 - delta0 * delta0)


def variance_of_delta(p: Paired, delta0: ArrayLike) -> tuple[ArrayLike, float]:
    """The variance of Δ̂ under Δ = delta0, and its degrees of freedom (inf: normal)."""
    if p.n < 2 and not (p.binary and p.repeats == 1):
        # one item: its between-item variance cannot be estimated; bound it (Bhatia–Davis, d̄ ∈ [−1, 1])
        return scalar((1 - np.asarray(delta0)) * (1 + np.asarray(delta0))), 1.0
    if not p.binary:
        return p.var_items / p.n, float(p.n - 1)
    null = np.asarray(restricted_draw_variance(p.worse, p.better, p.draws, delta0))
    if p.repeats == 1:
        return scalar(null / p.draws), math.inf
    draws = p.draws
    seen = np.maximum((np.asarray(p.worse) + np.asarray(p.better)) / draws - np.asarray(p.delta) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        deff = np.where(seen > 0, (np.asarray(p.var_items) / p.n) / (seen / draws), 1.0)
    deff = np.where(np.isfinite(deff), np.maximum(deff, 1.0), 1.0)
    # The part of the null's discordance that the data did not show could be tied to items (a
    # candidate wrong on every draw of a few items): it gets the worst design effect, K. With
    # nothing differing, that is the one-repeat bound over items; repeats never prove more.
    unseen = np.maximum(null - seen, 0.0)
    return scalar((deff * np.minimum(seen, null) + p.repeats * unseen) / draws), float(p.n - 1)


def continuity(data: Paired | list[Paired]) -> float:
    """One draw's worth of Δ (0 for scores that are not 0/1): the REGRESSION side's continuity correction.

    When few answers change, the count of answers lost is skewed to the right and the score
    statistic's lower tail is liberal: at a true Δ of exactly −m, REGRESSION was said about twice
    as often as α (n = 200, a candidate that only breaks answers). Moving the
    statistic by one discordant draw toward the null keeps it within α (docs/statistics.md).
    The LOSSLESS side needs no correction."""
    if isinstance(data, list):
        return float(np.mean([continuity(g) for g in data])) / len(data)
    return 1.0 / data.draws if data.binary else 0.0


def statistic(data: Paired | list[Paired], delta0: ArrayLike, shift: float = 0.0) -> tuple[ArrayLike, ArrayLike]:
    """T = (Δ̂ − delta0 + shift)/SE(delta0) and its degrees of freedom, for one comparison or a macro over groups."""
    if isinstance(data, Paired):
        var, df = variance_of_delta(data, delta0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (np.asarray(data.delta) - delta0 + shift) / np.sqrt(var)
        return scalar(np.where(np.asarray(var) > 0, t, np.nan)), df
    g = len(data)
    macro = np.mean([np.asarray(x.delta) for x in data], axis=0)
    moved = macro - delta0  # each group is tested at its own Δ moved by the same amount
    parts = [variance_of_delta(x, np.clip(np.asarray(x.delta) - moved, -1 + 1e-9, 1 - 1e-9)) for x in data]
    total = np.sum([np.asarray(v) for v, _ in parts], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = total**2 / np.sum([np.asarray(v) ** 2 / d for v, d in parts], axis=0)  # Welch–Satterthwaite
        t = (macro - delta0 + shift) / (np.sqrt(total) / g)
    return scalar(np.where(total > 0, t, np.nan)), scalar(np.where(np.isfinite(df), df, math.inf))


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
    p_lossless: ArrayLike  # one-sided p-value against Δ ≤ −m
    p_regression: ArrayLike  # one-sided p-value against Δ ≥ −m (continuity-corrected statistic)
    lossless: ArrayLike  # bool
    regression: ArrayLike  # bool


def noninferiority(data: Paired | list[Paired], margin: float, alpha: float) -> Test:
    """The gate's decision at margin m > 0: LOSSLESS if T(−m) > crit, REGRESSION if T_cc(−m) < −crit."""
    t, df = statistic(data, -margin)
    t_reg, _ = statistic(data, -margin, continuity(data))
    crit = critical(alpha, df)
    with np.errstate(invalid="ignore"):
        return Test(
            statistic=t,
            df=df,
            p_lossless=scalar(1 - np.asarray(_cdf(t, df))),
            p_regression=scalar(np.asarray(_cdf(t_reg, df))),
            lossless=scalar(np.asarray(t) > crit),
            regression=scalar(np.asarray(t_reg) < -np.asarray(crit)),
        )


def interval(data: Paired | list[Paired], alpha: float) -> tuple[float, float]:
    """The two-sided 1 − 2α interval: the Δ0 that the one-sided tests at α do not reject, found by
    inverting the same statistics (its bounds agree with the verdict at every margin)."""
    estimate = float(np.mean([x.delta for x in data])) if isinstance(data, list) else float(data.delta)
    correction = continuity(data)

    def excess(delta0: float, side: int) -> float:
        t, df = statistic(data, delta0, 0.0 if side > 0 else correction)
        return side * float(t) - float(critical(alpha, df))

    def bound(lo: float, hi: float, side: int, edge: float) -> float:
        f_lo, f_hi = excess(lo, side), excess(hi, side)
        if not (math.isfinite(f_lo) and math.isfinite(f_hi)):
            return math.nan
        if f_lo * f_hi > 0:  # no crossing inside the range: the bound is its edge
            return edge
        return bisect(lambda d: excess(d, side), lo, hi, f_lo)

    eps = 1e-9  # the statistic is 0/0 exactly at the estimate when nothing differs: start just beside it
    if not math.isfinite(estimate):
        return math.nan, math.nan
    low = bound(-1 + eps, estimate - eps, 1, -1.0) if estimate > -1 + 2 * eps else -1.0
    top = min(estimate + correction, 1 - 2 * eps)
    high = bound(top + eps, 1 - eps, -1, 1.0) if top < 1 - 2 * eps else 1.0
    return low, high


def bisect(f: Callable[[float], float], lo: float, hi: float, f_lo: float, xtol: float = 1e-12) -> float:
    """The root of `f` between lo and hi (where it changes sign; f(lo) given), to within xtol.

    Plain bisection: about 40 steps where scipy's brentq takes 10, but importing scipy.optimize
    costs more than all the steps of every gate.
    """
    while hi - lo > xtol:
        mid = (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid < 0) == (f_lo < 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
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
