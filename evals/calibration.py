"""How often the gate is wrong, measured worst case first: `python -m evals.calibration`.

Prints the tables of docs/statistics.md. Every verdict counted here comes from
`inference.noninferiority`, the function `gate.gate_runs` decides with, fed whole batches of
simulated or enumerated comparisons at once; and for a sample of those comparisons — the
cells next to the LOSSLESS boundary, where a disagreement would matter — the records are
built and `gate_runs` itself is asked, and must agree.

1. 0/1 items, one repeat (GSM8K): the false-LOSSLESS rate at a true Δ of exactly −m, exact,
   by summing the multinomial probability of every (worse, better) count of discordant pairs.
   Reference accuracy enters only through which discordances are possible: P(right in the
   reference only) ≤ accuracy and P(right in the candidate only) ≤ 1 − accuracy.
2. Repeats and macros: simulations from the simulator's own model (items of varying
   difficulty; a candidate that flips some answers), at a true Δ of −m.
3. False REGRESSION at Δ = −m (the boundary, its worst case) and at Δ = 0, and the power
   actually reached at the number of items the advice asks for.
"""

from __future__ import annotations

import argparse
import io
import itertools
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.special import gammaln, xlogy

from evals import inference
from evals.config import GateConfig
from evals.gate import TaskVerdict, Verdict, gate_runs
from evals.inference import EXACT_ITEMS, TINY_GROUP, Paired, Test, critical, decided_outright, lossless_continuity, lossless_critical, noninferiority, statistic, summarise
from evals.power import items_needed_binary, items_needed_scaled, power_binary
from evals.records import Manifest, Record
from evals.simmodel import SimModel, outcomes

ALPHA = 0.025
LIMIT = ALPHA + 0.005  # what the issue allows any cell: α + 0.5 point
GRID_N = (20, 50, 100, 150, 200, 300, 500, 1319)
GRID_ACCURACY = (0.5, 0.8, 0.9, 0.97, 0.99)
GRID_MARGIN = (0.01, 0.02, 0.03, 0.05)
MAX_DISCORDANCE = 0.25
CLUSTER_ITEMS = (10, 20, 50, 198)
CLUSTER_REPEATS = (2, 4, 8)
CLUSTER_ACCURACY = (0.5, 0.8, 0.95, 0.97)
CLUSTER_DISCORDANCE = (0.0, 0.05, 0.1)  # beyond |Δ|: 0 is a candidate that only breaks answers
CLUSTER_MARGIN = (0.02, 0.05)
MACRO_ACCURACIES = ((0.3, 0.6, 0.9), (0.8, 0.9, 0.97))


def discordances(margin: float) -> np.ndarray:
    """P(the arms differ) from |m| (a candidate that only breaks answers) to 0.25."""
    return np.unique(np.round(np.r_[np.linspace(margin, MAX_DISCORDANCE, 24), 1.5 * margin, 2 * margin, 3 * margin], 6))


def feasible(accuracy: float, margin: float, discordance: float) -> bool:
    worse, better = (discordance + margin) / 2, (discordance - margin) / 2
    return worse <= accuracy and better <= 1 - accuracy


@dataclass(frozen=True)
class Region:
    """Every (worse, better) count of n paired 0/1 items and the gate's verdict on it."""

    n: int
    margin: float
    worse: np.ndarray
    better: np.ndarray
    lossless: np.ndarray
    regression: np.ndarray
    # for comparison, what the gate used before: Wald with a rule-of-three floor; the score test's
    # REGRESSION side without its continuity correction
    wald_lossless: np.ndarray
    regression_uncorrected: np.ndarray

    @cached_property
    def log_coefficient(self) -> np.ndarray:
        """log n! / (worse! better! rest!), the same at every discordance."""
        rest = self.n - self.worse - self.better
        return gammaln(self.n + 1) - gammaln(self.worse + 1) - gammaln(self.better + 1) - gammaln(rest + 1)


def region(n: int, margin: float, alpha: float = ALPHA) -> Region:
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = b + c <= n
    b, c = b[keep].astype(float), c[keep].astype(float)
    data = Paired(n=n, repeats=1, delta=(c - b) / n, var_items=np.nan, worse=b, better=c, binary=True)
    test = noninferiority(data, margin, alpha)
    d = (c - b) / n
    sd = np.sqrt(np.maximum((b + c) / n - d**2, 0) * n / (n - 1))
    se = np.where(sd > 0, sd / np.sqrt(n), np.sqrt(3 / n) / np.sqrt(n))
    uncorrected = np.asarray(statistic(data, -margin)[0]) < -critical(alpha, np.inf)
    return Region(n, margin, b, c, np.asarray(test.lossless), np.asarray(test.regression), d - critical(alpha, np.inf) * se > -margin, uncorrected)


def probabilities(r: Region, p_worse: float, p_better: float) -> np.ndarray:
    """The multinomial probability of every cell; 0 more than 12 standard deviations (plus 12
    counts) from either count's mean, where the binomial tail holds less than 1e-25 (a 1,319-item
    grid has 870,000 cells, of which a few thousand hold the mass)."""
    out = np.zeros(len(r.worse))

    def near(k: np.ndarray, p: float) -> np.ndarray:
        return np.abs(k - r.n * p) <= 12 * np.sqrt(r.n * p * (1 - p)) + 12

    at = np.flatnonzero(near(r.worse, p_worse) & near(r.better, p_better))
    b, c = r.worse[at], r.better[at]
    out[at] = np.exp(r.log_coefficient[at] + xlogy(b, p_worse) + xlogy(c, p_better) + xlogy(r.n - b - c, 1 - p_worse - p_better))
    return out


def exact_rates(r: Region, discordance: float, delta: float) -> tuple[float, float]:
    """P(LOSSLESS), P(REGRESSION) at a true Δ and discordance, exactly."""
    p = probabilities(r, (discordance - delta) / 2, (discordance + delta) / 2)
    return float(p[r.lossless].sum()), float(p[r.regression].sum())


def replaced_rates(r: Region, discordance: float, delta: float) -> tuple[float, float]:
    """The same for the replaced methods: Wald + rule of three LOSSLESS, uncorrected REGRESSION."""
    p = probabilities(r, (discordance - delta) / 2, (discordance + delta) / 2)
    return float(p[r.wald_lossless].sum()), float(p[r.regression_uncorrected].sum())


# -- the same decisions through gate_runs, on records -------------------------------------------------


def _manifest(items: int, repeats: int) -> Manifest:
    return Manifest(task="calibration", task_version="1", task_config={}, dataset_fingerprint="d", prompt_fingerprint="p", sampling={},
                    endpoint="e", base_url="", model="m", tool_version="0", items=items, repeats=list(range(repeats)), started_at="")


def gate_on_matrices(reference: np.ndarray, candidate: np.ndarray, margin: float, groups: list[str] | None = None) -> Verdict:
    """gate_runs' verdict on records holding these (items, repeats) scores."""
    return task_verdict_on_matrices(reference, candidate, margin, groups).verdict


def task_verdict_on_matrices(reference: np.ndarray, candidate: np.ndarray, margin: float, groups: list[str] | None = None) -> TaskVerdict:
    """gate_runs on records holding these (items, repeats) scores: the verdict with its advice."""
    n, k = reference.shape
    manifest = _manifest(n, k)

    def records(scores: np.ndarray) -> list[Record]:
        return [Record.model_construct(task="calibration", item_id=f"{i:05d}", repeat=j, endpoint="e", request_hash="h", score=float(scores[i, j]),
                                       error=None, details={"group": groups[i]} if groups else {})
                for i in range(n) for j in range(k)]

    config = GateConfig(alpha=ALPHA, margins={"calibration": margin})
    return gate_runs((manifest, records(reference)), (manifest, records(candidate)), config)


def matrices_of_counts(n: int, worse: int, better: int) -> tuple[np.ndarray, np.ndarray]:
    ref, cand = np.ones((n, 1)), np.ones((n, 1))
    cand[:worse] = 0
    ref[worse : worse + better] = 0
    return ref, cand


