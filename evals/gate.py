"""The verdict: non-inferiority of the candidate against the reference, per task (design §8).

With margin m > 0 and one-sided α, the test of `evals.inference` at Δ = −m: LOSSLESS when it
rejects Δ ≤ −m, REGRESSION when it rejects Δ ≥ −m, INCONCLUSIVE otherwise. The two-sided
1 − 2α interval printed beside it inverts the same statistic. Before any of that, every
(item, repeat) the reference's manifest expects is matched across the arms, and what an arm
failed to answer counts against the claim (`stats.match`). ERROR when the runs are not
comparable, an arm failed too often, or a score is not a number in [0, 1]: a broken run is
never LOSSLESS. Over several tasks, REGRESSION overall is Holm-adjusted across tasks.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from evals.config import GateConfig
from evals.errors import UsageError
from evals.inference import EXACT_ITEMS, Paired, clustered, critical, group_variance, holm, interval, lossless_continuity, noninferiority, summarise, variance_of_delta
from evals.power import MAX_REPEATS, items_needed_binary, items_needed_scaled, repeats_needed
from evals.records import Manifest, Record, Run
from evals.scores import pass_hat_k, z
from evals.stats import Comparison, Matched, binomial_at_most, describe, match

if TYPE_CHECKING:  # scipy's boundaries are loaded only for a sequential run
    from evals.sequential import Design

DEFAULT_MARGINS = {"gsm8k": 0.02, "gpqa_diamond": 0.03, "tau2": 0.05}
FALLBACK_MARGIN = 0.02
# What the full datasets hold, for advice that asks for more than there is.
DATASET_ITEMS = {"gsm8k": 1319, "gpqa_diamond": 198}
# Tasks scored 0 or 1 per draw: any other score there is a broken record, not partial credit
# (one 0.5 would switch the test to the partial-credit statistic, whose known limits docs/statistics.md lists).
BINARY_TASKS = {"gsm8k", "gpqa_diamond", "tau2"}


class Verdict(StrEnum):
    LOSSLESS = "LOSSLESS"
    REGRESSION = "REGRESSION"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


EXIT_CODES = {Verdict.LOSSLESS: 0, Verdict.REGRESSION: 1, Verdict.INCONCLUSIVE: 3, Verdict.ERROR: 4}


def is_binary(manifest: Manifest) -> bool:
    """Whether every score is 0 or 1 by the task's definition: our own 0/1 tasks, or a task
    whose manifest says its metric is (an lm-eval task scored by exact_match or acc). Unknown
    metrics are not assumed 0/1; the test then follows the data (`inference.summarise`)."""
    return manifest.task in BINARY_TASKS or manifest.extra.get("binary_scores") is True


def margin_for(task: str, config: GateConfig) -> float:
    return config.margins.get(task, DEFAULT_MARGINS.get(task, FALLBACK_MARGIN))


class SequentialState(BaseModel):
    """Where a sequential run stopped (`evals.sequential`)."""

    look: int  # 1-based: the look that gave the verdict
    looks: list[int]  # items at each look
    level: float  # the nominal one-sided level at that look
    stopped: str  # "LOSSLESS boundary", "REGRESSION boundary", "futility", "last look", "error", any of the first four or "last look" followed by ", with errors", "incomplete"
    generations: int  # requests both arms made (records written)
    generations_fixed: int  # what the fixed design would have made
    barred: dict[str, int] = Field(default_factory=dict)  # "LOSSLESS"/"REGRESSION": the 1-based look from which it was out of reach
    family: int = 1  # tasks gated together: REGRESSION stops the run only at the family's boundary (`Design.family_level`)
    family_level: float | None = None  # that boundary's nominal level at the look (the level itself for one task)


class TaskVerdict(BaseModel):
    task: str
    verdict: Verdict
    margin: float
    alpha: float
    power: float
    paired: bool = True
    method: str | None = None
    n: int = 0
    repeats: int = 1
    reference_score: float | None = None
    candidate_score: float | None = None
    delta: float | None = None
    se: float | None = None
    low: float | None = None
    high: float | None = None
    df: float | None = None
    p_lossless: float | None = None
    p_regression: float | None = None
    delta_answered: float | None = None  # Δ over the draws both arms answered (errors left out), for comparison
    flip_rate: float | None = None
    mde: float | None = None
    items_needed: int | None = None
    repeats_needed: int | None = None
    advice: str | None = None
    errors: dict[str, int] = Field(default_factory=dict)
    error_rates: dict[str, float] = Field(default_factory=dict)
    imputed: dict[str, int] = Field(default_factory=dict)
    invalid: dict[str, int] = Field(default_factory=dict)  # scored draws whose answer the task could not read (no number, no letter)
    problem: str | None = None  # why ERROR
    note: str | None = None
    stats: Comparison | None = None
    groups: dict[str, Comparison] = Field(default_factory=dict)
    # an lm-eval group weighted by size: its verdict pools the documents, and each member is shown beside it
    subtasks: dict[str, Comparison] = Field(default_factory=dict)
    pass_k: dict[str, dict[int, float]] = Field(default_factory=dict)
    sequential: SequentialState | None = None
    # at a sequential look: the sides this look put out of reach, and whether it stopped for futility (`sequential.decide`)
    _out_of_reach: frozenset[Verdict] = PrivateAttr(default=frozenset())
    _futile: bool = PrivateAttr(default=False)



def overall(verdicts: Sequence[TaskVerdict]) -> Verdict:
    """LOSSLESS needs every task to pass (an intersection–union test: no correction needed).
    REGRESSION overall needs a task whose regression survives Holm's adjustment across tasks,
    so that the family-wise chance of a false REGRESSION stays at α; then ERROR, INCONCLUSIVE."""
    if not verdicts:
        return Verdict.ERROR
    # every task is in Holm's family, an errored one with p = 1: an ERROR beside it must not make a REGRESSION easier
    alpha = min(v.alpha for v in verdicts)
    p_values = [_holm_p(v) for v in verdicts]
    if any(holm(p_values, alpha)):
        return Verdict.REGRESSION
    for worst in (Verdict.ERROR, Verdict.INCONCLUSIVE):
        if any(v.verdict == worst for v in verdicts):
            return worst
    if any(v.verdict == Verdict.REGRESSION for v in verdicts):
        return Verdict.INCONCLUSIVE  # a task regressed on its own, but not once adjusted for the number of tasks
    return Verdict.LOSSLESS


def _holm_p(v: TaskVerdict) -> float:
    """The p-value a task brings to Holm's family; a sequential look's nominal p is scaled by α over
    the look's level, so that the task alone rejects exactly when its look did."""
    if v.verdict == Verdict.ERROR or v.p_regression is None or not math.isfinite(v.p_regression):
        return 1.0
    if v.sequential and Verdict.REGRESSION.value in v.sequential.barred:  # its p may be small, but REGRESSION was out of reach
        return 1.0
    if v.sequential is None:
        return v.p_regression
    from evals.sequential import holm_p

    s = v.sequential
    return float(holm_p(v.p_regression, v.alpha / s.family, s.level if s.family_level is None else s.family_level))


