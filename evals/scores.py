"""What one arm's per-item scores come to: their mean and clustered standard error, pass^k.

Every estimate works on per-item scores: an item's score is its mean over repeats (seeds
or trials), so the standard error is clustered by item (Miller 2024, "Adding Error Bars to
Evals", arXiv:2411.00640): treating seeds as independent questions understates it.

Computed with the standard library, so that a run's summary table (`evals run`, `evals report`
of a run) imports no numpy; the gate's own statistics (`evals.stats`) use these same functions.
The sums are numpy's, operation for operation (`numpy_sum`): the numbers, to the last digit,
are the ones numpy gave here before, in every report and gate.json.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import reduce
from math import comb, sqrt
from operator import add
from statistics import NormalDist

from pydantic import BaseModel

from evals.records import Record

PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE


def z(alpha: float) -> float:
    """The one-sided critical value z_{1−α}."""
    return NormalDist().inv_cdf(1 - alpha)  # the stdlib's quantile (Wichura's AS241, as scipy's ndtri): no scipy to import


def _pairwise(values: Sequence[float], lo: int, n: int) -> float:
    # numpy/_core/src/umath/loops_utils.h.src, pairwise_sum (unchanged since numpy 1.9): fewer than
    # 8 summed in order; up to a block in 8 interleaved running sums, added in pairs, then the
    # rest in order; above a block, two halves (the first a multiple of 8) summed apart.
    if n < 8:
        return reduce(add, values[lo : lo + n], 0.0)
    if n <= PAIRWISE_BLOCK:
        end = lo + n - n % 8
        r = [reduce(add, values[lo + j : end : 8]) for j in range(8)]
        return reduce(add, values[end : lo + n], ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])))
    half = n // 2
    half -= half % 8
    return _pairwise(values, lo, half) + _pairwise(values, lo + half, n - half)


def numpy_sum(values: Sequence[float]) -> float:
    """`np.sum` of float64 values, rounded as numpy rounds it (pairwise, not in order, not `math.fsum`)."""
    return 0.0 + _pairwise(values, 0, len(values))


def mean(values: Iterable[float]) -> float:
    """`np.mean`, to the last digit; NaN when there is nothing to average."""
    xs = [float(v) for v in values]
    return numpy_sum(xs) / len(xs) if xs else float("nan")


class Estimate(BaseModel):
    mean: float
    se: float
    n: int
    low: float
    high: float


def clustered_mean(scores: Iterable[float], alpha: float = 0.025) -> Estimate:
    """Mean of per-item scores with SE = sd(ddof=1)/sqrt(n) and a two-sided 1−2α interval.

    The SE is numpy's `std(ddof=1) / sqrt(n)`, step by step: the mean, the squared deviations
    from it summed pairwise, divided by n − 1, the square root."""
    values = [float(s) for s in scores]
    n = len(values)
    m = numpy_sum(values) / n if n else float("nan")
    se = sqrt(numpy_sum([(v - m) * (v - m) for v in values]) / (n - 1)) / sqrt(n) if n > 1 else float("nan")
    half = z(alpha) * se
    return Estimate(mean=m, se=se, n=n, low=m - half, high=m + half)


def item_scores(records: Iterable[Record]) -> dict[str, float]:
    """Mean score per item over its repeats whose score stands (see `Record.counts`)."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.counts:
            by_item[r.item_id].append(r.score)
    return {item: mean(scores) for item, scores in by_item.items()}


def pass_hat_k(records: Sequence[Record], k: int) -> float:
    """tau2's pass^k: per item C(c, k) / C(n, k) over its n trials with c successes, averaged over items."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        by_item[r.item_id].append(r.score if r.counts else 0.0)  # a trial that errored did not succeed
    return mean(comb(int(sum(s)), k) / comb(len(s), k) for s in by_item.values() if len(s) >= k)