def boundary_cells(r: Region, count: int, rng: np.random.Generator) -> Iterator[tuple[int, int, Verdict]]:
    """`count` cells on the LOSSLESS boundary (the fewest better-answers that pass, for some worse-count,
    and one fewer), with the verdict the batch gave them."""
    def index(b: int, c: int) -> int:  # cells run over worse, then better ≤ n − worse (`region`)
        return b * (r.n + 1) - b * (b - 1) // 2 + c

    passing = np.flatnonzero(r.lossless)  # in cell order: each worse-count's first is its fewest better-answers
    worse, first = np.unique(r.worse[passing], return_index=True)
    edge = []
    for b, c in zip(worse.astype(int).tolist(), r.better[passing[first]].astype(int).tolist()):
        edge += [index(b, c)] + ([index(b, c - 1)] if c > 0 else [])
    for i in rng.choice(edge, min(count, len(edge)), replace=False) if edge else []:
        verdict = Verdict.LOSSLESS if r.lossless[i] else Verdict.REGRESSION if r.regression[i] else Verdict.INCONCLUSIVE
        yield int(r.worse[i]), int(r.better[i]), verdict


def check_binary_against_gate(r: Region, count: int, rng: np.random.Generator) -> int:
    """How many sampled cells gate_runs judges differently from the batch (must be 0)."""
    wrong = 0
    for worse, better, verdict in boundary_cells(r, count, rng):
        wrong += gate_on_matrices(*matrices_of_counts(r.n, worse, better), r.margin) != verdict
    return wrong


# -- repeats and macros, by simulation ------------------------------------------------------------------


