"""Every formula of the statistics module and the gate against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower

from evals.config import GateConfig
from evals.gate import (
    EXIT_CODES,
    SummaryRow,
    Verdict,
    decide,
    gate_runs,
    gate_summary,
    overall,
)
from evals.records import Manifest, Record
from evals.stats import (
    clustered_mean,
    items_needed,
    macro_delta,
    mcnemar_exact,
    mde,
    pair,
    paired_delta,
    paired_from_records,
    repeats_needed,
    rule_of_three_se,
)

TOL = 1e-9
Z975 = sps.norm.ppf(0.975)


def correlated_binary(rng: np.random.Generator, n: int, p: float = 0.8, flip: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    ref = (rng.random(n) < p).astype(float)
    cand = np.where(rng.random(n) < flip, 1 - ref, ref)
    return ref, cand


def test_clustered_mean() -> None:
    values = np.random.default_rng(1).random(137)
    est = clustered_mean(values)
    assert est.mean == pytest.approx(np.mean(values), abs=TOL)
    assert est.se == pytest.approx(sps.sem(values), abs=TOL)
    assert est.low == pytest.approx(np.mean(values) - Z975 * sps.sem(values), abs=TOL)
    assert est.high == pytest.approx(np.mean(values) + Z975 * sps.sem(values), abs=TOL)
    assert est.n == 137


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_delta_binary(seed: int) -> None:
    ref, cand = correlated_binary(np.random.default_rng(seed), 400)
    d = paired_delta(ref, cand)
    diff = cand - ref
    assert d.delta == pytest.approx(diff.mean(), abs=TOL)
    assert d.se == pytest.approx(sps.sem(diff), abs=TOL)
    assert d.sd_diff == pytest.approx(np.std(diff, ddof=1), abs=TOL)
    assert d.low == pytest.approx(diff.mean() - Z975 * sps.sem(diff), abs=TOL)
    assert d.high == pytest.approx(diff.mean() + Z975 * sps.sem(diff), abs=TOL)
    assert d.se_unpaired == pytest.approx(math.hypot(sps.sem(ref), sps.sem(cand)), abs=TOL)
    assert d.correlation == pytest.approx(sps.pearsonr(ref, cand).statistic, abs=TOL)
    assert d.se < d.se_unpaired / 2  # pairing removes the variance the arms share
    # the paired t statistic is the same quantity scipy's ttest_rel computes
    assert d.delta / d.se == pytest.approx(sps.ttest_rel(cand, ref).statistic, abs=1e-7)


def test_paired_delta_on_means_over_repeats() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(2, 1, size=150)
    ref = (rng.random((150, 4)) < p[:, None]).mean(axis=1)
    cand = (rng.random((150, 4)) < p[:, None]).mean(axis=1)
    d = paired_delta(ref, cand, repeats=4)
    assert d.delta == pytest.approx(np.mean(cand - ref), abs=TOL)
    assert d.se == pytest.approx(sps.sem(cand - ref), abs=TOL)
    assert d.mcnemar is None  # not a single-repeat 0/1 task


def test_mcnemar_against_the_exact_binomial() -> None:
    ref, cand = correlated_binary(np.random.default_rng(3), 300, flip=0.08)
    result = paired_delta(ref, cand).mcnemar
    b = int(np.sum((ref == 1) & (cand == 0)))
    c = int(np.sum((ref == 0) & (cand == 1)))
    assert (result.ref_only_right, result.cand_only_right) == (b, c)
    assert result.pvalue == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, abs=TOL)
    assert mcnemar_exact(np.ones(10), np.ones(10)).pvalue == pytest.approx(1.0)


def test_bootstrap_only_below_100_items_and_close_to_normal() -> None:
    ref, cand = correlated_binary(np.random.default_rng(4), 90, flip=0.2)
    small = paired_delta(ref, cand)
    assert small.bootstrap is not None
    low, high = small.bootstrap
    assert low < small.delta < high
    assert abs(low - small.low) < 0.02 and abs(high - small.high) < 0.02
    assert paired_delta(*correlated_binary(np.random.default_rng(4), 100, flip=0.2)).bootstrap is None


def test_macro_delta() -> None:
    rng = np.random.default_rng(5)
    groups = [paired_delta(*correlated_binary(rng, n)) for n in (50, 114, 114)]
    delta, se = macro_delta(groups)
    assert delta == pytest.approx(np.mean([g.delta for g in groups]), abs=TOL)
    assert se == pytest.approx(math.sqrt(sum(g.se**2 for g in groups)) / 3, abs=TOL)


@pytest.mark.parametrize(("alpha", "power"), [(0.025, 0.8), (0.05, 0.9)])
def test_mde_and_items_needed(alpha: float, power: float) -> None:
    assert mde(0.01, alpha, power) == pytest.approx((sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)) * 0.01, abs=TOL)
    for sd, margin in [(0.2, 0.02), (0.35, 0.03), (0.1, 0.05)]:
        # statsmodels' one-sample normal power (ratio=0): effect size m/sd, one-sided
        theirs = NormalIndPower().solve_power(effect_size=margin / sd, alpha=alpha, power=power, ratio=0, alternative="larger")
        assert items_needed(sd, margin, alpha, power) == math.ceil(theirs - 1e-9)


def test_repeats_needed_plugs_back() -> None:
    rng = np.random.default_rng(6)
    n, k = 198, 2
    p = rng.beta(3, 1, size=n)
    u = rng.random((n, k))
    ref = (u < p[:, None]).astype(float)
    cand = np.where(rng.random((n, k)) < 0.25, 1 - ref, ref)
    d = cand - ref
    stats = paired_delta(ref.mean(1), cand.mean(1), repeats=k, within_var=float(np.mean(np.var(d, axis=1, ddof=1))))
    margin, alpha, power = 0.03, 0.025, 0.8
    needed = repeats_needed(stats, margin, alpha, power)
    assert needed is not None and needed > k
    between = max(stats.sd_diff**2 - stats.within_var / k, 0)
    z = sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)
    assert z * math.sqrt((between + stats.within_var / needed) / n) <= margin + 1e-12
    assert z * math.sqrt((between + stats.within_var / (needed - 1)) / n) > margin
    assert repeats_needed(paired_delta(ref[:, 0], cand[:, 0]), margin, alpha, power) is None


def record(item: str, score: float, repeat: int = 0, error: str | None = None, **details: object) -> Record:
    return Record(task="t", item_id=item, repeat=repeat, endpoint="e", request_hash="h", score=score, error=error, details=dict(details))


def test_pair_leaves_out_and_counts() -> None:
    reference = [record("a", 1, 0), record("a", 0, 1), record("b", 1), record("c", 1), record("d", 0, error="boom"), record("e", 1)]
    candidate = [record("a", 1, 0), record("a", 1, 1), record("b", 0), record("d", 1), record("e", 0, error="timeout"), record("f", 1)]
    p = pair(reference, candidate)
    assert p.items == ["a", "b"]
    assert p.reference == [0.5, 1.0] and p.candidate == [1.0, 0.0]
    assert (p.only_reference, p.only_candidate, p.errored) == (1, 1, 2)
    d, _ = paired_from_records(reference, candidate)
    assert d.delta == pytest.approx(paired_delta([0.5, 1.0], [1.0, 0.0]).delta, abs=TOL)
    # an error that is the model's own failure (tau2) stays in, as a 0
    kept = pair([record("x", 1)], [record("x", 0, error="agent_error", scored_as_failure=True)])
    assert kept.items == ["x"] and kept.candidate == [0.0]


@pytest.mark.parametrize(
    ("delta", "se", "verdict"),
    [
        (0.0, 0.005, Verdict.LOSSLESS),
        (-0.01, 0.0051, Verdict.LOSSLESS),  # L = -0.019996 > -0.02
        (-0.01, 0.0052, Verdict.INCONCLUSIVE),  # L = -0.0202
        (-0.03, 0.0051, Verdict.REGRESSION),  # U = -0.020004 < -0.02
        (-0.03, 0.0052, Verdict.INCONCLUSIVE),
        (-0.02, 0.0, Verdict.INCONCLUSIVE),  # exactly at the margin: neither bound is strict
        (float("nan"), 0.01, Verdict.ERROR),
    ],
)
def test_decide(delta: float, se: float, verdict: Verdict) -> None:
    assert decide(delta, se, 0.02, 0.025) == verdict


def test_overall_precedence_and_exit_codes() -> None:
    L, R, I, E = Verdict.LOSSLESS, Verdict.REGRESSION, Verdict.INCONCLUSIVE, Verdict.ERROR
    assert overall([L, I, E, R]) == R
    assert overall([L, I, E]) == E
    assert overall([L, I]) == I
    assert overall([L, L]) == L
    assert [EXIT_CODES[v] for v in (L, R, I, E)] == [0, 1, 3, 4]


def test_gate_summary_published_table() -> None:
    rows = [SummaryRow(task="gsm8k", n_items=200, repeats=1, score_ref=0.965, score_cand=0.955),
            SummaryRow(task="gpqa_diamond", n_items=198, repeats=2, score_ref=0.9217, score_cand=0.9026)]
    for row, v in zip(rows, gate_summary(rows, GateConfig())):
        se = math.hypot(math.sqrt(row.score_ref * (1 - row.score_ref) / row.n_items), math.sqrt(row.score_cand * (1 - row.score_cand) / row.n_items))
        assert v.verdict == Verdict.INCONCLUSIVE and not v.paired
        assert v.se == pytest.approx(se, abs=TOL) and v.delta == pytest.approx(row.score_cand - row.score_ref, abs=TOL)
    assert gate_summary(rows[:1], GateConfig())[0].low == pytest.approx(-0.01 - Z975 * math.hypot(math.sqrt(0.965 * 0.035 / 200), math.sqrt(0.955 * 0.045 / 200)), abs=TOL)


def manifest(**changes: object) -> Manifest:
    base = dict(task="gsm8k", task_version="1", task_config={"limit": 50}, dataset_fingerprint="d" * 64, prompt_fingerprint="p" * 64,
                sampling={"temperature": 0.0}, endpoint="e", base_url="", model="m", tool_version="0", items=50, repeats=[0], started_at="")
    return Manifest(**{**base, **changes})


def arm(scores: np.ndarray, hashes: str = "h", errors: int = 0) -> list[Record]:
    return [Record(task="gsm8k", item_id=f"i{i}", endpoint="e", request_hash=hashes, score=float(s), error="x" if i < errors else None) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    ("change", "named"),
    [({"prompt_fingerprint": "q" * 64}, "prompt_fingerprint"), ({"dataset_fingerprint": "e" * 64}, "dataset_fingerprint"),
     ({"task_config": {"limit": 60}}, "task_config (limit: 50 vs 60)"), ({"sampling": {"temperature": 1.0}}, "sampling")],
)
def test_gate_runs_refuses_incomparable_runs(change: dict, named: str) -> None:
    ref, cand = correlated_binary(np.random.default_rng(8), 50)
    v = gate_runs((manifest(), arm(ref)), (manifest(**change), arm(cand)), GateConfig())
    assert v.verdict == Verdict.ERROR and named in v.problem


def test_gate_runs_refuses_different_prompts_and_too_many_errors() -> None:
    ref, cand = correlated_binary(np.random.default_rng(9), 50)
    v = gate_runs((manifest(), arm(ref)), (manifest(), arm(cand, hashes="other")), GateConfig())
    assert v.verdict == Verdict.ERROR and "different prompts for 50" in v.problem
    v = gate_runs((manifest(), arm(ref)), (manifest(), arm(cand, errors=1)), GateConfig(max_error_rate=0.01))
    assert v.verdict == Verdict.ERROR and "error rate" in v.problem and v.errors == {"reference": 0, "candidate": 1}
    v = gate_runs((manifest(), arm(ref)), (manifest(), arm(cand, errors=1)), GateConfig(max_error_rate=0.05))
    assert v.verdict != Verdict.ERROR and v.n == 49 and v.left_out["errored"] == 1


def test_identical_arms_are_not_proof_on_few_items() -> None:
    scores = np.array([1.0, 0.0, 1.0, 1.0])
    small = gate_runs((manifest(items=4), arm(scores)), (manifest(items=4), arm(scores)), GateConfig())
    assert small.verdict == Verdict.INCONCLUSIVE and small.se == pytest.approx(math.sqrt(3 / 4) / 2)
    big = np.tile(scores, 500)
    large = gate_runs((manifest(items=2000), arm(big)), (manifest(items=2000), arm(big)), GateConfig())
    assert large.verdict == Verdict.LOSSLESS and large.se == pytest.approx(rule_of_three_se(2000))