COMPARED = ("task", "task_version", "task_config", "dataset_fingerprint", "prompt_fingerprint", "sampling")
# Manifest `extra` keys that must match too: tau2's user simulator; lm-eval's version, resolved
# task config and per-document request fingerprints (evals.tasks.lm_eval_harness).
PAIRED_EXTRAS = ("user_simulator", "sequential", "lm_eval_version", "lm_eval_config_hash", "metric", "request_fingerprints")


def mismatch(reference: Manifest, candidate: Manifest) -> str | None:
    """Name what differs between two runs that must match to be paired."""
    pairs = [(name, getattr(reference, name), getattr(candidate, name)) for name in COMPARED]
    # engines and libraries that put more into the manifest say so in `extra`
    pairs += [(name, reference.extra.get(name), candidate.extra.get(name)) for name in PAIRED_EXTRAS]
    diffs = [_difference(name, a, b) for name, a, b in pairs if a != b]
    return "runs are not comparable: different " + "; ".join(diffs) if diffs else None


def _difference(name: str, a: object, b: object) -> str:
    """One field's difference, short: the differing keys of a mapping (their values when few), else both values cut."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if len(keys) <= 3 and all(len(repr(a.get(k))) + len(repr(b.get(k))) <= 120 for k in keys):
            return f"{name} ({', '.join(f'{k}: {a.get(k)!r} vs {b.get(k)!r}' for k in keys)})"
        return f"{name} ({len(keys)} differ, first {keys[0]})"
    return f"{name} ({str(a)[:40]!r} vs {str(b)[:40]!r})"


def error_rate(manifest: Manifest, records: Sequence[Record]) -> tuple[int, float]:
    """Draws without a standing score, and their share of what the manifest expects.

    The model's own failures (tau2's agent errors) stand as scored zeros: they are results,
    not infrastructure errors, and never count here."""
    expected_keys = len(manifest.repeats) * manifest.items
    wanted = set(manifest.repeats)
    standing = len({r.key for r in records if r.counts and r.repeat in wanted})
    failed = max(expected_keys - standing, 0)
    return failed, failed / max(expected_keys, 1)


def invalid_answers(manifest: Manifest, records: Sequence[Record]) -> tuple[int, float]:
    """Scored draws whose answer the task could not read (`Record.invalid`), and their share of what
    the manifest expects.

    A reference that gave no readable answer is not evidence that the candidate lost nothing: a
    serving config that files every answer under `reasoning_content` (vLLM's reasoning parser with
    thinking off) does it to both arms, and 0 against 0 on every item was a tight LOSSLESS. The
    candidate's unreadable answers stay scored failures: they count against it already."""
    wanted = set(manifest.repeats)
    invalid = len({r.key for r in records if r.counts and r.invalid and r.repeat in wanted})
    return invalid, invalid / max(len(manifest.repeats) * manifest.items, 1)


def unread_where_the_other_read(manifest: Manifest, reference: Sequence[Record], candidate: Sequence[Record]) -> tuple[int, int]:
    """Scored draws the reference's answer could not be read on where the candidate's could, and the
    other way round.

    A reference unreadable where the candidate is not hands the candidate wins: an independent
    review's reference, unreadable on 25% of its draws, let a candidate that lost 10% of its
    answers say LOSSLESS. Both arms alike unreadable is the task's format (lm-eval's strict-match on
    a chat model), not a serving fault, and is left to `max_invalid_rate`."""
    wanted = set(manifest.repeats)
    ref = {r.key: r.invalid for r in reference if r.counts and r.repeat in wanted}
    cand = {r.key: r.invalid for r in candidate if r.counts and r.repeat in wanted}
    shared = ref.keys() & cand.keys()
    return sum(1 for k in shared if ref[k] and not cand[k]), sum(1 for k in shared if cand[k] and not ref[k])


UNREAD_ALPHA = 0.001  # the level at which a reference unreadable where the candidate is not is taken as a serving fault


