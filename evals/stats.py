"""The numbers behind a verdict (design §7).

Every estimate works on per-item scores, with the standard error clustered by item
(`evals.scores`, which also serves a single run's summary table without numpy).
Two endpoints are compared item by item (the paired Δ), which removes the between-question
variance both share; the unpaired SE is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb

import numpy as np
from pydantic import BaseModel

from evals.records import Record
from evals.scores import Estimate, clustered_mean


@dataclass
class Matched:
    """Both arms' scores on every (item, repeat) the reference's manifest expects.

    A draw without a standing score (missing, or an error that is not the model's own failure)
    is imputed as the worst case for the claim: a failure (0) in the candidate, a success (1) in
    the reference. Errors are not missing at random — a damaged quantization loops to
    `max_tokens` or past `timeout_s` on the very items it gets wrong — so leaving them out
    would let a broken candidate look lossless.
    """

    items: list[str]
    repeats: list[int]
    reference: np.ndarray  # (items, repeats), imputed
    candidate: np.ndarray
    answered: np.ndarray  # (items, repeats): both arms hold a standing score
    groups: list[str | None]
    imputed: dict[str, int]  # draws imputed, per arm
    unseen_items: int  # expected items that neither arm holds any record of
    subtasks: list[str | None] = field(default_factory=list)  # an lm-eval group's member of each item (`details.subtask`), for display
    unscored: frozenset[str] = frozenset()  # recorded items with no standing score in either arm (errors only): their group may be unknown

    @property
    def delta_answered(self) -> float:
        """Δ over the draws both arms answered, errors left out: shown beside the verdict's Δ, never gated on."""
        if not self.answered.any():
            return float("nan")
        return float((self.candidate - self.reference)[self.answered].mean())


def match(reference: Sequence[Record], candidate: Sequence[Record], expected_items: int, repeats: Sequence[int]) -> Matched:
    """Align two arms by (item, repeat); the expected items neither arm recorded become failures too."""
    wanted = set(repeats)
    ref = {r.key: r for r in reference if r.repeat in wanted}
    cand = {r.key: r for r in candidate if r.repeat in wanted}
    items = sorted({k[0] for k in ref} | {k[0] for k in cand})
    unseen = max(expected_items - len(items), 0)
    items += [f"(never recorded {i + 1})" for i in range(unseen)]
    column = {rep: j for j, rep in enumerate(repeats)}
    shape = (len(items), len(repeats))
    ref_scores, cand_scores = np.ones(shape), np.zeros(shape)
    ref_ok, cand_ok = np.zeros(shape, bool), np.zeros(shape, bool)
    groups: dict[str, str | None] = {}
    subtasks: dict[str, str | None] = {}
    for i, item in enumerate(items):
        for rep, j in column.items():
            for arm, scores, ok in ((ref, ref_scores, ref_ok), (cand, cand_scores, cand_ok)):
                r = arm.get((item, rep))
                if r is not None:
                    # from any record that says it: an error record may not (the native runner's carry no details)
                    if r.details.get("group") is not None:
                        groups.setdefault(item, r.details["group"])
                    if r.details.get("subtask") is not None:
                        subtasks.setdefault(item, r.details["subtask"])
                    if r.counts:
                        scores[i, j], ok[i, j] = r.score, True
    return Matched(
        items=items,
        repeats=list(repeats),
        reference=ref_scores,
        candidate=cand_scores,
        answered=ref_ok & cand_ok,
        groups=[groups.get(i) for i in items],
        imputed={"reference": int((~ref_ok).sum()), "candidate": int((~cand_ok).sum())},
        unseen_items=unseen,
        subtasks=[subtasks.get(i) for i in items],
        unscored=frozenset(i for i, scored in zip(items, (ref_ok | cand_ok).any(axis=1)) if not scored and not i.startswith("(never recorded")),
    )


class McNemar(BaseModel):
    """Exact McNemar test of Δ = 0 on the discordant pairs: a regression alarm, not the gate."""

    ref_only_right: int
    cand_only_right: int
    pvalue: float


def mcnemar_exact(reference: np.ndarray, candidate: np.ndarray) -> McNemar:
    ref, cand = reference.astype(bool), candidate.astype(bool)
    b, c = int(np.sum(ref & ~cand)), int(np.sum(~ref & cand))
    return McNemar(ref_only_right=b, cand_only_right=c, pvalue=binomial_two_sided(min(b, c), b + c))


def binomial_at_most(k: int, n: int) -> float:
    """P(X ≤ k) for X ~ Binomial(n, ½), summed in integers: exact at any n, without scipy to import."""
    return sum(comb(n, i) for i in range(k + 1)) / 2**n


def binomial_two_sided(k: int, n: int) -> float:
    """P(X ≤ k)·2, capped at 1, for X ~ Binomial(n, ½): the exact McNemar p-value (statsmodels'
    `mcnemar(exact=True)`)."""
    return min(1.0, 2 * binomial_at_most(k, n))


class Comparison(BaseModel):
    """What is shown beside a verdict: both arms' means, Δ, and the numbers people compare with."""

    n: int
    repeats: int
    delta: float
    se: float  # the SE the gate's test used, at Δ = −m
    reference: Estimate
    candidate: Estimate
    se_unpaired: float
    correlation: float
    flip_rate: float  # draws whose correctness changed, either way
    mcnemar: McNemar | None = None


def describe(reference: np.ndarray, candidate: np.ndarray, se: float, alpha: float = 0.025) -> Comparison:
    """Descriptive numbers of (items, repeats) score matrices; `se` comes from the test."""
    ref_items, cand_items = reference.mean(axis=1), candidate.mean(axis=1)
    n = len(ref_items)
    est_ref, est_cand = clustered_mean(ref_items, alpha), clustered_mean(cand_items, alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = float(np.corrcoef(ref_items, cand_items)[0, 1]) if n > 1 and ref_items.std() > 0 and cand_items.std() > 0 else float("nan")
    binary = reference.shape[1] == 1 and bool(np.isin(reference, (0.0, 1.0)).all() and np.isin(candidate, (0.0, 1.0)).all())
    return Comparison(
        n=n,
        repeats=reference.shape[1],
        delta=float((cand_items - ref_items).mean()) if n else float("nan"),
        se=se,
        reference=est_ref,
        candidate=est_cand,
        se_unpaired=float(np.hypot(est_ref.se, est_cand.se)),
        correlation=corr,
        flip_rate=float(np.mean(np.round(reference) != np.round(candidate))) if reference.size else float("nan"),
        mcnemar=mcnemar_exact(ref_items, cand_items) if binary and n else None,
    )

