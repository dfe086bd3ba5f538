"""The verdict: non-inferiority of the candidate against the reference, per task (design §8).

With margin m > 0 and one-sided α: L = Δ − z·SE_Δ, U = Δ + z·SE_Δ.
LOSSLESS if L > −m, REGRESSION if U < −m, INCONCLUSIVE otherwise. ERROR when the runs are
not comparable or an arm failed too often: a broken run is never LOSSLESS.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from evals.config import GateConfig
from evals.errors import UsageError
from evals.records import Manifest, Record, Run
from evals.stats import (
    PairedDelta,
    items_needed,
    macro_delta,
    mde,
    paired_from_records,
    pass_hat_k,
    repeats_needed,
    rule_of_three_se,
    z,
)

DEFAULT_MARGINS = {"gsm8k": 0.02, "gpqa_diamond": 0.03, "tau2": 0.05}
FALLBACK_MARGIN = 0.02


class Verdict(StrEnum):
    LOSSLESS = "LOSSLESS"
    REGRESSION = "REGRESSION"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


EXIT_CODES = {Verdict.LOSSLESS: 0, Verdict.REGRESSION: 1, Verdict.INCONCLUSIVE: 3, Verdict.ERROR: 4}


def margin_for(task: str, config: GateConfig) -> float:
    return config.margins.get(task, DEFAULT_MARGINS.get(task, FALLBACK_MARGIN))


def decide(delta: float, se: float, margin: float, alpha: float) -> Verdict:
    if not (math.isfinite(delta) and math.isfinite(se)):
        return Verdict.ERROR
    half = z(alpha) * se
    if delta - half > -margin:
        return Verdict.LOSSLESS
    if delta + half < -margin:
        return Verdict.REGRESSION
    return Verdict.INCONCLUSIVE


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    for worst in (Verdict.REGRESSION, Verdict.ERROR, Verdict.INCONCLUSIVE):
        if worst in verdicts:
            return worst
    return Verdict.LOSSLESS if verdicts else Verdict.ERROR


class TaskVerdict(BaseModel):
    task: str
    verdict: Verdict
    margin: float
    alpha: float
    power: float
    paired: bool = True
    n: int = 0
    repeats: int = 1
    reference_score: float | None = None
    candidate_score: float | None = None
    delta: float | None = None
    se: float | None = None
    low: float | None = None
    high: float | None = None
    mde: float | None = None
    items_needed: int | None = None
    repeats_needed: int | None = None
    errors: dict[str, int] = Field(default_factory=dict)
    error_rates: dict[str, float] = Field(default_factory=dict)
    left_out: dict[str, int] = Field(default_factory=dict)
    problem: str | None = None  # why ERROR
    note: str | None = None
    stats: PairedDelta | None = None
    groups: dict[str, PairedDelta] = Field(default_factory=dict)
    pass_k: dict[str, dict[int, float]] = Field(default_factory=dict)


COMPARED = ("task", "task_version", "task_config", "dataset_fingerprint", "prompt_fingerprint", "sampling")


def mismatch(reference: Manifest, candidate: Manifest) -> str | None:
    """Name what differs between two runs that must match to be paired."""
    diffs = []
    for name in COMPARED:
        a, b = getattr(reference, name), getattr(candidate, name)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                diffs.append(f"{name} ({', '.join(f'{k}: {a.get(k)!r} vs {b.get(k)!r}' for k in keys)})")
            else:
                diffs.append(f"{name} ({str(a)[:16]} vs {str(b)[:16]})")
    for name in ("user_simulator",):  # engines that put more into the manifest say so in `extra`
        if reference.extra.get(name) != candidate.extra.get(name):
            diffs.append(f"{name} ({reference.extra.get(name)!r} vs {candidate.extra.get(name)!r})")
    return "runs are not comparable: different " + "; ".join(diffs) if diffs else None


def error_rate(manifest: Manifest, records: Sequence[Record]) -> tuple[int, float]:
    """Records missing or failed, and their share of what the manifest expected."""
    expected = max(manifest.items * len(manifest.repeats), 1)
    failed = expected - sum(r.error is None for r in records)
    return failed, failed / expected


def gate_runs(
    reference: tuple[Manifest, Sequence[Record]],
    candidate: tuple[Manifest, Sequence[Record]],
    config: GateConfig,
) -> TaskVerdict:
    (ref_m, ref_r), (cand_m, cand_r) = reference, candidate
    task = ref_m.task
    base = TaskVerdict(task=task, verdict=Verdict.ERROR, margin=margin_for(task, config), alpha=config.alpha, power=config.power)
    problem = mismatch(ref_m, cand_m)
    if problem is None:
        cand_hash = {r.key: r.request_hash for r in cand_r}
        differing = sum(1 for r in ref_r if r.key in cand_hash and cand_hash[r.key] != r.request_hash)
        if differing:
            problem = f"the two arms were sent different prompts for {differing} (item, repeat) pairs"
    for arm, (m, r) in {"reference": reference, "candidate": candidate}.items():
        base.errors[arm], base.error_rates[arm] = error_rate(m, r)
    if problem is None:
        over = [f"{arm} {rate:.1%}" for arm, rate in base.error_rates.items() if rate > config.max_error_rate]
        if over:
            problem = f"error rate over max_error_rate {config.max_error_rate:.1%}: {', '.join(over)}"

    stats, pairing = paired_from_records(ref_r, cand_r, config.alpha)
    base.stats = stats
    base.left_out = {"only_reference": pairing.only_reference, "only_candidate": pairing.only_candidate, "errored": pairing.errored}
    base.n, base.repeats = stats.n, stats.repeats
    base.reference_score, base.candidate_score = stats.reference.mean, stats.candidate.mean
    delta, se = stats.delta, stats.se

    groups = _groups(ref_r, cand_r, config.alpha)
    if groups:
        base.groups = groups
        delta, se = macro_delta(list(groups.values()))
        base.reference_score = float(np.mean([g.reference.mean for g in groups.values()]))
        base.candidate_score = float(np.mean([g.candidate.mean for g in groups.values()]))
        base.note = f"macro over {len(groups)} groups: Δ = mean of the groups' Δ, SE = sqrt(Σ SE_g²)/G"
        # pass^k macro over groups too, as tau2's leaderboard reports it
        base.pass_k = {
            arm: {k: float(np.mean([pass_hat_k([r for r in records if r.details["group"] == g], k) for g in groups])) for k in range(1, stats.repeats + 1)}
            for arm, records in (("reference", ref_r), ("candidate", cand_r))
        }
    if se == 0 and stats.n:
        se = rule_of_three_se(stats.n)
        base.note = ((base.note + "; ") if base.note else "") + f"no item differed between the arms: SE floored at sqrt(3/n)/sqrt(n) = {se:.4f} (rule of three)"
    half = z(config.alpha) * se
    base.delta, base.se, base.low, base.high = delta, se, delta - half, delta + half
    base.mde = mde(se, config.alpha, config.power)
    if not groups and math.isfinite(stats.sd_diff):
        base.items_needed = items_needed(stats.sd_diff, base.margin, config.alpha, config.power)
        base.repeats_needed = repeats_needed(stats, base.margin, config.alpha, config.power)
    if problem is not None:
        base.problem = problem
        return base
    base.verdict = decide(delta, se, base.margin, config.alpha)
    if base.verdict == Verdict.ERROR:
        base.problem = f"too few paired items to estimate a standard error (n = {stats.n})"
    return base


def _groups(reference: Sequence[Record], candidate: Sequence[Record], alpha: float) -> dict[str, PairedDelta]:
    """Per-group paired deltas when records carry a `group` (tau2's domains); else nothing."""
    by_group: dict[str, tuple[list[Record], list[Record]]] = defaultdict(lambda: ([], []))
    for arm, records in enumerate((reference, candidate)):
        for r in records:
            group = r.details.get("group")
            if group is None:
                return {}
            by_group[group][arm].append(r)
    return {g: paired_from_records(a, b, alpha)[0] for g, (a, b) in sorted(by_group.items())}


def gate_saved(reference: dict[str, Run], candidate: dict[str, Run], config: GateConfig) -> list[TaskVerdict]:
    """Every task of two saved runs; a task present in one only is an ERROR naming the side that lacks it."""
    verdicts = []
    for task in sorted(reference.keys() | candidate.keys()):
        if task in reference and task in candidate:
            verdicts.append(gate_runs(reference[task], candidate[task], config))
        else:
            missing = "candidate" if task in reference else "reference"
            verdicts.append(TaskVerdict(task=task, verdict=Verdict.ERROR, margin=margin_for(task, config), alpha=config.alpha,
                                        power=config.power, problem=f"no {task} run in the {missing}"))
    return verdicts




class SummaryRow(BaseModel):
    task: str
    n_items: int
    repeats: int
    score_ref: float
    score_cand: float
    se_ref: float | None = None
    se_cand: float | None = None


def read_summary(path: Path) -> list[SummaryRow]:
    """A published table: `task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]`."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    rows = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        required = {"task", "n_items", "repeats", "score_ref", "score_cand"}
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise UsageError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]")
        for i, raw in enumerate(reader, start=2):
            try:
                rows.append(SummaryRow.model_validate({k: v for k, v in raw.items() if v not in (None, "")}))
            except ValueError as e:
                raise UsageError(f"{path}: line {i}: {str(e).splitlines()[1:3]}") from None
    return rows


def conservative_se(score: float, n_items: int) -> float:
    """sqrt(p(1−p)/n_items): an upper bound on the clustered SE of a mean of per-item means.

    An item's mean over K repeats of a 0/1 score has variance at most p(1−p) (the bound is
    reached when every repeat agrees), so counting items, never items × repeats, can only
    overstate the SE.
    """
    return math.sqrt(score * (1 - score) / n_items)


def gate_summary(rows: Sequence[SummaryRow], config: GateConfig) -> list[TaskVerdict]:
    """Unpaired verdicts from a summary table: Δ = cand − ref, SE = sqrt(SE_ref² + SE_cand²)."""
    out = []
    for row in rows:
        se_ref = row.se_ref if row.se_ref is not None else conservative_se(row.score_ref, row.n_items)
        se_cand = row.se_cand if row.se_cand is not None else conservative_se(row.score_cand, row.n_items)
        delta, se = row.score_cand - row.score_ref, math.hypot(se_ref, se_cand)
        margin = margin_for(row.task, config)
        half = z(config.alpha) * se
        # Unpaired, the SD of a difference of two independent per-item scores is sqrt(n)·SE.
        sd = se * math.sqrt(row.n_items)
        out.append(
            TaskVerdict(
                task=row.task,
                verdict=decide(delta, se, margin, config.alpha),
                margin=margin,
                alpha=config.alpha,
                power=config.power,
                paired=False,
                n=row.n_items,
                repeats=row.repeats,
                reference_score=row.score_ref,
                candidate_score=row.score_cand,
                delta=delta,
                se=se,
                low=delta - half,
                high=delta + half,
                mde=mde(se, config.alpha, config.power),
                items_needed=items_needed(sd, margin, config.alpha, config.power),
                note="unpaired: no per-item data, so the shared between-question variance cannot be removed"
                + ("" if row.se_ref is not None else "; SE from sqrt(p(1-p)/n_items), an upper bound when items have repeats"),
            )
        )
    return out