def unreadable(manifest: Manifest, reference: Sequence[Record], candidate: Sequence[Record], config: GateConfig) -> str | None:
    """Why the reference's unreadable answers leave no verdict: too many of them (`max_invalid_rate`),
    or more than the candidate's on the same draws, beyond chance and beyond `max_error_rate`."""
    invalid, share = invalid_answers(manifest, reference)
    if share > config.max_invalid_rate:
        lm_eval = "; an lm-eval task scores its first filter unless `metric` names another (`metric = \"exact_match,flexible-extract\"`)" if manifest.task.startswith("lm-eval:") else ""
        return (f"the reference gave no answer the task could read on {share:.0%} of its draws ({invalid}; max_invalid_rate "
                f"{config.max_invalid_rate:.0%}): check its serving config (a reasoning parser filing the answer under reasoning_content, "
                f"the chat template, stop sequences), or the task's answer format{lm_eval}")
    ref_only, cand_only = unread_where_the_other_read(manifest, reference, candidate)
    if (ref_only - cand_only) / max(manifest.items * len(manifest.repeats), 1) > config.max_error_rate and binomial_at_most(cand_only, ref_only + cand_only) < UNREAD_ALPHA:  # an exact sign test: P(as many reference-only or more)
        return (f"the reference's answer could not be read on {ref_only} draws where the candidate's could, against {cand_only} the other way: "
                "the two answer in different forms (the serving: a reasoning parser filing the answer under reasoning_content, the chat "
                "template, stop sequences; or the model's own format), and each of those would count as a win of the candidate")
    return None


def bad_score(records: Sequence[Record], binary: bool = False) -> str | None:
    """The first score that is not a number in [0, 1] (or not 0 or 1 on a 0/1 task), named."""
    for r in records:
        if r.counts and not (math.isfinite(r.score) and 0.0 <= r.score <= 1.0):
            return f"item {r.item_id} repeat {r.repeat} has score {r.score!r}, not a number in [0, 1]"
        if r.counts and binary and r.score not in (0.0, 1.0):
            return f"item {r.item_id} repeat {r.repeat} has score {r.score!r} on a 0/1 task"
    return None


