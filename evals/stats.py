"""The numbers behind a verdict (design §7).

Every estimate works on per-item scores: an item's score is its mean over repeats (seeds
or trials), so the standard error is clustered by item (Miller 2024, "Adding Error Bars to
Evals", arXiv:2411.00640): treating seeds as independent questions understates it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel
from scipy import stats as sps

from evals.records import Record


def item_scores(records: Iterable[Record]) -> dict[str, float]:
    """Mean score per item over its error-free repeats."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.error is None:
            by_item[r.item_id].append(r.score)
    return {item: float(np.mean(scores)) for item, scores in by_item.items()}


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