def draw(model: SimModel, rng: np.random.Generator, runs: int, items: int, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(*model.beta(), size=(runs, items, 1))
    reference, candidate = outcomes(p, rng.random((runs, items, repeats)), rng.random((runs, items, repeats)), *model.flip_rates())
    return reference.astype(float), candidate.astype(float)


def simulate(models: list[SimModel], items: int | tuple[int, ...], repeats: int, margin: float, runs: int, rng: np.random.Generator, check: int = 0) -> tuple[float, float, int]:
    """P(LOSSLESS), P(REGRESSION) over `runs` comparisons (one group per model: a macro when several,
    of `items` each or of the given sizes), and how many of `check` of them gate_runs judged differently."""
    sizes = items if isinstance(items, tuple) else (items,) * len(models)
    arms = [draw(m, rng, runs, size, repeats) for m, size in zip(models, sizes)]
    data: Paired | list[Paired] = [summarise(r, c) for r, c in arms] if len(arms) > 1 else summarise(*arms[0])
    test = noninferiority(data, margin, ALPHA)
    lossless, regression = np.asarray(test.lossless), np.asarray(test.regression)
    wrong = 0
    for i in range(min(check, runs)):
        ref = np.concatenate([r[i] for r, _ in arms])
        cand = np.concatenate([c[i] for _, c in arms])
        groups = [f"g{g}" for g, size in enumerate(sizes) for _ in range(size)] if len(arms) > 1 else None
        expected = Verdict.LOSSLESS if lossless[i] else Verdict.REGRESSION if regression[i] else Verdict.INCONCLUSIVE
        wrong += gate_on_matrices(ref, cand, margin, groups) != expected
    return float(lossless.mean()), float(regression.mean()), wrong


# -- the tables --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    rate: float
    where: str


REPLACED: dict[str, float] = {}  # worst rates of the replaced methods, filled by exact_table


def exact_table(grid_n: tuple[int, ...] = GRID_N, check: int = 20, seed: int = 0) -> tuple[dict[tuple[int, float], Cell], dict[float, Cell], dict[tuple[int, float], float], int]:
    """Worst false-LOSSLESS rate per (n, m) and per accuracy; worst false REGRESSION at Δ = −m; disagreements with gate_runs."""
    rng = np.random.default_rng(seed)
    REPLACED.update(wald=0.0, uncorrected=0.0)
    per_nm: dict[tuple[int, float], Cell] = {}
    per_acc: dict[float, Cell] = {a: Cell(0.0, "") for a in GRID_ACCURACY}
    false_regression: dict[tuple[int, float], float] = {}
    wrong = 0
    for n in grid_n:
        for m in GRID_MARGIN:
            r = region(n, m)
            wrong += check_binary_against_gate(r, check, rng)
            worst, worst_reg = Cell(0.0, ""), 0.0
            for q in discordances(m):
                accs = [a for a in GRID_ACCURACY if feasible(a, m, q)]
                if not accs:
                    continue
                lossless, regression = exact_rates(r, q, -m)
                worst_reg = max(worst_reg, regression)
                wald, uncorrected = replaced_rates(r, q, -m)
                REPLACED.update(wald=max(REPLACED["wald"], wald), uncorrected=max(REPLACED["uncorrected"], uncorrected))
                where = f"discordance {q:.3f}"
                if lossless > worst.rate:
                    worst = Cell(lossless, where)
                for a in accs:
                    if lossless > per_acc[a].rate:
                        per_acc[a] = Cell(lossless, f"n {n}, m {m}, {where}")
            per_nm[(n, m)] = worst
            false_regression[(n, m)] = worst_reg
    return per_nm, per_acc, false_regression, wrong


def _model(accuracy: float, delta: float, discordance: float) -> SimModel | None:
    try:
        return SimModel(accuracy=accuracy, delta=delta, discordance=discordance)
    except ValueError:  # more answers would have to change than the accuracy allows
        return None


def clustered_table(runs: int, check: int = 3, seed: int = 1) -> tuple[dict[tuple[int, int], Cell], dict[tuple[int, int], Cell], float, int]:
    """Worst false-LOSSLESS rate per (items, repeats), one task and a 3-group macro; the worst false
    REGRESSION at Δ = −m; disagreements with gate_runs."""
    rng = np.random.default_rng(seed)
    single: dict[tuple[int, int], Cell] = {}
    macro: dict[tuple[int, int], Cell] = {}
    worst_regression, wrong = 0.0, 0
    for items in CLUSTER_ITEMS:
        for k in CLUSTER_REPEATS:
            cases = (([_model(acc, -m, disc)], m, f"m {m}, accuracy {acc}, discordance {m + disc:.2f}")
                     for m in CLUSTER_MARGIN for acc in CLUSTER_ACCURACY for disc in CLUSTER_DISCORDANCE)
            single[(items, k)], regression, bad = _worst_cell(cases, items, k, runs, rng, check)
            worst_regression, wrong = max(worst_regression, regression), wrong + bad
            if items > 50:
                continue
            m = 0.05
            cases = (([_model(a, d, disc) for a, d in zip(accs, (-m - spread, -m, -m + spread))], m, f"accuracies {accs}, domain Δ −m ± {spread}, discordance +{disc}")
                     for accs in MACRO_ACCURACIES for disc in CLUSTER_DISCORDANCE for spread in (0.0, 0.03))
            macro[(items, k)], regression, bad = _worst_cell(cases, items, k, runs, rng, check)
            worst_regression, wrong = max(worst_regression, regression), wrong + bad
    return single, macro, worst_regression, wrong


UNEQUAL_SIZES = ((10, 20, 40), (50, 114, 114), (2, 40, 40), (10, 60, 60), (3, 100, 300), (2, 2, 200), (1, 50, 50))  # tau2-bench's airline, retail, telecom; tiny groups
UNEQUAL_REPEATS = (1, 2, 4)  # one repeat: an lm-eval group of 0/1 tasks, macro-averaged
UNEQUAL_ACCURACIES = (*MACRO_ACCURACIES, (0.7, 0.7, 0.7))
M = 0.05
UNEQUAL_DELTAS = (  # the macro Δ is exactly −m in each; the smallest group comes first
    ((-3 * M, 0.0, 0.0), "smallest group −3m, others 0"),
    ((0.0, -1.5 * M, -1.5 * M), "smallest 0, others −1.5m"),
    ((-M, -M, -M), "every group −m"),
    ((-3 * M - 2 * 0.1, 0.1, 0.1), "smallest −3m − 0.2, others +0.1"),
)


def unequal_macro_table(runs: int, check: int = 3, seed: int = 7, all_sizes: tuple[tuple[int, ...], ...] = UNEQUAL_SIZES,
                        repeats: tuple[int, ...] = UNEQUAL_REPEATS) -> tuple[dict[tuple[tuple[int, ...], int], Cell], float, int]:
    """Worst false LOSSLESS at a macro Δ of −m over groups of unequal sizes, the damage in the smallest
    group or spread over the others (the others possibly better than the reference: the macro's
    damage then sits in a handful of items); the worst false REGRESSION there; disagreements with gate_runs."""
    rng = np.random.default_rng(seed)
    table: dict[tuple[tuple[int, ...], int], Cell] = {}
    worst_regression, wrong = 0.0, 0
    for sizes in all_sizes:
        for k in repeats:
            cases = (([_model(a, d, disc) for a, d in zip(accs, deltas)], M, f"accuracies {accs}, {label}, discordance +{disc}")
                     for accs in UNEQUAL_ACCURACIES for deltas, label in UNEQUAL_DELTAS for disc in CLUSTER_DISCORDANCE)
            table[(sizes, k)], regression, bad = _worst_cell(cases, sizes, k, runs, rng, check)
            worst_regression, wrong = max(worst_regression, regression), wrong + bad
    return table, worst_regression, wrong


def _worst_cell(cases: Iterable[tuple[list[SimModel | None], float, str]], sizes: int | tuple[int, ...], repeats: int, runs: int,
                rng: np.random.Generator, check: int) -> tuple[Cell, float, int]:
    """Over comparisons of these group models at these margins (one model: one task; a case with a
    model that cannot be is skipped): the worst false LOSSLESS and where, the worst false
    REGRESSION, and disagreements with gate_runs."""
    worst, worst_regression, wrong = Cell(0.0, ""), 0.0, 0
    for models, margin, where in cases:
        if any(x is None for x in models):
            continue
        rate, regression, bad = simulate(models, sizes, repeats, margin, runs, rng, check)  # type: ignore[arg-type]
        wrong += bad
        worst_regression = max(worst_regression, regression)
        if rate > worst.rate:
            worst = Cell(rate, where)
    return worst, worst_regression, wrong


TINY_SIZES = ((2, 40, 40), (3, 100, 100), (5, 200, 200, 200, 200), (8, 50, 50), (10, 60, 60))  # a group under inference.TINY_GROUP beside larger ones; the last, a control
TINY_MARGINS = (0.1, 0.2)


def tiny_group_power_table(runs: int, seed: int = 12) -> dict[tuple[tuple[int, ...], int, float], tuple[float, float]]:
    """LOSSLESS at a true Δ of 0 in every group (accuracy 0.8, discordance 0.1), with a group of fewer
    than `inference.TINY_GROUP` items bounded at 1/n_g as the gate does, and with its variance from its
    counts as before: the price of the bound. The same draws for both."""
    table = {}
    for sizes in TINY_SIZES:
        for k in (1, 4):
            for margin in TINY_MARGINS:
                model = _model(0.8, 0.0, 0.1)
                rates = []
                for tiny in (inference.TINY_GROUP, 1):  # 1: no group is bounded
                    saved, inference.TINY_GROUP = inference.TINY_GROUP, tiny
                    try:
                        rates.append(simulate([model] * len(sizes), sizes, k, margin, runs, np.random.default_rng(seed))[0])  # type: ignore[list-item]
                    finally:
                        inference.TINY_GROUP = saved
                table[(sizes, k, margin)] = (rates[0], rates[1])
    return table


# the known limit's reach (docs/statistics.md, known limits): gains on items the reference always fails
GAINS_PARTIAL = ((20, 8), (64, 8), (100, 8), (200, 8), (20, 2))  # items × repeats; partial credit, items decided outright
# (sizes, repeats, share of items won outright): from independent reviews, a share of 0.1 in a group of 15 to 30 its worst, and a group of 9
GAINS_MACRO = (((10, 114, 114), 8, 0.2), ((5, 50, 50), 8, 0.2), ((10, 50, 50), 4, 0.2), ((50, 114, 114), 8, 0.2), ((10, 114, 114), 4, 0.2),
               ((15, 200, 200), 8, 0.1), ((20, 114, 114), 8, 0.1), ((30, 300, 300), 8, 0.1), ((15, 200, 200), 4, 0.1), ((20, 300, 300), 8, 0.1),
               ((9, 114, 114, 114, 114), 8, 0.2))


def gains_limit_table(runs: int, check: int = 3, seed: int = 9, partial: tuple[tuple[int, int], ...] = GAINS_PARTIAL,
                      macros: tuple[tuple[tuple[int, ...], int, float], ...] = GAINS_MACRO) -> tuple[dict[str, Cell], int]:
    """False REGRESSION at a true Δ of −m where the candidate's gains sit on items the reference
    always fails (an independent review's two families, beyond section 4's): partial credit on items
    decided outright (80% of items fall from 1 to 0.5 on every draw, the rest rise from 0 to 1;
    m 0.2), and macros with repeats whose every group is section 4's null (a share, 0.2 unless the
    label says, of items the candidate wins on every draw, the reference failing them; elsewhere
    the reference right and the candidate losing draws; m 0.05). A known limit: reported, not held
    to α + 0.5 point."""
    rng = np.random.default_rng(seed)
    table: dict[str, Cell] = {}
    wrong = 0

    def count(arms: list[tuple[np.ndarray, np.ndarray]], margin: float, where: str) -> None:
        nonlocal wrong
        data: Paired | list[Paired] = [summarise(r, c) for r, c in arms] if len(arms) > 1 else summarise(*arms[0])
        test = noninferiority(data, margin, ALPHA)
        regression, lossless = np.asarray(test.regression), np.asarray(test.lossless)
        for i in [*np.flatnonzero(regression)[:check], *range(check)]:
            groups = [f"g{g}" for g, (r, _) in enumerate(arms) for _ in range(r.shape[1])] if len(arms) > 1 else None
            expected = Verdict.LOSSLESS if lossless[i] else Verdict.REGRESSION if regression[i] else Verdict.INCONCLUSIVE
            wrong += gate_on_matrices(np.concatenate([r[i] for r, _ in arms]), np.concatenate([c[i] for _, c in arms]), margin, groups) != expected
        table[where] = Cell(float(regression.mean()), where)

    m, lost = 0.2, 0.799  # 0.799 × −0.5 + 0.201 × 1 = −0.2
    for n, k in partial:
        u = rng.random((runs, n, 1))
        ref = np.repeat(np.where(u >= lost, 0.0, 1.0), k, axis=2)
        cand = np.repeat(np.where(u < lost, 0.5, 1.0), k, axis=2)
        count([(ref, cand)], m, f"partial credit, {n} items × {k}")
    m = 0.05
    for sizes, k, share in macros:
        arms = []
        for n in sizes:
            won = rng.random((runs, n, 1)) < share
            arms.append((np.where(won, 0.0, 1.0) * np.ones((1, 1, k)),
                         np.where(won, 1.0, rng.random((runs, n, k)) >= (share + m) / (1 - share)).astype(float)))
        count(arms, m, f"macro of {', '.join(map(str, sizes))} items × {k}" + (f" (a share {share} won outright)" if share != 0.2 else ""))
    return table, wrong


# one group nearly broken, the others gaining (the macro Δ exactly −m): an independent review's macros of
# one repeat said LOSSLESS in 3.4% to 4.0% of runs here before `lossless_continuity`, about 2% with half a draw of it
BROKEN_GROUP = (
    ((20, 20, 20), 0.05, (-0.75, 0.3, 0.3)),
    ((20, 20, 20, 20, 20), 0.1, (-0.9, 0.1, 0.1, 0.1, 0.1)),
    ((10, 50, 50), 0.2, (-1.0, 0.2, 0.2)),
    ((50, 114, 114), 0.05, (-0.75, 0.3, 0.3)),
)


def broken_group_table(runs: int, check: int = 3, seed: int = 8, repeats: tuple[int, ...] = (1, 2)) -> tuple[dict[tuple[tuple[int, ...], int], Cell], float, int]:
    """Worst false LOSSLESS at a macro Δ of −m where one group is nearly broken and the others gain
    (`BROKEN_GROUP`; the broken group's reference right on 0.9 or all of its items, the others' on
    0.6, so that there is room to gain), the answers changing only as Δ asks or 0.05 more; the worst
    false REGRESSION there; disagreements with gate_runs."""
    rng = np.random.default_rng(seed)
    table: dict[tuple[tuple[int, ...], int], Cell] = {}
    worst_regression, wrong = 0.0, 0
    for sizes, m, deltas in BROKEN_GROUP:
        for k in repeats:
            cases = (([_model(broken if g == 0 else 0.6, d, disc) for g, d in enumerate(deltas)], m,
                      f"m {m}, group Δ {', '.join(f'{d:+g}' for d in deltas)}, broken group's accuracy {broken}, discordance +{disc}")
                     for broken in (0.9, 1.0) for disc in (0.0, 0.05))
            table[(sizes, k)], regression, bad = _worst_cell(cases, sizes, k, runs, rng, check)
            worst_regression, wrong = max(worst_regression, regression), wrong + bad
    return table, worst_regression, wrong


# the same shape with large groups and few answers changing, exact: one repeat, one group only losing answers
# (b ~ Bin(n, P_LOST)), the others only gaining (c ~ Bin(n, e)); an independent review's worst macro cell (5 × 120)
EXACT_MACROS = ((3, 30), (3, 60), (3, 120), (3, 240), (4, 30), (4, 60), (4, 120), (5, 30), (5, 60), (6, 30))  # (groups, items per group): the counts to sum grow as n^(G−1)
EXACT_LOST = (0.85, 0.9, 0.95, 1.0)  # P(an item of the broken group is lost)
EXACT_GAINED = (0.025, 0.05, 0.075, 0.1)  # P(an item of another group is gained)


def _binomial_support(n: int, p: float, tail: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(n + 1)
    pmf = np.exp(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, p) + xlogy(n - k, 1 - p))
    keep = pmf > tail
    return k[keep], pmf[keep]


def _one_repeat_group(n: int, worse: np.ndarray, better: np.ndarray) -> Paired:
    worse, better = np.asarray(worse, dtype=float), np.asarray(better, dtype=float)
    return Paired(n=n, repeats=1, delta=(better - worse) / n, var_items=np.nan, worse=worse, better=better, binary=True)


def broken_group_exact(groups: int, n: int, lost: float, gained: float, check: int = 0, chunk: int = 400_000) -> tuple[float, float, float, int]:
    """P(LOSSLESS) at the macro Δ of exactly −m, m = (lost − (G − 1)·gained)/G, summed over every count:
    the broken group's losses and the others' gains (the others exchangeable: each multiset of their
    counts once, times its orderings); the same with half a draw of continuity correction (the one
    before); m; and how many of `check` counts at the LOSSLESS edge gate_runs judged differently."""
    margin = (lost - (groups - 1) * gained) / groups
    lost_k, lost_p = _binomial_support(n, lost)
    gain_k, gain_p = _binomial_support(n, gained)
    others = np.array(list(itertools.combinations_with_replacement(range(len(gain_k)), groups - 1)))
    orderings = np.exp(gammaln(groups) - sum(gammaln(np.sum(others == v, axis=1) + 1) for v in range(len(gain_k))))
    weight = orderings * np.prod(gain_p[others], axis=1)
    rows, cols = np.repeat(np.arange(len(lost_k)), len(others)), np.tile(np.arange(len(others)), len(lost_k))
    rate = half = 0.0
    edge: list[tuple[int, np.ndarray, bool]] = []
    for s in range(0, len(rows), chunk):
        r, c = rows[s:s + chunk], cols[s:s + chunk]
        data = [_one_repeat_group(n, lost_k[r], np.zeros(len(r)))] + [_one_repeat_group(n, np.zeros(len(r)), gain_k[others[c, g]]) for g in range(groups - 1)]
        lossless = np.asarray(noninferiority(data, margin, ALPHA).lossless, dtype=bool)
        t_half, _ = statistic(data, -margin, -lossless_continuity(data) / 2)
        lossless_half = np.asarray(t_half) > np.asarray(lossless_critical(data, margin, ALPHA))
        p = lost_p[r] * weight[c]
        rate, half = rate + float(p[lossless].sum()), half + float(p[lossless_half].sum())
        if check and len(edge) < check:  # the likeliest counts that pass by one correction and not the other
            near = np.flatnonzero(lossless != lossless_half)
            edge += [(int(lost_k[r[i]]), gain_k[others[c[i]]], bool(lossless[i])) for i in near[np.argsort(-p[near])][:check - len(edge)]]
    wrong = 0
    for losses, gains, expected in edge:
        reference = np.ones((n * groups, 1))
        candidate = reference.copy()
        candidate[:losses] = 0
        for g, count in enumerate(gains, start=1):
            reference[g * n:g * n + count] = 0
            candidate[g * n:g * n + count] = 1
        verdict = gate_on_matrices(reference, candidate, margin, [f"g{g}" for g in range(groups) for _ in range(n)])
        wrong += (verdict == Verdict.LOSSLESS) != expected
    return rate, half, margin, wrong


def broken_group_exact_table(check: int = 2) -> tuple[dict[tuple[int, int], tuple[Cell, Cell]], int]:
    """Per (groups, items per group), the worst false LOSSLESS over `EXACT_LOST` and `EXACT_GAINED`
    (margins 0.02 to 0.3), and the worst with half a draw of correction instead of one."""
    table: dict[tuple[int, int], tuple[Cell, Cell]] = {}
    wrong = 0
    for groups, n in EXACT_MACROS:
        worst, worst_half = Cell(0.0, ""), Cell(0.0, "")
        for lost, gained in itertools.product(EXACT_LOST, EXACT_GAINED):
            margin = (lost - (groups - 1) * gained) / groups
            if not 0.02 <= margin <= 0.3:
                continue
            rate, half, margin, bad = broken_group_exact(groups, n, min(lost, 1 - 1e-12), gained, check)
            wrong += bad
            where = f"m {margin:.3f}, P(lost) {lost:g}, P(gained) {gained:g}"
            if rate > worst.rate:
                worst = Cell(rate, where)
            if half > worst_half.rate:
                worst_half = Cell(half, where)
        table[(groups, n)] = (worst, worst_half)
    return table, wrong


WIDE_N = (10, 15, 20, 30, 50, 100, 200, 300, 301, 500)
WIDE_MARGIN = (0.01, 0.02, 0.05, 0.1, 0.2)


def wide_table() -> dict[int, tuple[Cell, Cell, Cell]]:
    """Beyond the grid, one repeat, exact: per n, the worst false LOSSLESS and false REGRESSION at a
    true Δ of −m over margins up to 0.2 and every discordance from m to 1 (every answer changing),
    and the worst false LOSSLESS the normal's critical value alone would give."""
    table = {}
    for n in WIDE_N:
        lossless, regression, normal = Cell(0.0, ""), Cell(0.0, ""), Cell(0.0, "")
        for m in WIDE_MARGIN:
            r = region(n, m)
            data = Paired(n=n, repeats=1, delta=(r.better - r.worse) / n, var_items=np.nan, worse=r.worse, better=r.better, binary=True)
            normal_region = np.asarray(statistic(data, -m)[0]) > critical(ALPHA, np.inf)
            for q in np.linspace(m, 1.0, 241):
                p = probabilities(r, (q + m) / 2, (q - m) / 2)
                where = f"m {m}, discordance {q:.2f}"
                for cell, rate in ((lossless, p[r.lossless].sum()), (regression, p[r.regression].sum()), (normal, p[normal_region].sum())):
                    if rate > cell.rate:
                        cell.rate, cell.where = float(rate), where
        table[n] = (lossless, regression, normal)
    return table


OUTRIGHT_N = (10, 20, 43, 64, 100, 200, 300)
OUTRIGHT_MARGIN = (0.01, 0.02, 0.05, 0.1, 0.145, 0.185, 0.2)


def outright_table(check: int = 2) -> tuple[dict[int, tuple[Cell, Cell]], int]:
    """Repeats, every item decided outright (all its draws won, lost or tied alike: b items at −1,
    c at +1), exact over every (b, c): per n, the worst false LOSSLESS at a true Δ of −m over margins
    to 0.2 and every discordance, and what Student's t on the items alone (no exact critical value)
    gave. The statistic there does not depend on the repeats (`inference.exact_critical`); the
    gate's region is this one less what `raised_bound` refuses, so the sizes are upper bounds of
    the gate's. `check` cells per (n, m) at the edge of the region go through gate_runs with 2
    repeats, and the count of those the gate passes outside the region is returned."""
    table, wrong = {}, 0
    for n in OUTRIGHT_N:
        lossless, plain = Cell(0.0, ""), Cell(0.0, "")
        for m in OUTRIGHT_MARGIN:
            r = region(n, m)  # the cells (b, c) and their multinomial coefficients; its verdicts are one repeat's
            data = decided_outright(n, r.worse, r.better, 2)
            delta = np.asarray(data.delta)
            passed = np.asarray(noninferiority(data, m, ALPHA).lossless)
            t_alone = np.asarray(statistic(data, -m)[0]) > critical(ALPHA, n - 1)
            for q in np.linspace(m, 1.0, 241):
                p = probabilities(r, (q + m) / 2, (q - m) / 2)
                where = f"m {m}, discordance {q:.2f}"
                for cell, rate in ((lossless, p[passed].sum()), (plain, p[t_alone].sum())):
                    if rate > cell.rate:
                        cell.rate, cell.where = float(rate), where
            edge = [*np.flatnonzero(passed)[np.argsort(delta[passed])[:check]], *np.flatnonzero(~passed)[np.argsort(-delta[~passed])[:check]]]
            for cell in edge:
                item = np.arange(n)
                diff = np.where(item < r.worse[cell], -1.0, np.where(item >= n - r.better[cell], 1.0, 0.0))
                reference = np.repeat(np.where(diff > 0, 0.0, 1.0)[:, None], 2, axis=1)
                # the gate also needs `raised_bound`, which the counts alone do not carry: its region can only be smaller
                wrong += (gate_on_matrices(reference, reference + diff[:, None], m) == Verdict.LOSSLESS) and not passed[cell]
        table[n] = (lossless, plain)
    return table, wrong


PARTIAL_N = (20, 50, 100, 200, 500)
PARTIAL_REFERENCE = ((5.0, 1.0), (2.0, 2.0))  # Beta shapes of the reference's per-item scores: strong, middling
PARTIAL_NOISE = (0.02, 0.1)  # SD of the candidate's small changes


def partial_credit_table(runs: int, check: int = 2, seed: int = 9, chunk: int = 5000) -> tuple[dict[tuple[int, int], Cell], float, int]:
    """Partial credit (scores in [0, 1], a plugin or lm-eval metric such as F1): the candidate changes
    every score a little (normal noise, clipped to [0, 1]) and fails some draws totally (score 0),
    as often as makes the true Δ exactly −m; with repeats, also every draw of some items. The worst false LOSSLESS per (items, repeats), the
    worst false REGRESSION, and disagreements with gate_runs on sampled runs."""
    rng = np.random.default_rng(seed)
    table: dict[tuple[int, int], Cell] = {}
    worst_regression, wrong = 0.0, 0
    for n in PARTIAL_N:
        for k in (1, 4):
            worst = table.setdefault((n, k), Cell(0.0, ""))
            for shape in PARTIAL_REFERENCE:
                for noise in PARTIAL_NOISE:
                    big = rng.beta(*shape, size=400_000)
                    changed = np.clip(big + rng.normal(0, noise, big.size), 0, 1).mean()
                    for m, tied in itertools.product((0.02, 0.05), (False, True) if k > 1 else (False,)):
                        fail = (changed - big.mean() + m) / changed  # P(total failure): Δ = (1 − fail)·E[changed] − E[ref] = −m
                        lossless = regression = 0.0
                        for start in range(0, runs, chunk):
                            size = min(chunk, runs - start)
                            ref = np.repeat(rng.beta(*shape, size=(size, n, 1)), k, axis=2)
                            failed = rng.random((size, n, 1) if tied else ref.shape) < fail  # tied: every draw of a failed item
                            cand = np.clip(ref + rng.normal(0, noise, ref.shape), 0, 1) * ~failed
                            test = noninferiority(summarise(ref, cand), m, ALPHA)
                            lossless += float(np.sum(test.lossless))
                            regression += float(np.sum(test.regression))
                            for i in range(check if start == 0 else 0):
                                expected = Verdict.LOSSLESS if test.lossless[i] else Verdict.REGRESSION if test.regression[i] else Verdict.INCONCLUSIVE
                                wrong += gate_on_matrices(ref[i], cand[i], m) != expected
                        worst_regression = max(worst_regression, regression / runs)
                        if lossless / runs > worst.rate:
                            table[(n, k)] = worst = Cell(lossless / runs, f"reference Beta{shape}, noise SD {noise}, m {m}, total failures {fail:.1%}{' of items' if tied else ''}")
    return table, worst_regression, wrong


SKEWED_N = (10, 20, 30, 50, 100, 200, 500)
SKEWED_MARGIN = (0.01, 0.02, 0.05, 0.1)
SKEWED_STEPS = (  # (loss, gain) of one item's score difference: one of them whole, the other small or nearly whole
    *((-1.0, g) for g in (0.02, 0.05, 0.1, 0.2, 0.5, 0.9, 0.95, 0.985)),
    *((loss, 1.0) for loss in (-0.05, -0.1, -0.2, -0.5, -0.9, -0.95, -0.985)),
)


def _mixture_rates(n: int, margin: float, loss: float, gain: float, p_loss: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray, Paired, np.ndarray, Test]:
    """P(LOSSLESS), P(REGRESSION), for each p_loss, when each item's difference is `loss` w.p. p_loss, `gain` w.p.
    whatever makes the mean `delta`, else 0: exactly, over every count of losses and gains (and those counts'
    data, probabilities and test)."""
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    losses, gains = i[keep].astype(float), j[keep].astype(float)
    worse, better = -loss * losses, gain * gains
    data = Paired(n=n, repeats=1, delta=(better - worse) / n, var_items=np.nan, worse=worse, better=better, binary=False,
                  square=loss * loss * losses + gain * gain * gains)
    test = noninferiority(data, margin, ALPHA)
    p_gain = (delta - loss * p_loss) / gain
    rest = n - losses - gains
    log = gammaln(n + 1) - gammaln(losses + 1) - gammaln(gains + 1) - gammaln(rest + 1)
    log = log + xlogy(losses, p_loss[:, None]) + xlogy(gains, p_gain[:, None]) + xlogy(rest, (1 - p_loss - p_gain)[:, None])
    prob = np.exp(log)
    return prob @ np.asarray(test.lossless), prob @ np.asarray(test.regression), data, prob, test


def _mixture_matrices(n: int, loss: float, gain: float, losses: int, gains: int) -> tuple[np.ndarray, np.ndarray]:
    """Records' scores with that many losses and gains: a loss lowers a 1, a gain raises 1 − gain to 1."""
    ref, cand = np.ones((n, 1)), np.ones((n, 1))
    cand[:losses] = 1 + loss
    ref[losses:losses + gains] = 1 - gain
    return ref, cand


def skewed_partial_table(grid_n: tuple[int, ...] = SKEWED_N, check: int = 2) -> tuple[dict[int, tuple[Cell, Cell, Cell]], int]:
    """Partial credit at its hardest, exactly: rare whole-step changes one way, many small ones the other
    (a candidate that fails a few items totally and gains a little on many), or nearly whole ones
    (scores just off the counts of 0/1 scores, where every item may change), one repeat. Per n: the worst
    false LOSSLESS and false REGRESSION at a true Δ of −m, and false REGRESSION at Δ = 0, over m and
    SKEWED_STEPS and the share of items changed; and how often gate_runs disagreed on the likeliest
    deciding counts."""
    table: dict[int, tuple[Cell, Cell, Cell]] = {}
    wrong = 0
    for n in grid_n:
        worst = [Cell(0.0, ""), Cell(0.0, ""), Cell(0.0, "")]
        for m in SKEWED_MARGIN:
            for loss, gain in SKEWED_STEPS:
                for column, delta in ((0, -m), (2, 0.0)):
                    # P(loss) from the least the mean allows (no gains at Δ = −m) to where changes take every item
                    low, high = max(delta / loss, 1e-4), (1 - delta / gain) / (1 - loss / gain)
                    if low * 1.0001 >= high:
                        continue
                    p_loss = np.geomspace(low * 1.0001, high * 0.999, 10)
                    lossless, regression, data, prob, test = _mixture_rates(n, m, loss, gain, p_loss, delta)
                    where = [f"m {m}, steps {loss:+g}/{gain:+g}, P({loss:+g}) {p:.3g}" for p in p_loss]
                    rates = ((lossless, 0), (regression, 1)) if column == 0 else ((regression, 2),)
                    for rate, slot in rates:
                        k = int(np.argmax(rate))
                        if rate[k] > worst[slot].rate:
                            worst[slot] = Cell(float(rate[k]), where[k])
                    expected = np.where(np.asarray(test.lossless), 1, np.where(np.asarray(test.regression), 2, 0))
                    for cell in np.argsort(-(prob.max(axis=0) * (expected > 0)))[:check]:
                        losses, gains = int(round(float(np.asarray(data.worse)[cell]) / -loss)), int(round(float(np.asarray(data.better)[cell]) / gain))
                        verdict = gate_on_matrices(*_mixture_matrices(n, loss, gain, losses, gains), m)
                        wrong += verdict != (Verdict.INCONCLUSIVE, Verdict.LOSSLESS, Verdict.REGRESSION)[int(expected[cell])]
        table[n] = (worst[0], worst[1], worst[2])
    return table, wrong


def item_tied_table(runs: int, seed: int = 4) -> dict[tuple[int, int, float], float]:
    """P(LOSSLESS) at a true Δ of −m when the candidate fails whole items: each item is broken with
    probability m / accuracy and then wrong on every draw, so few items differ and the design effect
    cannot be estimated from them (an independent review found false LOSSLESS far above α here before
    the unseen part of the null variance got the design effect K)."""
    rng = np.random.default_rng(seed)
    rates = {}
    for items in (20, 50, 198):
        for k in (4, 8):
            for m in (0.02, 0.05):
                model = SimModel(accuracy=0.9, delta=0.0, discordance=0.0)
                reference, _ = draw(model, rng, runs, items, k)
                broken = rng.random((runs, items, 1)) < m / 0.9
                candidate = np.where(broken, 0.0, reference)
                rates[(items, k, m)] = float(np.mean(noninferiority(summarise(reference, candidate), m, ALPHA).lossless))
    return rates


def power_table(runs: int, seed: int = 2) -> list[tuple[str, int | None, float, float]]:
    """At true rates, the items the advice asks for, the exact power there, and a simulated check through the batch."""
    rng = np.random.default_rng(seed)
    rows = []
    for acc, m, delta, disc in ((0.97, 0.02, 0.0, 0.01), (0.97, 0.02, -0.01, 0.01), (0.8, 0.02, 0.0, 0.05), (0.9, 0.03, 0.0, 0.04), (0.97, 0.02, -0.05, 0.0)):
        q = abs(delta) + disc
        worse, better = (q - delta) / 2, (q + delta) / 2
        n = items_needed_binary(worse, better, m, ALPHA, 0.8)
        if n is None:
            rows.append((f"accuracy {acc}, m {m}, Δ {delta:+}, discordance {q:.2f}", None, float("nan"), float("nan")))
            continue
        goal = "lossless" if delta > -m else "regression"
        exact = power_binary(n, worse, better, m, ALPHA, goal)
        counts = rng.multinomial(n, [worse, better, 1 - worse - better], size=runs)
        test = noninferiority(Paired(n=n, repeats=1, delta=(counts[:, 1] - counts[:, 0]) / n, var_items=np.nan,
                                     worse=counts[:, 0].astype(float), better=counts[:, 1].astype(float), binary=True), m, ALPHA)
        simulated = float(np.mean(test.lossless if goal == "lossless" else test.regression))
        rows.append((f"accuracy {acc}, m {m}, Δ {delta:+}, discordance {q:.2f} ({goal.upper()})", n, exact, simulated))
    return rows


HIDDEN_ITEMS = (10, 20, 50, 200)
HIDDEN_REPEATS = (2, 8)
HIDDEN_SHARE = (0.05, 0.1, 0.2)
HIDDEN_MARGIN = (0.02, 0.1)


def hidden_items_table(runs: int, seed: int = 5, chunk: int = 2500) -> dict[tuple[int, int], tuple[Cell, Cell]]:
    """Worst false LOSSLESS and false REGRESSION at a true Δ of −m per (items, repeats) when a share h of
    the items is decided outright and the rest varies from draw to draw, over h, m and the rest's model.

    LOSSLESS: the candidate loses every draw of the broken items (the reference always right there)
    and gains g = (h − m)/(1 − h) elsewhere, where both are right with probability p (0.8, or varying
    by item, uniform on [0, 1 − g]) on independent draws. REGRESSION, an independent review's null:
    the candidate wins every draw of the items the reference always fails, and elsewhere loses
    ε = (h + m)/(1 − h) of the draws the reference gets right with probability 1 or 0.8."""
    rng = np.random.default_rng(seed)
    table = {}
    for items in HIDDEN_ITEMS:
        for k in HIDDEN_REPEATS:
            worst_l, worst_r = Cell(0.0, ""), Cell(0.0, "")
            for h in HIDDEN_SHARE:
                for m in HIDDEN_MARGIN:
                    for varying in (False, True):
                        gain, loss = (h - m) / (1 - h), (h + m) / (1 - h)
                        fixed, right = min(0.8, 1 - gain), 1.0 if varying else 0.8
                        hits = np.zeros(2)
                        for start in range(0, runs, chunk):
                            size = min(chunk, runs - start)
                            decided = rng.random((size, items, 1)) < h
                            p = rng.uniform(0, 1 - gain, (size, items, 1)) if varying else np.full((size, items, 1), fixed)
                            reference = np.where(decided, 1.0, rng.random((size, items, k)) < p)
                            candidate = np.where(decided, 0.0, rng.random((size, items, k)) < p + gain)
                            hits[0] += np.sum(noninferiority(summarise(reference, candidate), m, ALPHA).lossless)
                            reference = np.where(decided, 0.0, rng.random((size, items, k)) < right)
                            candidate = np.where(decided, 1.0, rng.random((size, items, k)) < right - loss)
                            hits[1] += np.sum(noninferiority(summarise(reference, candidate), m, ALPHA).regression)
                        if hits[0] / runs > worst_l.rate:
                            worst_l = Cell(hits[0] / runs, f"h {h}, m {m}, p " + ("varying by item" if varying else f"{fixed:.2f}"))
                        if hits[1] / runs > worst_r.rate:
                            worst_r = Cell(hits[1] / runs, f"h {h}, m {m}, reference right {right:.1f}")
            table[(items, k)] = (worst_l, worst_r)
    return table


LOSSLESS_POWER = ((198, 8, 0.02), (198, 8, 0.03), (198, 8, 0.05), (198, 2, 0.05), (50, 4, 0.05), (50, 4, 0.1))


def lossless_power_table(runs: int, seed: int = 8) -> dict[tuple[int, int, float], tuple[float, float]]:
    """P(LOSSLESS) at a true Δ of 0 with repeats, per (items, repeats, m): the least and the most over
    reference accuracy (0.5, 0.8) and discordance (0.05, 0.15): what the floor of `hidden_failures` costs."""
    rng = np.random.default_rng(seed)
    table = {}
    for items, k, m in LOSSLESS_POWER:
        rates = [simulate([SimModel(accuracy=a, delta=0.0, discordance=q)], items, k, m, runs, rng)[0] for a in (0.5, 0.8) for q in (0.05, 0.15)]
        table[(items, k, m)] = (min(rates), max(rates))
    return table


POWER_REPEATS = ((0.9, 0.05, 0.0, 0.05, 4), (0.7, 0.05, 0.0, 0.1, 8), (0.8, 0.05, -0.15, 0.05, 8), (0.95, 0.02, -0.06, 0.0, 2), (0.9, 0.03, -0.1, 0.05, 4))


def power_table_repeats(runs: int, seed: int = 6) -> list[tuple[str, int | None, float]]:
    """With repeats, the items the advice asks for (`power.items_needed_scaled`, from a run of 20,000
    items standing in for the truth) and the power simulated there through the batch."""
    rng = np.random.default_rng(seed)
    rows = []
    for acc, m, delta, disc, k in POWER_REPEATS:
        model = SimModel(accuracy=acc, delta=delta, discordance=disc)
        goal = "LOSSLESS" if delta > -m else "REGRESSION"
        n = items_needed_scaled(summarise(*(arm[0] for arm in draw(model, rng, 1, 20_000, k))), m, ALPHA, 0.8)
        label = f"accuracy {acc}, m {m}, Δ {delta:+}, discordance {disc:.2f}, {k} repeats ({goal})"
        if n is None:
            rows.append((label, None, float("nan")))
            continue
        lossless, regression, _ = simulate([model], n, k, m, runs, rng)
        rows.append((label, n, lossless if goal == "LOSSLESS" else regression))
    return rows


STAND_IN = 200_000  # items of the largest group of a macro's stand-in for the truth (`power_table_macros`)
POWER_MACROS = (((0.7,) * 5, (1,) * 5, 0.15, 0.0, 0.3, 1), ((0.8,) * 3, (50, 114, 114), 0.05, 0.0, 0.1, 1),
                ((0.8,) * 3, (1, 1, 1), 0.1, 0.0, 0.2, 2), ((0.9,) * 3, (1, 1, 1), 0.05, -0.12, 0.05, 4),
                ((0.7,) * 3, (5, 114, 114), 0.1, 0.0, 0.1, 1), ((0.7,) * 3, (10, 60, 60), 0.05, 0.0, 0.1, 1), ((0.8,) * 3, (50, 114, 114), 0.05, -0.12, 0.05, 4))


def power_table_macros(runs: int, seed: int = 9) -> list[tuple[str, int | None, float]]:
    """For a macro, the items the advice asks for (`power.items_needed_scaled`, split over the groups in
    the given proportions, from groups of up to `STAND_IN` items standing in for the truth: with 20,000
    the stand-in's own noise moved the advice by 30 items on tau2's sizes) and the power
    simulated there through the batch. Before the advice counted the macro's LOSSLESS correction
    (`lossless_continuity`) it asked for items that gave 77% power."""
    rng = np.random.default_rng(seed)
    rows = []
    for accuracies, shares, m, delta, disc, k in POWER_MACROS:
        models = [SimModel(accuracy=a, delta=delta, discordance=disc) for a in accuracies]
        truth = [summarise(r[0], c[0]) for r, c in (draw(model, rng, 1, STAND_IN * s // max(shares), k) for model, s in zip(models, shares))]
        goal = "LOSSLESS" if delta > -m else "REGRESSION"
        n = items_needed_scaled(truth, m, ALPHA, 0.8)
        label = f"{len(models)} groups in proportion {':'.join(map(str, shares))}, accuracy {accuracies[0]}, m {m}, Δ {delta:+}, discordance {disc:.2f}, {k} repeat{'s' if k > 1 else ''} ({goal})"
        if n is None:
            rows.append((label, None, float("nan")))
            continue
        sizes = tuple(max(2, round(n * s / sum(shares))) for s in shares)
        lossless, regression, _ = simulate(models, sizes, k, m, runs, rng)
        rows.append((label, n, lossless if goal == "LOSSLESS" else regression))
    return rows


def zero_delta_regression(runs: int, seed: int = 3) -> float:
    """The worst P(REGRESSION) at a true Δ of 0 over the clustered grid."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for items in CLUSTER_ITEMS:
        for k in (1, *CLUSTER_REPEATS):
            for acc in CLUSTER_ACCURACY:
                _, reg, _ = simulate([SimModel(accuracy=acc, delta=0.0, discordance=0.02)], items, k, 0.02, runs, rng)
                worst = max(worst, reg)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibration", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="simulations per clustered cell (default 20,000)")
    parser.add_argument("--write", metavar="FILE", help="replace the block between the calibration markers in FILE (docs/statistics.md)")
    args = parser.parse_args(argv)
    out = io.StringIO()
    per_nm, per_acc, false_reg, wrong_exact = exact_table()
    print(f"## 1. 0/1 items, one repeat: false LOSSLESS at a true Δ of −m, exact (α = {ALPHA:.1%})\n", file=out)
    print("Worst over reference accuracy (0.5, 0.8, 0.9, 0.97, 0.99) and discordance (|m| to 0.25).\n", file=out)
    print("| n | " + " | ".join(f"m = {m}" for m in GRID_MARGIN) + " |", file=out)
    print("|---|" + "---|" * len(GRID_MARGIN), file=out)
    for n in GRID_N:
        print(f"| {n} | " + " | ".join(f"{per_nm[(n, m)].rate:.2%}" for m in GRID_MARGIN) + " |", file=out)
    print("\n| reference accuracy | worst false LOSSLESS | where |\n|---|---|---|", file=out)
    for a, cell in per_acc.items():
        print(f"| {a} | {cell.rate:.2%} | {cell.where} |", file=out)
    worst = max(per_nm.values(), key=lambda c: c.rate)
    print(f"\nWorst cell: {worst.rate:.2%}. False REGRESSION at a true Δ of −m (its worst case), worst cell: {max(false_reg.values()):.2%}. "
          f"Cells where gate_runs disagreed with the enumeration: {wrong_exact}. "
          f"For comparison, on the same grid: the replaced Wald gate with a rule-of-three floor, {REPLACED['wald']:.2%} false LOSSLESS; "
          f"the score test's REGRESSION side without its continuity correction, {REPLACED['uncorrected']:.2%} false REGRESSION.\n", file=out)
    single, macro, worst_reg_sim, wrong_sim = clustered_table(args.runs)
    print(f"## 2. Repeats and macros: false LOSSLESS at a true Δ of −m, {args.runs:,} simulations per cell\n", file=out)
    print(f"Worst over m (0.02, 0.05), reference accuracy {CLUSTER_ACCURACY} and discordance beyond |m| {CLUSTER_DISCORDANCE}; "
          "the macro is 3 groups of the given size at m = 0.05.\n", file=out)
    print("| items | repeats | one task | where | 3-group macro | where |\n|---|---|---|---|---|---|", file=out)
    for (items, k), cell in single.items():
        m_cell = macro.get((items, k))
        print(f"| {items} | {k} | {cell.rate:.2%} | {cell.where} | {f'{m_cell.rate:.2%}' if m_cell else '-'} | {m_cell.where if m_cell else ''} |", file=out)
    worst_sim = max([*single.values(), *macro.values()], key=lambda c: c.rate)
    print(f"\nWorst cell: {worst_sim.rate:.2%} (Monte Carlo SE about {np.sqrt(ALPHA * (1 - ALPHA) / args.runs):.2%}). "
          f"False REGRESSION at a true Δ of −m, worst cell: {worst_reg_sim:.2%}. "
          f"Sampled runs where gate_runs disagreed with the batch: {wrong_sim}.\n", file=out)
    print("## 3. False REGRESSION at a true Δ of 0, and power at the advised n\n", file=out)
    print(f"Worst P(REGRESSION) at Δ = 0 over the clustered grid (m = 0.02): {zero_delta_regression(max(args.runs // 5, 1000)):.2%}.\n", file=out)
    print("| truth | items advised | exact power there | simulated |\n|---|---|---|---|", file=out)
    for label, n, exact, simulated in power_table(max(args.runs // 2, 2000)):
        print(f"| {label} | {n if n is not None else 'none'} | {exact:.1%} | {simulated:.1%} |", file=out)
    power_runs = max(args.runs // 4, 1000)  # the repeats' power and hidden items' tables
    print(f"\nLOSSLESS with repeats at a true Δ of 0 ({power_runs:,} simulations per setting; the least and the most over "
          "reference accuracy 0.5 and 0.8 and discordance 0.05 and 0.15):\n", file=out)
    print("| items | repeats | m | LOSSLESS | the floor on Δ̂ |\n|---|---|---|---|---|", file=out)
    for (items, k, m), (least, most) in lossless_power_table(power_runs).items():
        floor = float(critical(ALPHA, items - 1)) ** 2 * (1 - m) / items - m
        print(f"| {items} | {k} | {m} | {least:.1%} to {most:.1%} | {floor:+.3f} |", file=out)
    print(f"\nWith repeats, and for a macro, the advice is the normal approximation with the t quantile; the power there, {power_runs:,} simulations per row "
          "(a macro's items in all, split over its groups in proportion):\n", file=out)
    print("| truth | items advised | simulated power |\n|---|---|---|", file=out)
    for label, n, simulated in power_table_repeats(power_runs) + power_table_macros(power_runs):
        print(f"| {label} | {n if n is not None else 'none'} | {simulated:.1%} |", file=out)
    worst_reg = max(max(false_reg.values()), worst_reg_sim)
    print("\n## 4. Repeats whose failures are tied to items\n", file=out)
    print("The candidate is wrong on every draw of a fraction m/accuracy of the items (reference accuracy 0.9), "
          f"so the true Δ is −m; {args.runs:,} simulations per cell. False LOSSLESS:\n", file=out)
    print("| items | repeats | m = 0.02 | m = 0.05 |\n|---|---|---|---|", file=out)
    tied = item_tied_table(args.runs)
    for items, k in sorted({(i, k) for i, k, _ in tied}):
        print(f"| {items} | {k} | {tied[(items, k, 0.02)]:.2%} | {tied[(items, k, 0.05)]:.2%} |", file=out)
    print(f"\nA share h (0.05, 0.1, 0.2) of the items decided outright, the rest varying from draw to draw, the true Δ −m (m 0.02, 0.1); "
          f"{power_runs:,} simulations per cell (Monte Carlo SE about {np.sqrt(ALPHA * (1 - ALPHA) / power_runs):.2%}). "
          "False LOSSLESS: the candidate loses every draw of the broken items and gains a little elsewhere. "
          "False REGRESSION: it wins every draw of items the reference always fails and loses elsewhere (a known limit, below).\n", file=out)
    print("| items | repeats | false LOSSLESS | where | false REGRESSION | where |\n|---|---|---|---|---|---|", file=out)
    for (items, k), (lossless_cell, regression_cell) in hidden_items_table(power_runs).items():
        print(f"| {items} | {k} | {lossless_cell.rate:.2%} | {lossless_cell.where} | {regression_cell.rate:.2%} | {regression_cell.where} |", file=out)
    gains, wrong_gains = gains_limit_table(power_runs)
    print("\nThe known limit's reach beyond that table, false REGRESSION at a true Δ of −m (`gains_limit_table` says each design): "
          + "; ".join(f"{c.where} {c.rate:.2%}" for c in gains.values()) + f". Sampled runs where gate_runs disagreed with the batch: {wrong_gains}.", file=out)
    wrong_sim += wrong_gains
    print("\n## 5. Macros over groups of unequal sizes\n", file=out)
    unequal, unequal_reg, wrong_unequal = unequal_macro_table(args.runs)
    _print_macros(out, f"Three groups at m = 0.05, the macro Δ exactly −m, the damage in the smallest group or in the others; {args.runs:,} simulations per cell.",
                  unequal, unequal_reg, wrong_unequal)
    broken, broken_reg, wrong_broken = broken_group_table(args.runs)
    _print_macros(out, f"\nOne group nearly broken, the others gaining, the macro Δ exactly −m; {args.runs:,} simulations per cell.", broken, broken_reg, wrong_broken)
    worst_reg, wrong_sim = max(worst_reg, unequal_reg, broken_reg), wrong_sim + wrong_unequal + wrong_broken
    print(f"\nThe price of bounding a group of fewer than {TINY_GROUP} items by its reference's spread (`inference.group_variance`): LOSSLESS at a true Δ of 0 in every group "
          f"(accuracy 0.8, discordance 0.1), with the bound and with the group's variance from its counts (as before), the same {args.runs // 4:,} simulations for both.\n", file=out)
    print("| group sizes | repeats | m | LOSSLESS | from the counts |\n|---|---|---|---|---|", file=out)
    for (sizes, k, margin), (bounded, counted) in tiny_group_power_table(args.runs // 4).items():
        print(f"| {', '.join(map(str, sizes))} | {k} | {margin} | {bounded:.1%} | {counted:.1%} |", file=out)
    print("\nThe same shape where few answers change in large groups, exact: one repeat, one group only losing answers (each item with "
          f"probability P(lost): {', '.join(map(str, EXACT_LOST))}), the others only gaining (P(gained): {', '.join(map(str, EXACT_GAINED))}), "
          "the macro Δ exactly −m, m from 0.02 to 0.3; summed over every count. The gate also needs the macro's guard "
          "(`inference.macro_raised_bound`), which counts alone do not carry: its region is within this one, so these rates bound its own.\n", file=out)
    print("| groups | items per group | worst false LOSSLESS | where | with half a draw of correction (the one before) | where |\n|---|---|---|---|---|---|", file=out)
    broken_exact, wrong_broken_exact = broken_group_exact_table()
    for (groups, n), (cell, half) in broken_exact.items():
        print(f"| {groups} | {n} | {cell.rate:.2%} | {cell.where} | {half.rate:.2%} | {half.where} |", file=out)
    print(f"\nCounts at the edge where gate_runs disagreed with the enumeration: {wrong_broken_exact}.", file=out)
    wrong_exact += wrong_broken_exact
    print("\n## 6. Beyond the grid, exact: one repeat, and repeats with items decided outright\n", file=out)
    print(f"Exact, as section 1, over margins {', '.join(map(str, WIDE_MARGIN))} and every discordance from m to 1 (1: every answer changes). "
          f"Up to {EXACT_ITEMS} items the LOSSLESS critical value is the exact one (`inference.exact_critical`), at least Student's t with 2(n − 1)/3 df; above, the normal's.\n", file=out)
    print("| n | worst false LOSSLESS | where | worst false REGRESSION | where | the normal's critical value alone: false LOSSLESS |\n|---|---|---|---|---|---|", file=out)
    wide = wide_table()
    for n, (lossless, regression, normal) in wide.items():
        print(f"| {n} | {lossless.rate:.2%} | {lossless.where} | {regression.rate:.2%} | {regression.where} | {normal.rate:.2%} ({normal.where}) |", file=out)
    worst_reg = max(worst_reg, *(r.rate for _, r, _ in wide.values()))
    print("\nWith repeats, every item decided outright (all its draws won, lost or tied alike), exact over every count of items at −1 and +1, "
          f"margins {', '.join(map(str, OUTRIGHT_MARGIN))} and every discordance from m to 1; the same for every number of repeats. "
          f"Up to {EXACT_ITEMS} items LOSSLESS's critical value is the exact one for such items, at least Student's t with n − 1 df.\n", file=out)
    print("| n | worst false LOSSLESS | where | Student's t alone: false LOSSLESS |\n|---|---|---|---|", file=out)
    outright, wrong_outright = outright_table()
    for n, (lossless, plain) in outright.items():
        print(f"| {n} | {lossless.rate:.2%} | {lossless.where} | {plain.rate:.2%} ({plain.where}) |", file=out)
    print(f"\nThe gate also needs `inference.raised_bound`, so its region is within this one and these sizes bound its own. Cells at the edge where gate_runs passed outside the region: {wrong_outright}.", file=out)
    wrong_exact += wrong_outright
    print("\n## 7. Partial credit\n", file=out)
    print(f"Scores in [0, 1]: the candidate changes every score a little and fails some draws totally (score 0; with repeats, also every draw of some items), "
          f"as often as makes the true Δ exactly −m; {args.runs:,} simulations per cell, worst over two reference score distributions, two sizes of change and m = 0.02, 0.05.\n", file=out)
    print("| items | repeats | worst false LOSSLESS | where |\n|---|---|---|---|", file=out)
    partial, partial_reg, wrong_partial = partial_credit_table(args.runs)
    for (n, k), cell in partial.items():
        print(f"| {n} | {k} | {cell.rate:.2%} | {cell.where} |", file=out)
    print(f"\nFalse REGRESSION there, worst: {partial_reg:.2%}. Sampled runs where gate_runs disagreed with the batch: {wrong_partial}.", file=out)
    worst_reg = max(worst_reg, partial_reg)
    wrong_sim += wrong_partial
    print("\nAt its hardest, exactly: one repeat, each item's score difference a whole step one way (rare) or a small step the other (many), "
          f"else 0, over m = {', '.join(map(str, SKEWED_MARGIN))}, steps {', '.join(f'{a:+g}/{b:+g}' for a, b in SKEWED_STEPS)} "
          "and 10 shares of items changed per pair.\n", file=out)
    print("| items | worst false LOSSLESS (Δ = −m) | where | worst false REGRESSION (Δ = −m) | where | worst false REGRESSION (Δ = 0) | where |\n|---|---|---|---|---|---|---|", file=out)
    skewed, wrong_skewed = skewed_partial_table()
    for n, cells in skewed.items():
        print(f"| {n} | " + " | ".join(f"{c.rate:.2%} | {c.where}" for c in cells) + " |", file=out)
    print(f"\nCounts where gate_runs disagreed with the enumeration: {wrong_skewed}.", file=out)
    worst_reg = max(worst_reg, *(c.rate for _, r, z in skewed.values() for c in (r, z)))
    wrong_exact += wrong_skewed
    ok = max(worst.rate, worst_sim.rate, worst_reg, *tied.values(), *(c.rate for c in unequal.values()), *(c.rate for c in broken.values()), *(c.rate for c, _ in broken_exact.values()), *(lo.rate for lo, _, _ in wide.values()),
             *(lo.rate for lo, _ in outright.values()), *(c.rate for c in partial.values()), *(lo.rate for lo, _, _ in skewed.values())) <= LIMIT and not wrong_exact and not wrong_sim
    print(f"\n{'PASS' if ok else 'FAIL'}: every false LOSSLESS and false REGRESSION rate ≤ {LIMIT:.1%}, and gate_runs agrees with every sampled cell.", file=out)
    tables = out.getvalue()
    sys.stdout.write(tables)
    if args.write:
        write_block(Path(args.write), "calibration", f"python -m evals.calibration --runs {args.runs} --write {args.write}", tables)
    return 0 if ok else 4  # never 1: that is REGRESSION's code in this project


def _print_macros(out: io.StringIO, heading: str, table: dict[tuple[tuple[int, ...], int], Cell], regression: float, wrong: int) -> None:
    print(heading + "\n", file=out)
    print("| group sizes | repeats | worst false LOSSLESS | where |\n|---|---|---|---|", file=out)
    for (sizes, k), cell in table.items():
        print(f"| {', '.join(map(str, sizes))} | {k} | {cell.rate:.2%} | {cell.where} |", file=out)
    print(f"\nFalse REGRESSION there, worst: {regression:.2%}. Sampled runs where gate_runs disagreed with the batch: {wrong}.", file=out)


def write_block(path: Path, marker: str, command: str, tables: str) -> None:
    """Replace what stands between `<!-- MARKER:start -->` and `<!-- MARKER:end -->` in `path`, saying how to regenerate it."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path}: no {start} ... {end} block to replace")
    block = f"{start}\n<!-- regenerate: {command} -->\n\n{tables}\n{end}"
    path.write_text(re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL))


if __name__ == "__main__":
    raise SystemExit(main())