def _group_data(matched: Matched) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Per-group score matrices when every item has a group (tau2's domains); items that neither
    arm recorded, or recorded only as errors that name no group, go to the smallest group, where a
    failure weighs most. (Taking such an item as ungrouped turned a macro into a pooled test: one
    reference error in a macro that was INCONCLUSIVE gave a pooled LOSSLESS, an independent review.)"""
    named = {g for g in matched.groups if g is not None}
    if len(named) < 2:  # one group is the task itself: its own test, with the exact critical value a macro has not
        return None
    if any(g is None and not (item.startswith("(never recorded") or item in matched.unscored) for g, item in zip(matched.groups, matched.items)):
        return None
    sizes = {g: sum(1 for x in matched.groups if x == g) for g in named}
    smallest = min(sorted(sizes), key=lambda g: sizes[g])
    labels = np.array([g if g is not None else smallest for g in matched.groups])
    return {g: (matched.reference[labels == g], matched.candidate[labels == g]) for g in sorted(named)}


def _subtask_rows(matched: Matched, margin: float, alpha: float) -> dict[str, Comparison]:
    """Each subtask's comparison when the pooled items come from several (an lm-eval group that
    weights by size, whose aggregate is the pooled mean): rows to read, not verdicts."""
    names = sorted({s for s in matched.subtasks if s is not None})
    if len(names) < 2:
        return {}
    labels = np.array([s or "" for s in matched.subtasks])
    out = {}
    for name in names:
        r, c = matched.reference[labels == name], matched.candidate[labels == name]
        out[name] = describe(r, c, math.sqrt(float(variance_of_delta(summarise(r, c), -margin)[0])), alpha)
    return out


def gate_runs(
    reference: tuple[Manifest, Sequence[Record]],
    candidate: tuple[Manifest, Sequence[Record]],
    config: GateConfig,
    family: int = 1,
) -> TaskVerdict:
    """The verdict on two runs of one task, one of `family` tasks gated together; a sequential run is
    judged at the look where it stopped."""
    if reference[0].extra.get("sequential") is None and candidate[0].extra.get("sequential") is None:
        return _gate(reference, candidate, config)
    return gate_looks(reference, candidate, config, family=family)[0]


Arm = tuple[Manifest, Sequence[Record]]


def gate_looks(reference: Arm, candidate: Arm, config: GateConfig, live: bool = False, family: int = 1) -> tuple[TaskVerdict, bool]:
    """A sequential run's verdict and whether a look decided it (what the runner asks at each look,
    `live`), the task one of `family` gated together.

    Looks are taken in order up to the furthest either arm has reached; a look where both arms hold
    a standing answer for every (item, repeat) is judged: the first that crosses a boundary, is
    futile or is ERROR (runs not comparable, a bad score) gives the verdict, as does the last. A
    macro over groups is judged at the last look only: an early look may hold none of a small
    group's items, and the macro over the groups it does hold is not the one the margin is about.

    A look with an error or a missing answer in it is judged as the same run with those answers
    wrong would be: errors count against the candidate, in its bars (an error must not keep open a
    verdict that a wrong answer there would have put out of reach: an independent review's run
    ended LOSSLESS with an error where it was barred answered) and in its verdict, so the first
    look that decides with them gives the verdict (judged at the last look instead, a run with an
    error ended INCONCLUSIVE where the run with a wrong answer in its place stopped at REGRESSION).
    The run stops there once the errors are within the limit: at the first look from there on
    whose error rate is within `max_error_rate` and, while the run is live, whose every draw has a
    record (a missing answer there is in flight, or an earlier run's error being retried). On saved
    runs a missing answer counts as an error there too (a line a crash tore out of a run that
    stopped at REGRESSION made it an ERROR at 50%, the unsent looks counted as errors). Before,
    a look holding an error never stopped the run, so one timeout made the run spend every look (a
    saved baseline's error, every candidate run against it). A rerun retries the errors and judges
    the looks again: one transient failure is not locked in.

    A run that ends with errors, or is interrupted between looks, is ERROR if its error rate over
    the whole run is over the limit; else the first look that decides with the errors and missing
    answers counted against the candidate gives the verdict; failing that, the last look's level
    on everything its manifest expects, the missing answers and the errors counted against the
    candidate.

    Beside other tasks, REGRESSION stops a run only at the family's boundary (`Design.family_level`,
    the design spending α over the number of tasks). A look that says REGRESSION short of it gives
    the task its own verdict, and the run goes on for the family's: stopped there, a task one
    answer worse, which says REGRESSION a look earlier, brought its earlier look's p-value to
    Holm's adjustment, larger than the later look's of the better task, and the overall verdict fell
    from REGRESSION to INCONCLUSIVE (an independent review; `test_sequential` keeps such a pair).
    Now a worse task runs at least as far as the better one toward the family's boundary, and
    crosses it no later."""
    (ref_m, ref_r), (cand_m, cand_r) = reference, candidate
    plan = ref_m.extra.get("sequential")
    if plan is None or plan != cand_m.extra.get("sequential"):
        return _gate(reference, candidate, config), True  # mismatch() names the difference
    from evals.sequential import Design

    design = Design.from_manifest(plan)
    order: list[str] = list(plan["order"])
    repeats = set(ref_m.repeats)
    fixed = 2 * ref_m.items * len(ref_m.repeats)

    def state(look: int, stopped: str) -> SequentialState:
        return SequentialState(look=look + 1, looks=list(design.sizes), level=design.level(look), stopped=stopped,
                               generations=len({r.key for r in ref_r}) + len({r.key for r in cand_r}), generations_fixed=fixed,
                               barred={side.value: at + 1 for side, at in barred_at.items() if at <= look},
                               family=family, family_level=design.family_level(look, family))

    def settle(verdict: TaskVerdict, look: int, stopped: str) -> TaskVerdict:
        """The verdict where the run stopped, unless it said REGRESSION short of the family's boundary
        earlier: that is its own verdict (LOSSLESS was out of reach from there), whatever a later
        look short of REGRESSION says."""
        if alone is None or verdict.verdict in (Verdict.REGRESSION, Verdict.ERROR):
            verdict.sequential = state(look, stopped)
            return verdict
        own, at = alone
        own.errors, own.error_rates = verdict.errors, verdict.error_rates  # the rates the limit was taken on
        own.sequential = state(at, f"REGRESSION boundary, short of the family's ({family} tasks); on to look {look + 1}: {stopped}")
        return own

    outside = {r.item_id for r in (*ref_r, *cand_r)} - set(order)
    if outside or len(order) != ref_m.items:
        verdict = _gate(reference, candidate, config)
        verdict.verdict, verdict.problem = Verdict.ERROR, f"the records hold {len(outside)} items outside the sequential order of {len(order)} items"
        return verdict, True
    standing = [{r.key for r in records if r.repeat in repeats and r.counts} for records in (ref_r, cand_r)]
    held = [{r.key for r in records if r.repeat in repeats} for records in (ref_r, cand_r)]  # answered or errored: no hole
    rank = {item: k for k, item in enumerate(order)}
    # the run has reached a look once either arm holds a record of it or beyond: a look reached but not
    # held whole has a hole, a missing answer counted as an error, not a look still to come
    furthest = max((rank[r.item_id] for r in (*ref_r, *cand_r) if r.repeat in repeats), default=-1)
    grouped = any(r.details.get("group") is not None for r in (*ref_r, *cand_r))
    barred_at: dict[Verdict, int] = {}  # the look at which LOSSLESS or REGRESSION went out of reach (`sequential.decide`)
    pending: tuple[TaskVerdict, int, str] | None = None  # the first look holding an error that would decide (verdict, look, why)
    alone: tuple[TaskVerdict, int] | None = None  # the first look that said REGRESSION short of the family's boundary
    # the limits are taken where the run stops (`within`), or over the whole run at the end: an early look's share is noisy
    at_look = config.model_copy(update={"max_error_rate": 1.0, "max_invalid_rate": 1.0})
    reached: int | None = None  # the last look the runs reached, when they end before the last
    for look, size in enumerate(design.sizes):
        last = look == len(design.sizes) - 1
        keep = set(order[:size])
        keys = {(i, rep) for i in keep for rep in repeats}
        if furthest < (design.sizes[look - 1] if look else 0):
            reached = look - 1
            break
        judged = all(keys <= h for h in standing)  # else an error or a hole: its bars only
        if grouped and not last:
            continue
        subset = ref_m.model_copy(update={"items": size})
        arms = [(subset, [r for r in records if r.item_id in keep]) for records in (ref_r, cand_r)]
        verdict = _gate(arms[0], (cand_m.model_copy(update={"items": size}), arms[1][1]), at_look, design, look, barred_at)
        readable = unreadable(subset, *(records for _, records in arms), config) is None  # else on to the whole run's
        short = (verdict.verdict == Verdict.REGRESSION and not last and verdict.p_regression is not None
                 and not verdict.p_regression <= design.family_level(look, family))
        if short and readable and alone is None and pending is None:  # a look with errors decided first: it gives the verdict
            alone = verdict, look
        decides = (verdict.verdict != Verdict.INCONCLUSIVE and not short) or verdict._futile or last
        if readable and (not decides or verdict.verdict == Verdict.INCONCLUSIVE):  # a verdict said here bars the other side, but says so itself
            for side in verdict._out_of_reach - barred_at.keys():  # not a look of unreadable answers: 0 against 0 there bars nothing
                barred_at[side] = look
        stopped = {Verdict.LOSSLESS: "LOSSLESS boundary", Verdict.REGRESSION: "REGRESSION boundary", Verdict.ERROR: "error"}.get(verdict.verdict, "futility" if verdict._futile else "last look")
        if judged and decides and readable:
            return settle(verdict, look, stopped), True
        if pending is None and not last and decides and readable and verdict.verdict != Verdict.ERROR:
            pending = verdict, look, stopped
        within = verdict.verdict != Verdict.ERROR and readable and all(rate <= config.max_error_rate for rate in verdict.error_rates.values())
        if pending is not None and not last and within and (not live or all(keys <= h for h in held)):
            # the errors so far are within the limit: stop here rather than spend every look on them
            decided, at, why = pending
            decided.errors, decided.error_rates = verdict.errors, verdict.error_rates
            return settle(decided, at, f"{why}, with errors"), True
    if alone is not None and reached is not None:
        # the runs end after the task's own REGRESSION, short of the family's boundary (a run that stopped
        # there as one task, or was interrupted): its looks never sent are not errors (an independent
        # review: beside a second task, a run that stopped at its own REGRESSION was ERROR, 75% missing)
        size = design.sizes[reached]
        keep = set(order[:size])
        subset = ref_m.model_copy(update={"items": size})
        verdict = _gate((subset, [r for r in ref_r if r.item_id in keep]), (cand_m.model_copy(update={"items": size}), [r for r in cand_r if r.item_id in keep]),
                        config, design, reached, barred_at)
        if verdict.verdict == Verdict.ERROR:
            verdict.sequential = state(reached, "error")
            return verdict, False
        own, at = alone
        own.errors, own.error_rates = verdict.errors, verdict.error_rates
        own.sequential = state(at, f"REGRESSION boundary, short of the family's ({family} tasks); the runs end at look {reached + 1}")
        return own, False
    verdict = _gate(reference, candidate, config, design, len(design.sizes) - 1, barred_at)
    every = {(i, rep) for i in order for rep in repeats}
    ended = all(every <= {r.key for r in records} for records in (ref_r, cand_r))
    look, stopped = len(design.sizes) - 1, "last look"
    if pending is not None and verdict.verdict != Verdict.ERROR:
        whole = verdict
        verdict, look, stopped = pending
        verdict.errors, verdict.error_rates = whole.errors, whole.error_rates  # the rates the limit was taken on
    return settle(verdict, look, f"{stopped}, with errors" if ended else "incomplete"), False


FUTILITY_NOTE = "stopped for futility"
OUT_OF_REACH_NOTE = "out of reach"


def _gate(
    reference: Arm,
    candidate: Arm,
    config: GateConfig,
    design: Design | None = None,
    look: int = 0,
    barred_at: dict[Verdict, int] | None = None,
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
    for arm, (m, r) in {"reference": (ref_m, ref_r), "candidate": (ref_m, cand_r)}.items():
        base.errors[arm], base.error_rates[arm] = error_rate(m, r)
    if problem is None and ref_m.items < 1:
        problem = "the reference's manifest expects no items"
    if problem is None and not ref_m.repeats:
        problem = "the reference's manifest expects no repeats"
    if problem is None:
        over = [f"{arm} {rate:.1%}" for arm, rate in base.error_rates.items() if rate > config.max_error_rate]
        if over:
            problem = f"error rate over max_error_rate {config.max_error_rate:.1%}: {', '.join(over)}"
    for arm, (m, r) in {"reference": (ref_m, ref_r), "candidate": (ref_m, cand_r)}.items():
        base.invalid[arm], _ = invalid_answers(m, r)
    problem = problem or unreadable(ref_m, ref_r, cand_r, config)
    binary = is_binary(ref_m)
    unclean = next((f"{arm}: {bad}" for arm, records in (("reference", ref_r), ("candidate", cand_r)) if (bad := bad_score(records, binary))), None)
    problem = problem or unclean
    unexpected = len({r.item_id for r in (*ref_r, *cand_r) if r.repeat in set(ref_m.repeats)}) - ref_m.items
    if problem is None and unexpected > 0:  # records the manifest does not account for must not pad the pairing
        problem = f"the records hold {unexpected} more items than the reference's manifest expects ({ref_m.items})"
    if ref_m.items < 1 or not ref_m.repeats or unclean:
        base.problem = problem
        return base

    matched = match(ref_r, cand_r, ref_m.items, ref_m.repeats)
    base.imputed = matched.imputed
    base.delta_answered = matched.delta_answered
    base.n, base.repeats = len(matched.items), len(matched.repeats)
    _decide(base, matched, config, design, look, barred_at)
    named = sorted({g for g in matched.groups if g is not None})
    if named:  # pass^k macro over groups too, as tau2's leaderboard reports it (errored trials as failures); one domain is a macro of one here
        base.pass_k = {
            arm: {k: float(np.mean([pass_hat_k([r for r in records if r.details.get("group") == g], k) for g in named])) for k in range(1, base.repeats + 1)}
            for arm, records in (("reference", ref_r), ("candidate", cand_r))
        }
    if problem is not None:  # the numbers stay on show; the verdict does not stand
        base.verdict, base.problem, base.advice = Verdict.ERROR, problem, None
    return base


def _decide(base: TaskVerdict, matched: Matched, config: GateConfig, design: Design | None = None, look: int = 0,
            barred_at: dict[Verdict, int] | None = None) -> TaskVerdict:
    """The verdict of aligned, imputed score matrices: the test, its interval, the advice. At a
    sequential look the test runs at the look's nominal level and the interval is the repeated
    confidence interval at that level (Jennison & Turnbull 1989), so it still agrees with the
    verdict, except where a side was barred at an earlier look (`sequential.decide`; a note says so)."""
    margin = base.margin
    alpha = design.level(look) if design is not None else config.alpha
    groups = _group_data(matched)
    data: Paired | list[Paired]
    if groups:
        parts = {g: summarise(r, c) for g, (r, c) in groups.items()}
        data = list(parts.values())
        base.groups = {g: describe(r, c, math.sqrt(float(variance_of_delta(parts[g], -margin)[0])), alpha) for g, (r, c) in groups.items()}
        base.method = f"macro over {len(data)} groups: Δ = mean of the groups' Δ, t with the smallest group's df"
        base.reference_score = float(np.mean([g.reference.mean for g in base.groups.values()]))
        base.candidate_score = float(np.mean([g.candidate.mean for g in base.groups.values()]))
    else:
        data = summarise(matched.reference, matched.candidate)
        base.method = _method(data)
        base.subtasks = _subtask_rows(matched, margin, alpha)
    barred_at = barred_at or {}
    futile, out_of_reach = False, {Verdict.LOSSLESS: False, Verdict.REGRESSION: False}
    if design is None:
        test = noninferiority(data, margin, alpha)
    else:
        from evals.sequential import decide

        at_look = decide(data, margin, design, look, Verdict.LOSSLESS in barred_at, Verdict.REGRESSION in barred_at)
        test, futile = at_look.test, bool(at_look.futile)
        out_of_reach = {Verdict.LOSSLESS: bool(at_look.lossless_out_of_reach), Verdict.REGRESSION: bool(at_look.regression_out_of_reach)}
        base._out_of_reach, base._futile = frozenset(side for side, out in out_of_reach.items() if out), futile
    t, df = float(test.statistic), float(test.df)
    delta = float(np.mean([g.delta for g in data])) if isinstance(data, list) else float(data.delta)
    shifted = delta + margin - lossless_continuity(data)  # what T(−m) divides by the SE
    se = abs(shifted) / abs(t) if math.isfinite(t) and t != 0 else _se_at_margin(data, margin)
    overall_desc = describe(matched.reference, matched.candidate, se, alpha)
    base.stats = overall_desc
    if not groups:
        base.reference_score, base.candidate_score = overall_desc.reference.mean, overall_desc.candidate.mean
    base.flip_rate = overall_desc.flip_rate
    base.delta, base.se, base.df = delta, se, df
    base.p_lossless, base.p_regression = float(test.p_lossless), float(test.p_regression)
    if not math.isfinite(t):
        base.verdict = Verdict.INCONCLUSIVE
        base.note = _join(base.note, "no variation between the arms to estimate a standard error from (scores that are not 0/1, all alike)")
        return base
    base.low, base.high = interval(data, alpha, margin)
    said = {Verdict.LOSSLESS: bool(test.lossless), Verdict.REGRESSION: bool(test.regression)}
    base.verdict = next((side for side, yes in said.items() if yes and side not in barred_at), Verdict.INCONCLUSIVE)
    base.mde = (float(critical(alpha, df)) + z(1 - config.power)) * se  # the test's own quantile: t with its df (a macro's smallest group's)
    for side, other in ((Verdict.LOSSLESS, Verdict.REGRESSION), (Verdict.REGRESSION, Verdict.LOSSLESS)):
        if side in barred_at:
            base.note = _join(base.note, f"{side.value} {OUT_OF_REACH_NOTE} since look {barred_at[side] + 1}: its predictive power at the last look fell under "  # type: ignore[union-attr]
                              f"{design.futility:.0%} there, and the run went on toward {other.value} only" + (f"; this look's test alone would say {side.value}" if said[side] else ""))  # type: ignore[union-attr]
        elif out_of_reach[side] and base.verdict == Verdict.INCONCLUSIVE:
            base.note = _join(base.note, f"{side.value} {OUT_OF_REACH_NOTE} from look {look + 1} of {len(design.sizes)}: its predictive power at the last look is "  # type: ignore[union-attr]
                              f"under {design.futility:.0%}" + ("" if futile else f"; the run goes on toward {other.value} only"))  # type: ignore[union-attr]
    if futile:
        base.note = _join(base.note, f"{FUTILITY_NOTE} at look {look + 1} of {len(design.sizes)}: both LOSSLESS and REGRESSION are out of reach")  # type: ignore[union-attr]
    if matched.imputed["reference"] or matched.imputed["candidate"]:
        base.note = _join(base.note, f"errors and missing answers counted against the candidate: {matched.imputed['candidate']} candidate draws as failures, "
                          f"{matched.imputed['reference']} reference draws as successes; Δ as answered (errors left out) = {base.delta_answered:+.4f}")
    if base.verdict == Verdict.REGRESSION and _few_items(data):
        base.note = _join(base.note, FEW_ITEMS_NOTE)
    if base.verdict == Verdict.INCONCLUSIVE:
        _advise(base, data, matched)
    return base


# docs/statistics.md, section 4 and the known limits: with repeats, false REGRESSION at a true Δ of −m rises above
# α + 0.5 point where the candidate's gains sit on items the reference always fails: a task on 20 to 64 items (on 100
# and 200 within), a macro whose smallest group holds 20 or 30 items beside 300s (10 to 15 beside 50 to 200, and 50 beside 114s, within)
FEW_ITEMS, FEW_GROUP_ITEMS = 200, 50
FEW_ITEMS_NOTE = (f"with repeats on few items (fewer than {FEW_ITEMS} in a task, or {FEW_GROUP_ITEMS} in a macro's smallest group) a REGRESSION can be "
                  "a false alarm more often than α + 0.5 point where the candidate's gains sit on items the reference always fails "
                  "(docs/statistics.md, known limits)")


def _few_items(data: Paired | list[Paired]) -> bool:
    if isinstance(data, list):
        return any(g.repeats > 1 for g in data) and min(g.n for g in data) < FEW_GROUP_ITEMS
    return clustered(data) and data.n < FEW_ITEMS


def _method(data: Paired) -> str:
    exact = " (LOSSLESS: at least the exact value of items decided outright)" if data.repeats > 1 and 2 <= data.n <= EXACT_ITEMS else ""
    if not data.binary:
        return f"partial credit: the score statistic over Σ max(r − c, 0), Σ max(c − r, 0) (scores not all 0/1; see the known limits){exact}"
    if data.repeats == 1:
        return "Tango score interval for paired proportions"
    bounds = "; LOSSLESS also needs that floor over every candidate made better above −m; REGRESSION, the t bound over every candidate made worse and Tango's over all draws below −m" if data.n > 1 else ""
    return f"score statistic over {data.repeats} draws per item, design effect (Rao–Scott seen, K unseen, at least items broken outright), t with {data.n - 1} df{exact}{bounds}"


def _se_at_margin(data: Paired | list[Paired], margin: float) -> float:
    groups = data if isinstance(data, list) else [data]
    part = group_variance if isinstance(data, list) else variance_of_delta  # a macro's tiny group: bounded, as in its test
    return math.sqrt(sum(float(part(g, -margin)[0]) for g in groups)) / len(groups)


def _join(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more


def _advise(base: TaskVerdict, data: Paired | list[Paired], matched: Matched) -> None:
    """Items (or repeats) needed for `power` at the observed Δ and discordance, and the ways out
    when that is more than the dataset holds."""
    margin, alpha, power = base.margin, base.alpha, base.power
    simulated = 0
    if isinstance(data, Paired) and data.binary and data.repeats == 1:
        base.items_needed = items_needed_binary(float(data.worse) / data.n, float(data.better) / data.n, margin, alpha, power)
    else:
        base.items_needed = items_needed_scaled(data, margin, alpha, power)
        if matched.reference.shape[1] > 1:
            groups = _group_data(matched)
            pairs = list(groups.values()) if groups else [(matched.reference, matched.candidate)]
            base.repeats_needed, simulated = repeats_needed(pairs, isinstance(data, list), margin, alpha, power)
    goal = "LOSSLESS" if (base.delta or 0) > -margin else "REGRESSION"
    available = DATASET_ITEMS.get(base.task)
    if base.items_needed is None:
        need = "no amount of data would decide it: the observed Δ is at the margin"
    else:
        need = f"about {base.items_needed:,} items would decide it ({goal} with {power:.0%} power if the true Δ is the observed {base.delta:+.4f})"
        if available is not None and base.items_needed > available:
            need += f", more than the {available:,} the dataset has"
    repeated = matched.reference.shape[1] > 1
    if base.repeats_needed:
        need += f"; or {base.repeats_needed} repeats per item on these items"
    elif repeated and simulated == MAX_REPEATS:
        need += f"; at the draws observed, no number of repeats up to {MAX_REPEATS} on these items would"
    elif repeated:
        need += f"; {f'repeats beyond {simulated}' if simulated else 'repeats'} were not simulated (too many items)"
    # repeats are a way out where none were tried, or not all: where they were, the line above said what they would do
    ways = ("" if repeated and simulated == MAX_REPEATS else "repeats at temperature > 0, ") + "a larger margin set before looking, or more tasks"
    too_many = base.items_needed is None or (available is not None and base.items_needed > available)
    base.advice = need + (f"; ways out: {ways}" if too_many and not base.repeats_needed else "")


def gate_saved(reference: dict[str, Run], candidate: dict[str, Run], config: GateConfig, family: int | None = None) -> list[TaskVerdict]:
    """Every task of two saved runs; a task present in one only is an ERROR naming the side that lacks it.
    `family`: the tasks in the overall verdict (Holm's family), if more than these (a baseline's tasks that
    failed their digests are ERRORs beside them)."""
    verdicts = []
    tasks = sorted(reference.keys() | candidate.keys())
    for task in tasks:
        if task in reference and task in candidate:
            verdicts.append(gate_runs(reference[task], candidate[task], config, family=max(family or 0, len(tasks))))
        else:
            missing = "candidate" if task in reference else "reference"
            verdicts.append(TaskVerdict(task=task, verdict=Verdict.ERROR, margin=margin_for(task, config), alpha=config.alpha,
                                        power=config.power, problem=f"no {task} run in the {missing}"))
    return verdicts


class SummaryRow(BaseModel):
    task: str
    n_items: int = Field(ge=1)
    repeats: int = Field(ge=1)
    score_ref: float = Field(ge=0, le=1)
    score_cand: float = Field(ge=0, le=1)
    se_ref: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    se_cand: float | None = Field(default=None, ge=0, allow_inf_nan=False)


SUMMARY_COLUMNS = "task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]"


def read_summary(path: Path) -> list[SummaryRow]:
    """A published table: `task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]`, scores as fractions."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file; expected a CSV table ({SUMMARY_COLUMNS})")
    try:
        text = path.read_text(encoding="utf-8-sig")  # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}); save the table as CSV UTF-8") from None
    rows = []
    seen: dict[str, int] = {}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    required = {"task", "n_items", "repeats", "score_ref", "score_cand"}
    missing = required - set(reader.fieldnames or [])
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected {SUMMARY_COLUMNS}")
    for i, raw in enumerate(reader, start=2):
        values = {k: v.strip() for k, v in raw.items() if k is not None and v not in (None, "")}
        try:
            row = SummaryRow.model_validate(values)
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            got = values.get(field)
            hint = ""
            if field in ("score_ref", "score_cand") and got is not None and _is_percent(got):
                hint = " (this looks like a percentage: write scores as fractions, 96.5 -> 0.965)"
            raise UsageError(f"{path}: line {i}: {field}: {first['msg']} (got {got!r}){hint}") from None
        if row.task in seen:  # two verdicts on one task would also enter Holm's family twice
            raise UsageError(f"{path}: line {i}: task {row.task!r} again (first on line {seen[row.task]}); one row per task")
        seen[row.task] = i
        rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no rows; expected {SUMMARY_COLUMNS}")
    return rows


