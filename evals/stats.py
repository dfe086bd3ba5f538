"""The numbers behind a verdict (design §7).

Every estimate works on per-item scores: an item's score is its mean over repeats (seeds
or trials), so the standard error is clustered by item (Miller 2024, "Adding Error Bars to
Evals", arXiv:2411.00640): treating seeds as independent questions understates it.
Two endpoints are compared item by item (the paired Δ), which removes the between-question
variance both share; the unpaired SE is reported beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from math import comb

import numpy as np
from pydantic import BaseModel
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from evals.records import Record

BOOTSTRAP_BELOW = 100  # items; below this a paired bootstrap interval is shown too


def z(alpha: float) -> float:
    """The one-sided critical value z_{1−α}."""
    return float(sps.norm.ppf(1 - alpha))


class Estimate(BaseModel):
    mean: float
    se: float
    n: int
    low: float
    high: float


def clustered_mean(scores: Iterable[float], alpha: float = 0.025) -> Estimate:
    """Mean of per-item scores with SE = sd(ddof=1)/sqrt(n) and a two-sided 1−2α interval."""
    values = np.asarray(list(scores), dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    se = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    half = z(alpha) * se
    return Estimate(mean=mean, se=se, n=n, low=mean - half, high=mean + half)


def item_scores(records: Iterable[Record]) -> dict[str, float]:
    """Mean score per item over its repeats whose score stands (see `Record.counts`)."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.counts:
            by_item[r.item_id].append(r.score)
    return {item: float(np.mean(scores)) for item, scores in by_item.items()}


class Pairing(BaseModel):
    """Two runs' records matched by item: the aligned per-item scores and what was left out."""

    items: list[str]
    reference: list[float]
    candidate: list[float]
    repeats: int
    within_var: float  # mean over items of the variance of per-repeat differences (0 with one repeat)
    only_reference: int
    only_candidate: int
    errored: int


def pair(reference: Sequence[Record], candidate: Sequence[Record]) -> Pairing:
    """Match by item_id; items in one arm only, or with an error record in either, are left out.

    An error that is the model's own failure (`Record.counts`) is kept, as a score of 0.
    """
    errored = {r.item_id for r in (*reference, *candidate) if not r.counts}
    ref = {r.key: r.score for r in reference if r.item_id not in errored}
    cand = {r.key: r.score for r in candidate if r.item_id not in errored}
    ref_items = {k[0] for k in ref}
    cand_items = {k[0] for k in cand}
    items = sorted(ref_items & cand_items)
    by_item_ref: dict[str, list[float]] = defaultdict(list)
    by_item_cand: dict[str, list[float]] = defaultdict(list)
    diffs: dict[str, list[float]] = defaultdict(list)
    for key, score in ref.items():
        by_item_ref[key[0]].append(score)
        if key in cand:
            diffs[key[0]].append(cand[key] - score)
    for key, score in cand.items():
        by_item_cand[key[0]].append(score)
    repeats = max((len(v) for v in by_item_ref.values()), default=1)
    within = [np.var(diffs[i], ddof=1) for i in items if len(diffs[i]) > 1]
    return Pairing(
        items=items,
        reference=[float(np.mean(by_item_ref[i])) for i in items],
        candidate=[float(np.mean(by_item_cand[i])) for i in items],
        repeats=repeats,
        within_var=float(np.mean(within)) if within else 0.0,
        only_reference=len((ref_items - cand_items) - errored),
        only_candidate=len((cand_items - ref_items) - errored),
        errored=len(errored),
    )


class McNemar(BaseModel):
    """Exact McNemar test of Δ = 0 on the discordant pairs: a regression alarm, not the gate."""

    ref_only_right: int
    cand_only_right: int
    pvalue: float


def mcnemar_exact(reference: np.ndarray, candidate: np.ndarray) -> McNemar:
    ref, cand = reference.astype(bool), candidate.astype(bool)
    b, c = int(np.sum(ref & ~cand)), int(np.sum(~ref & cand))
    table = [[int(np.sum(ref & cand)), b], [c, int(np.sum(~ref & ~cand))]]
    return McNemar(ref_only_right=b, cand_only_right=c, pvalue=float(mcnemar(table, exact=True).pvalue))