def _is_percent(text: str) -> bool:
    try:
        return 1 < float(text) <= 100
    except ValueError:
        return False


def _unpaired_interval(row: SummaryRow, alpha: float) -> tuple[float, float]:
    """The two-sided 1 − 2α interval of score_cand − score_ref.

    With published SEs, the Wald interval on them. Without, Newcombe's hybrid score interval
    (Newcombe 1998, Stat Med 17:873–890, method 10) from two Wilson intervals over n_items
    each: never of zero width at scores of 0 or 1, and counting items rather than items ×
    repeats, whose per-item means vary no more than p(1−p), it can only be too wide.
    """
    delta = row.score_cand - row.score_ref
    if row.se_ref and row.se_cand:
        half = z(alpha) * math.hypot(row.se_ref, row.se_cand)
        return delta - half, delta + half
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,  # only for a summary table; it costs a second to import
    )

    low, high = confint_proportions_2indep(row.score_cand * row.n_items, row.n_items, row.score_ref * row.n_items, row.n_items,
                                           method="newcomb", compare="diff", alpha=2 * alpha)
    return float(low), float(high)


def _unpaired_p_regression(row: SummaryRow, margin: float) -> float:
    """The smallest α at which the interval's upper bound falls below −m (for Holm across tasks)."""
    if row.score_cand - row.score_ref >= -margin:
        return 1.0
    excess = lambda a: _unpaired_interval(row, a)[1] + margin
    if excess(1e-12) < 0:
        return 1e-12
    if excess(0.4999) >= 0:  # the gap is the margin, to floating point: nothing rejects
        return 0.5
    from scipy import optimize

    return float(optimize.brentq(excess, 1e-12, 0.4999))