def paired_bootstrap(reference: np.ndarray, candidate: np.ndarray, alpha: float, seed: int = 0) -> tuple[float, float]:
    """A two-sided 1−2α percentile interval of mean(candidate − reference), resampling items."""
    result = sps.bootstrap(
        (reference, candidate),
        lambda r, c, axis=-1: np.mean(c - r, axis=axis),
        paired=True,
        confidence_level=1 - 2 * alpha,
        n_resamples=9999,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


class PairedDelta(BaseModel):
    n: int
    delta: float
    se: float
    low: float
    high: float
    sd_diff: float
    se_unpaired: float
    correlation: float
    reference: Estimate
    candidate: Estimate
    repeats: int = 1
    within_var: float = 0.0
    mcnemar: McNemar | None = None
    bootstrap: tuple[float, float] | None = None


def paired_delta(reference: Sequence[float], candidate: Sequence[float], alpha: float = 0.025, repeats: int = 1, within_var: float = 0.0) -> PairedDelta:
    """Δ = mean(candidate_i − reference_i), SE_Δ = sd(d_i)/sqrt(n), with the unpaired SE beside it."""
    ref, cand = np.asarray(reference, dtype=float), np.asarray(candidate, dtype=float)
    d = cand - ref
    n = len(d)
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    se = sd / np.sqrt(n) if n > 1 else float("nan")
    delta = float(d.mean()) if n else float("nan")
    est_ref, est_cand = clustered_mean(ref, alpha), clustered_mean(cand, alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = float(np.corrcoef(ref, cand)[0, 1]) if n > 1 and ref.std() > 0 and cand.std() > 0 else float("nan")
    binary = repeats == 1 and bool(np.all(np.isin(ref, (0.0, 1.0))) and np.all(np.isin(cand, (0.0, 1.0))))
    return PairedDelta(
        n=n,
        delta=delta,
        se=float(se),
        low=delta - z(alpha) * se,
        high=delta + z(alpha) * se,
        sd_diff=sd,
        se_unpaired=float(np.hypot(est_ref.se, est_cand.se)),
        correlation=corr,
        reference=est_ref,
        candidate=est_cand,
        repeats=repeats,
        within_var=within_var,
        mcnemar=mcnemar_exact(ref, cand) if binary and n else None,
        bootstrap=paired_bootstrap(ref, cand, alpha) if 1 < n < BOOTSTRAP_BELOW and sd > 0 else None,
    )


def paired_from_records(reference: Sequence[Record], candidate: Sequence[Record], alpha: float = 0.025) -> tuple[PairedDelta, Pairing]:
    p = pair(reference, candidate)
    return paired_delta(p.reference, p.candidate, alpha, p.repeats, p.within_var), p


def macro_delta(groups: Sequence[PairedDelta]) -> tuple[float, float]:
    """Δ and SE of the unweighted mean over groups (tau2's domains): Σ Δ_g / G, sqrt(Σ SE_g²) / G."""
    g = len(groups)
    return float(sum(x.delta for x in groups) / g), float(np.sqrt(sum(x.se**2 for x in groups)) / g)


def mde(se: float, alpha: float, power: float) -> float:
    """The smallest true drop the test detects with the given power: (z_{1−α} + z_{1−β})·SE."""
    return (z(alpha) + z(1 - power)) * se


def items_needed(sd_diff: float, margin: float, alpha: float, power: float) -> int:
    """Items for the given power to pass a lossless model (true Δ = 0) at margin m: ((z_{1−α}+z_{1−β})·sd/m)²."""
    return int(np.ceil(((z(alpha) + z(1 - power)) * sd_diff / margin) ** 2))


def repeats_needed(stats: PairedDelta, margin: float, alpha: float, power: float) -> int | None:
    """Repeats per item that would reach the same power on the same items, or None if none would.

    Var(d̄_i) = τ² + s²/K, with s² the within-item variance of per-repeat differences and τ²
    the between-item part; more repeats shrink only the second term.
    """
    if stats.repeats <= 1 or stats.within_var <= 0:
        return None
    target = stats.n * (margin / (z(alpha) + z(1 - power))) ** 2  # the Var(d̄_i) that would do
    between = max(stats.sd_diff**2 - stats.within_var / stats.repeats, 0.0)
    if target <= between:
        return None
    return int(np.ceil(stats.within_var / (target - between)))


def pass_hat_k(records: Sequence[Record], k: int) -> float:
    """tau2's pass^k: per item C(c, k) / C(n, k) over its n trials with c successes, averaged over items."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.counts:
            by_item[r.item_id].append(r.score)
    values = [comb(int(sum(s)), k) / comb(len(s), k) for s in by_item.values() if len(s) >= k]
    return float(np.mean(values)) if values else float("nan")


def rule_of_three_se(n: int) -> float:
    """A floor for SE_Δ when no item differed: with none of n pairs discordant, the discordance
    rate is below 3/n with 95% confidence (the rule of three), so sd(d) ≤ sqrt(3/n)."""
    return float(np.sqrt(3 / n) / np.sqrt(n)) if n else float("nan")