def gate_summary(rows: Sequence[SummaryRow], config: GateConfig) -> list[TaskVerdict]:
    """Unpaired verdicts from a summary table: Δ = cand − ref and an interval for independent samples."""
    out = []
    for row in rows:
        margin, alpha = margin_for(row.task, config), config.alpha
        delta = row.score_cand - row.score_ref
        low, high = _unpaired_interval(row, alpha)
        verdict = Verdict.LOSSLESS if low > -margin else Verdict.REGRESSION if high < -margin else Verdict.INCONCLUSIVE
        se = (high - low) / (2 * z(alpha))
        v = TaskVerdict(
            task=row.task,
            verdict=verdict,
            margin=margin,
            alpha=alpha,
            power=config.power,
            paired=False,
            method="Wald on the published SEs" if row.se_ref and row.se_cand else "Newcombe hybrid score interval, unpaired",
            n=row.n_items,
            repeats=row.repeats,
            reference_score=row.score_ref,
            candidate_score=row.score_cand,
            delta=delta,
            se=se,
            low=low,
            high=high,
            p_regression=_unpaired_p_regression(row, margin),
            mde=(z(alpha) + z(1 - config.power)) * se,
            note="unpaired: no per-item data, so the shared between-question variance cannot be removed; "
            "items counted once whatever the repeats, which can only widen the interval",
        )
        if verdict == Verdict.INCONCLUSIVE:
            _advise_unpaired(v, row)
        out.append(v)
    return out


def _advise_unpaired(v: TaskVerdict, row: SummaryRow) -> None:
    """Items per arm for `power` at the observed scores (normal approximation), and what else would do."""
    gap = row.score_cand - row.score_ref + v.margin
    spread = row.score_ref * (1 - row.score_ref) + row.score_cand * (1 - row.score_cand)
    if abs(gap) < 1e-12:
        v.advice = "no amount of unpaired data would decide it at these scores; run both endpoints on the same items (evals compare)"
        return
    if spread == 0:  # the observed Δ may be far from −m, but a variance of 0 gives no number of items
        v.advice = "both scores are 0 or 1, where the normal approximation gives no number of items; run both endpoints on the same items (evals compare)"
        return
    v.items_needed = int(math.ceil((z(v.alpha) + z(1 - v.power)) ** 2 * spread / gap**2))
    available = DATASET_ITEMS.get(v.task)
    v.advice = f"about {v.items_needed:,} items per arm unpaired would decide it at {v.power:.0%} power if the observed scores are the truth"
    if available is not None and v.items_needed > available:
        v.advice += f", more than the {available:,} the dataset has"
    v.advice += "; a paired run of both endpoints on the same items (evals compare) needs far fewer"
