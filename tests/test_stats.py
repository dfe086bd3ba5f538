"""Every formula of the statistics module and the gate against an independent computation
(numpy, scipy, statsmodels) on seeded random data, to 1e-9 where the answer is deterministic."""

from __future__ import annotations

import itertools
import math
import random

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
)

TOL = 1e-9


def zcrit(alpha: float) -> float:
    return float(sps.norm.ppf(1 - alpha))


def correlated_binary(rng: np.random.Generator, n: int, accuracy: float = 0.8, flip: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """0/1 scores for two arms on the same items: items differ in difficulty, the candidate flips a few answers."""
    p = rng.beta(accuracy * 2, (1 - accuracy) * 2, size=n)
    ref = (rng.random(n) < p).astype(float)
    cand = np.where(rng.random(n) < flip, 1 - ref, ref)
    return ref, cand


def means_over_repeats(rng: np.random.Generator, n: int, k: int, shift: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-item means over k repeats; both arms share the item's difficulty, so they are positively correlated."""
    p = rng.beta(2.0, 1.0, size=n)
    ref = (rng.random((n, k)) < p[:, None]).astype(float)
    cand = (rng.random((n, k)) < np.clip(p - shift, 0, 1)[:, None]).astype(float)
    return ref.mean(axis=1), cand.mean(axis=1), ref, cand


# --- clustered_mean -------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "alpha"), [(1, 137, 0.025), (2, 2, 0.025), (3, 1000, 0.05), (4, 57, 0.1)])
def test_clustered_mean(seed: int, n: int, alpha: float) -> None:
    values = np.random.default_rng(seed).random(n)
    est = clustered_mean(values, alpha)
    mean, sem = float(np.mean(values)), float(sps.sem(values))
    assert est.n == n
    assert est.mean == pytest.approx(mean, abs=TOL)
    assert est.se == pytest.approx(sem, abs=TOL)
    assert est.se == pytest.approx(np.std(values, ddof=1) / math.sqrt(n), abs=TOL)
    assert est.low == pytest.approx(mean - zcrit(alpha) * sem, abs=TOL)
    assert est.high == pytest.approx(mean + zcrit(alpha) * sem, abs=TOL)


def test_clustered_mean_of_one_item_has_no_se() -> None:
    est = clustered_mean([0.5])
    assert est.mean == 0.5 and est.n == 1 and math.isnan(est.se)


# --- paired_delta ---------------------------------------------------------------------------


def check_paired(ref: np.ndarray, cand: np.ndarray, alpha: float, repeats: int = 1) -> None:
    got = paired_delta(ref, cand, alpha, repeats=repeats)
    diff = cand - ref
    delta, se = float(np.mean(diff)), float(sps.sem(diff))
    assert got.n == len(ref)
    assert got.delta == pytest.approx(delta, abs=TOL)
    assert got.se == pytest.approx(se, abs=TOL)
    assert got.sd_diff == pytest.approx(np.std(diff, ddof=1), abs=TOL)
    assert got.low == pytest.approx(delta - zcrit(alpha) * se, abs=TOL)
    assert got.high == pytest.approx(delta + zcrit(alpha) * se, abs=TOL)
    assert got.se_unpaired == pytest.approx(math.hypot(sps.sem(ref), sps.sem(cand)), abs=TOL)
    assert got.correlation == pytest.approx(sps.pearsonr(ref, cand).statistic, abs=TOL)
    assert got.reference.mean == pytest.approx(np.mean(ref), abs=TOL)
    assert got.candidate.mean == pytest.approx(np.mean(cand), abs=TOL)
    assert got.reference.se == pytest.approx(sps.sem(ref), abs=TOL)
    assert got.candidate.se == pytest.approx(sps.sem(cand), abs=TOL)
    assert got.repeats == repeats
    # positively correlated arms: pairing removes the variance they share
    assert got.correlation > 0.3
    assert got.se < got.se_unpaired
    # the unpaired SE formula itself: Var(d̄) = Var(r̄) + Var(c̄) − 2 Cov, so the paired SE² is the
    # unpaired SE² less twice the covariance term (an identity numpy can check on its own)
    cov = np.cov(ref, cand, ddof=1)[0, 1] / len(ref)
    assert got.se**2 == pytest.approx(got.se_unpaired**2 - 2 * cov, abs=TOL)


@pytest.mark.parametrize(("seed", "n", "alpha"), [(0, 400, 0.025), (1, 1319, 0.025), (2, 198, 0.05)])
def test_paired_delta_binary(seed: int, n: int, alpha: float) -> None:
    ref, cand = correlated_binary(np.random.default_rng(seed), n)
    check_paired(ref, cand, alpha)
    # the paired z statistic is scipy's paired t statistic
    got = paired_delta(ref, cand, alpha)
    assert got.delta / got.se == pytest.approx(sps.ttest_rel(cand, ref).statistic, abs=1e-7)


@pytest.mark.parametrize(("seed", "n"), [(10, 150), (11, 198), (12, 500)])
def test_paired_delta_on_means_over_four_repeats(seed: int, n: int) -> None:
    ref, cand, _, _ = means_over_repeats(np.random.default_rng(seed), n, 4)
    assert set(np.unique(ref)) <= {0, 0.25, 0.5, 0.75, 1}
    check_paired(ref, cand, 0.025, repeats=4)


def test_paired_delta_signs_and_scale() -> None:
    """Δ is candidate − reference, not the other way round, and shifts with a constant."""
    rng = np.random.default_rng(13)
    ref = rng.random(200)
    cand = ref - 0.1 + rng.normal(0, 0.01, 200)
    got = paired_delta(ref, cand)
    assert got.delta == pytest.approx(-0.1, abs=0.003)
    assert got.high < 0


# --- McNemar --------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "flip"), [(3, 300, 0.08), (4, 1319, 0.03), (5, 50, 0.1), (6, 120, 0.3)])
def test_mcnemar_against_the_exact_binomial(seed: int, n: int, flip: float) -> None:
    ref, cand = correlated_binary(np.random.default_rng(seed), n, flip=flip)
    result = paired_delta(ref, cand).mcnemar
    assert result is not None
    b = int(np.sum((ref == 1) & (cand == 0)))
    c = int(np.sum((ref == 0) & (cand == 1)))
    assert b + c > 0
    assert (result.ref_only_right, result.cand_only_right) == (b, c)
    assert result.pvalue == pytest.approx(sps.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue, abs=TOL)


def test_mcnemar_by_hand() -> None:
    # b = 8 reference-only right, c = 2 candidate-only right, 90 concordant
    ref = np.array([1] * 8 + [0] * 2 + [1] * 60 + [0] * 30, dtype=float)
    cand = np.array([0] * 8 + [1] * 2 + [1] * 60 + [0] * 30, dtype=float)
    result = mcnemar_exact(ref, cand)
    assert (result.ref_only_right, result.cand_only_right) == (8, 2)
    # two-sided exact: 2·P(X ≤ 2), X ~ Bin(10, 1/2) = 2·(1 + 10 + 45)/1024
    assert result.pvalue == pytest.approx(2 * 56 / 1024, abs=TOL)
    # b == c: nothing against Δ = 0; no discordant pair at all: likewise
    assert mcnemar_exact(np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0])).pvalue == pytest.approx(1.0, abs=TOL)
    assert mcnemar_exact(np.ones(10), np.ones(10)).pvalue == pytest.approx(1.0, abs=TOL)


def test_mcnemar_only_for_single_repeat_binary_data() -> None:
    rng = np.random.default_rng(7)
    ref, cand = correlated_binary(rng, 300)
    assert paired_delta(ref, cand, repeats=1).mcnemar is not None
    assert paired_delta(ref, cand, repeats=2).mcnemar is None  # 0/1 means of two repeats are not single answers
    mref, mcand, _, _ = means_over_repeats(rng, 300, 4)
    assert paired_delta(mref, mcand, repeats=4).mcnemar is None
    assert paired_delta(mref, mcand, repeats=1).mcnemar is None  # non-binary scores
    assert paired_delta(ref + 0.0, np.where(cand == 1, 0.9, 0.0)).mcnemar is None


# --- bootstrap ------------------------------------------------------------------------------


def numpy_bootstrap(ref: np.ndarray, cand: np.ndarray, alpha: float, seed: int, reps: int = 20000) -> tuple[float, float]:
    d = cand - ref
    idx = np.random.default_rng(seed).integers(0, len(d), size=(reps, len(d)))
    low, high = np.quantile(d[idx].mean(axis=1), [alpha, 1 - alpha])
    return float(low), float(high)


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_bootstrap_below_100_items_close_to_the_normal_interval(seed: int) -> None:
    ref, cand = correlated_binary(np.random.default_rng(seed), 90, accuracy=0.7, flip=0.2)
    got = paired_delta(ref, cand)
    assert got.bootstrap is not None
    low, high = got.bootstrap
    assert low < got.delta < high
    normal_half = 1.959963984540054 * float(sps.sem(cand - ref))
    assert abs(low - (got.delta - normal_half)) < 0.02
    assert abs(high - (got.delta + normal_half)) < 0.02
    # and it resamples pairs, as an independent numpy percentile bootstrap does (to a step or two of 1/n)
    np_low, np_high = numpy_bootstrap(ref, cand, 0.025, seed + 100)
    assert abs(low - np_low) <= 2 / 90 + 1e-12 and abs(high - np_high) <= 2 / 90 + 1e-12


def test_bootstrap_on_means_over_repeats() -> None:
    ref, cand, _, _ = means_over_repeats(np.random.default_rng(23), 60, 4, shift=0.05)
    got = paired_delta(ref, cand, repeats=4)
    assert got.bootstrap is not None
    np_low, np_high = numpy_bootstrap(ref, cand, 0.025, 123)
    assert got.bootstrap[0] == pytest.approx(np_low, abs=0.01)
    assert got.bootstrap[1] == pytest.approx(np_high, abs=0.01)


def test_bootstrap_present_exactly_when_1_lt_n_lt_100() -> None:
    rng = np.random.default_rng(24)
    ref, cand = correlated_binary(rng, 400, flip=0.3)
    for n, present in [(2, True), (3, True), (50, True), (99, True), (100, False), (101, False), (400, False)]:
        r, c = ref[:n].copy(), cand[:n].copy()
        r[0], c[0] = 1.0, 0.0  # at least one discordant pair, so sd(d) > 0
        assert (paired_delta(r, c).bootstrap is not None) is present, n
    assert paired_delta([1.0], [0.0]).bootstrap is None


# --- macro_delta ----------------------------------------------------------------------------


def test_macro_delta() -> None:
    rng = np.random.default_rng(5)
    arms = [correlated_binary(rng, n, flip=0.1) for n in (50, 114, 114, 20)]
    groups = [paired_delta(r, c) for r, c in arms]
    deltas = [float(np.mean(c - r)) for r, c in arms]
    ses = [float(sps.sem(c - r)) for r, c in arms]
    delta, se = macro_delta(groups)
    assert delta == pytest.approx(sum(deltas) / 4, abs=TOL)
    assert se == pytest.approx(math.sqrt(sum(s**2 for s in ses)) / 4, abs=TOL)
    # unweighted: not the pooled Δ over all items
    pooled = float(np.mean(np.concatenate([c - r for r, c in arms])))
    assert abs(pooled - delta) > 1e-6


# --- mde / items_needed / repeats_needed ----------------------------------------------------


@pytest.mark.parametrize(("alpha", "power"), [(0.025, 0.8), (0.05, 0.9), (0.01, 0.5), (0.1, 0.95)])
def test_mde(alpha: float, power: float) -> None:
    for se in (0.001, 0.0123, 0.05):
        expected = (sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)) * se
        assert mde(se, alpha, power) == pytest.approx(expected, abs=TOL)
        # a true drop of exactly the MDE is detected (U < 0) with the stated power
        assert sps.norm.cdf((expected - sps.norm.ppf(1 - alpha) * se) / se) == pytest.approx(power, abs=1e-9)


def test_statsmodels_ratio_zero_is_the_one_sample_test() -> None:
    """NormalIndPower with ratio=0 uses nobs = nobs1 (one sample), with ratio=1 the two-sample nobs/2."""
    power = NormalIndPower()
    for d, n, alpha in [(0.1, 500, 0.025), (0.3, 40, 0.05)]:
        one_sample = sps.norm.sf(sps.norm.ppf(1 - alpha) - d * math.sqrt(n))
        assert power.power(effect_size=d, nobs1=n, alpha=alpha, ratio=0, alternative="larger") == pytest.approx(one_sample, abs=1e-12)
        two_sample = sps.norm.sf(sps.norm.ppf(1 - alpha) - d * math.sqrt(n / 2))
        assert power.power(effect_size=d, nobs1=n, alpha=alpha, ratio=1, alternative="larger") == pytest.approx(two_sample, abs=1e-12)


@pytest.mark.parametrize(("alpha", "power"), [(0.025, 0.8), (0.05, 0.9), (0.01, 0.5)])
@pytest.mark.parametrize(("sd", "margin"), [(0.2, 0.02), (0.35, 0.03), (0.1, 0.05), (math.sqrt(0.03), 0.02), (0.5, 0.01)])
def test_items_needed(alpha: float, power: float, sd: float, margin: float) -> None:
    needed = items_needed(sd, margin, alpha, power)
    theirs = NormalIndPower().solve_power(effect_size=margin / sd, alpha=alpha, power=power, ratio=0, alternative="larger")
    assert abs(needed - math.ceil(theirs)) <= 1
    # the closed form with scipy: the smallest n whose one-sided test at true Δ = 0 has the power
    za, zb = sps.norm.ppf(1 - alpha), sps.norm.ppf(power)
    assert (za + zb) * sd / math.sqrt(needed) <= margin * (1 + 1e-12)
    assert (za + zb) * sd / math.sqrt(needed - 1) > margin
    assert sps.norm.sf(za - margin / sd * math.sqrt(needed)) >= power - 1e-12


def test_items_needed_for_gsm8k_like_numbers() -> None:
    # sd(d) = sqrt(0.03) (3% discordance), m = 0.02, α = 0.025, power 0.8: (2.8016·0.1732/0.02)² = 588.7
    assert items_needed(math.sqrt(0.03), 0.02, 0.025, 0.8) == 589


def repeat_data(seed: int, n: int, k: int) -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(3, 1, size=n)
    ref = (rng.random((n, k)) < p[:, None]).astype(float)
    # a fifth of the items are broken by the quantization (flip often), the rest flip rarely:
    # a between-item part of Var(d̄_i) beside the within-item (per-repeat) part
    item_flip = np.where(rng.random(n) < 0.2, 0.6, 0.05)
    cand = np.where(rng.random((n, k)) < item_flip[:, None], 1 - ref, ref)
    d = cand - ref
    within = float(np.mean(np.var(d, axis=1, ddof=1)))
    return paired_delta(ref.mean(1), cand.mean(1), repeats=k, within_var=within), ref, cand


@pytest.mark.parametrize(("seed", "k"), [(6, 2), (7, 3), (8, 2), (9, 4), (10, 2)])
@pytest.mark.parametrize("margin", [0.02, 0.03, 0.04, 0.05, 0.08])
def test_repeats_needed_plugs_back(seed: int, k: int, margin: float) -> None:
    n, alpha, power = 198, 0.025, 0.8
    stats, ref, cand = repeat_data(seed, n, k)
    needed = repeats_needed(stats, margin, alpha, power)
    za_zb = sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)
    d = cand - ref
    within = float(np.mean(np.var(d, axis=1, ddof=1)))  # s², the per-repeat part
    between = max(float(np.var(d.mean(axis=1), ddof=1)) - within / k, 0.0)  # τ² = Var(d̄_i) − s²/K
    if needed is None:
        # None only when even infinitely many repeats would not do
        assert za_zb * math.sqrt(between / n) >= margin
        return
    assert needed >= 1
    assert za_zb * math.sqrt((between + within / needed) / n) <= margin * (1 + 1e-12)
    if needed > 1:
        assert za_zb * math.sqrt((between + within / (needed - 1)) / n) > margin


def test_repeats_needed_reaches_both_branches() -> None:
    """The parametrised cases above are not all trivially None: some need more repeats, one needs none."""
    n, alpha, power = 198, 0.025, 0.8
    stats, _, _ = repeat_data(6, n, 2)
    needed = repeats_needed(stats, 0.04, alpha, power)
    assert needed is not None and needed > 2
    # an impossible margin: the between-item variance alone is too large
    assert repeats_needed(stats, 0.02, alpha, power) is None
    # a lavish margin: one repeat would do
    assert repeats_needed(stats, 0.15, alpha, power) == 1


def test_repeats_needed_none_with_one_repeat_or_no_within_variance() -> None:
    stats, ref, cand = repeat_data(6, 198, 2)
    assert repeats_needed(paired_delta(ref[:, 0], cand[:, 0]), 0.03, 0.025, 0.8) is None
    assert repeats_needed(paired_delta(ref.mean(1), cand.mean(1), repeats=2, within_var=0.0), 0.03, 0.025, 0.8) is None


# --- pair / paired_from_records -------------------------------------------------------------


def rec(item: str, repeat: int, score: float, error: str | None = None, request_hash: str | None = None, **details: object) -> Record:
    return Record(task="t", item_id=item, repeat=repeat, endpoint="e", request_hash=request_hash or f"{item}/{repeat}",
                  score=score, error=error, details=dict(details))


def pairing_fixture() -> tuple[list[Record], list[Record]]:
    reference = [
        rec("a", 0, 1), rec("a", 1, 0), rec("a", 2, 1),
        rec("b", 0, 1), rec("b", 1, 1), rec("b", 2, 1),
        rec("c", 0, 1), rec("c", 1, 0), rec("c", 2, 0),  # reference only
        rec("f", 0, 1), rec("f", 1, 0, error="timeout"), rec("f", 2, 1),  # error in the reference
        rec("g", 0, 1), rec("g", 1, 1), rec("g", 2, 1),
        rec("h", 0, 0, error="boom"), rec("h", 1, 1), rec("h", 2, 1),  # error in both
        rec("i", 0, 0, error="boom"),  # reference only, errored
        rec("k", 0, 1), rec("k", 1, 1), rec("k", 2, 1),
    ]
    candidate = [
        rec("a", 0, 1), rec("a", 1, 1), rec("a", 2, 0),
        rec("b", 0, 0), rec("b", 1, 1), rec("b", 2, 0),
        rec("d", 0, 1), rec("d", 1, 1), rec("d", 2, 1),  # candidate only
        rec("e", 0, 0),  # candidate only
        rec("f", 0, 1), rec("f", 1, 1), rec("f", 2, 1),
        rec("g", 0, 0, error="http 500"), rec("g", 1, 1), rec("g", 2, 1),  # error in the candidate
        rec("h", 0, 0, error="boom"), rec("h", 1, 1), rec("h", 2, 1),
        # the model's own failure (tau2 agent error) stands, as a 0
        rec("k", 0, 1), rec("k", 1, 0, error="agent_error", scored_as_failure=True), rec("k", 2, 1),
    ]
    random.Random(0).shuffle(reference)
    random.Random(1).shuffle(candidate)
    return reference, candidate


def test_pair_aligns_leaves_out_and_counts() -> None:
    reference, candidate = pairing_fixture()
    p = pair(reference, candidate)
    assert p.items == ["a", "b", "k"]
    assert p.reference == pytest.approx([2 / 3, 1.0, 1.0], abs=TOL)
    assert p.candidate == pytest.approx([2 / 3, 1 / 3, 2 / 3], abs=TOL)
    assert (p.only_reference, p.only_candidate, p.errored) == (1, 2, 4)
    assert p.repeats == 3
    # per-repeat differences: a [0, 1, −1], b [−1, 0, −1], k [0, −1, 0]
    within = np.mean([np.var([0, 1, -1], ddof=1), np.var([-1, 0, -1], ddof=1), np.var([0, -1, 0], ddof=1)])
    assert p.within_var == pytest.approx(within, abs=TOL) and p.within_var == pytest.approx(5 / 9, abs=TOL)


def test_paired_from_records_is_paired_delta_on_the_aligned_lists() -> None:
    reference, candidate = pairing_fixture()
    got, p = paired_from_records(reference, candidate, alpha=0.05)
    ref, cand = [2 / 3, 1.0, 1.0], [2 / 3, 1 / 3, 2 / 3]
    expected = paired_delta(ref, cand, 0.05, repeats=3, within_var=5 / 9)
    for field in ("n", "delta", "se", "low", "high", "sd_diff", "se_unpaired", "correlation", "repeats", "within_var"):
        assert getattr(got, field) == pytest.approx(getattr(expected, field), abs=TOL, nan_ok=True), field
    # and by hand: d = [0, −2/3, −1/3]
    d = np.array(cand) - np.array(ref)
    assert got.delta == pytest.approx(-1 / 3, abs=TOL)
    assert got.se == pytest.approx(sps.sem(d), abs=TOL)
    assert got.mcnemar is None  # three repeats


def test_pair_single_repeat_random_records() -> None:
    """A larger random case: items dropped at random from each arm, errors sprinkled in."""
    rng = np.random.default_rng(30)
    n = 300
    ref_scores, cand_scores = correlated_binary(rng, n, flip=0.1)
    in_ref, in_cand = rng.random(n) < 0.95, rng.random(n) < 0.95
    err_ref, err_cand = rng.random(n) < 0.03, rng.random(n) < 0.03
    reference = [rec(f"q{i:03d}", 0, ref_scores[i], error="x" if err_ref[i] else None) for i in range(n) if in_ref[i]]
    candidate = [rec(f"q{i:03d}", 0, cand_scores[i], error="x" if err_cand[i] else None) for i in range(n) if in_cand[i]]
    errored = (in_ref & err_ref) | (in_cand & err_cand)
    keep = in_ref & in_cand & ~errored
    p = pair(reference, candidate)
    assert p.items == [f"q{i:03d}" for i in range(n) if keep[i]]
    assert p.reference == ref_scores[keep].tolist() and p.candidate == cand_scores[keep].tolist()
    assert p.only_reference == int(np.sum(in_ref & ~in_cand & ~errored))
    assert p.only_candidate == int(np.sum(in_cand & ~in_ref & ~errored))
    assert p.errored == int(np.sum(errored))
    assert p.repeats == 1 and p.within_var == 0.0
    got, _ = paired_from_records(reference, candidate)
    d = cand_scores[keep] - ref_scores[keep]
    assert got.delta == pytest.approx(d.mean(), abs=TOL) and got.se == pytest.approx(sps.sem(d), abs=TOL)
    b, c = int(np.sum(d == -1)), int(np.sum(d == 1))
    assert got.mcnemar is not None and (got.mcnemar.ref_only_right, got.mcnemar.cand_only_right) == (b, c)


# --- gate.decide / overall / exit codes -----------------------------------------------------

Z = 1.959963984540054  # norm.ppf(0.975)


@pytest.mark.parametrize(
    ("delta", "se", "verdict"),
    [
        (0.0, 0.005, Verdict.LOSSLESS),
        (-0.02 + Z * 0.01 + 1e-9, 0.01, Verdict.LOSSLESS),  # L just above −m
        (-0.02 + Z * 0.01 - 1e-9, 0.01, Verdict.INCONCLUSIVE),  # L just below −m
        (-0.02 - Z * 0.01 - 1e-9, 0.01, Verdict.REGRESSION),  # U just below −m
        (-0.02 - Z * 0.01 + 1e-9, 0.01, Verdict.INCONCLUSIVE),  # U just above −m
        (-0.02, 0.0, Verdict.INCONCLUSIVE),  # exactly at the margin: neither inequality is strict
        (-0.0199, 0.0, Verdict.LOSSLESS),
        (-0.0201, 0.0, Verdict.REGRESSION),
        (0.05, 0.001, Verdict.LOSSLESS),  # better than the reference
        (-0.5, 0.01, Verdict.REGRESSION),
        (-0.01, 0.5, Verdict.INCONCLUSIVE),
        (float("nan"), 0.01, Verdict.ERROR),
        (0.0, float("nan"), Verdict.ERROR),
    ],
)
def test_decide_boundaries(delta: float, se: float, verdict: Verdict) -> None:
    assert decide(delta, se, 0.02, 0.025) == verdict


def test_decide_on_a_random_grid() -> None:
    rng = np.random.default_rng(40)
    seen = set()
    for _ in range(3000):
        delta, se = rng.uniform(-0.1, 0.05), rng.uniform(0, 0.03)
        margin, alpha = rng.choice([0.02, 0.03, 0.05]), rng.choice([0.025, 0.05])
        z = sps.norm.ppf(1 - alpha)
        if delta - z * se > -margin:
            expected = Verdict.LOSSLESS
        elif delta + z * se < -margin:
            expected = Verdict.REGRESSION
        else:
            expected = Verdict.INCONCLUSIVE
        assert decide(delta, se, margin, alpha) == expected
        seen.add(expected)
    assert seen == {Verdict.LOSSLESS, Verdict.REGRESSION, Verdict.INCONCLUSIVE}


def test_overall_precedence() -> None:
    rank = {Verdict.LOSSLESS: 0, Verdict.INCONCLUSIVE: 1, Verdict.ERROR: 2, Verdict.REGRESSION: 3}
    for size in (1, 2, 3, 4):
        for combo in itertools.product(list(Verdict), repeat=size):
            assert overall(list(combo)) == max(combo, key=rank.__getitem__), combo
    assert overall([]) == Verdict.ERROR  # nothing gated is not a pass


def test_exit_codes() -> None:
    assert EXIT_CODES == {Verdict.LOSSLESS: 0, Verdict.REGRESSION: 1, Verdict.INCONCLUSIVE: 3, Verdict.ERROR: 4}


# --- gate_summary ---------------------------------------------------------------------------

PUBLISHED = [("gsm8k", 200, 1, 0.965, 0.955, 0.02), ("gpqa_diamond", 198, 2, 0.9217, 0.9026, 0.03)]


@pytest.mark.parametrize(("task", "n", "repeats", "ref", "cand", "margin"), PUBLISHED)
def test_gate_summary_published_table(task: str, n: int, repeats: int, ref: float, cand: float, margin: float) -> None:
    (v,) = gate_summary([SummaryRow(task=task, n_items=n, repeats=repeats, score_ref=ref, score_cand=cand)], GateConfig())
    se = math.hypot(math.sqrt(ref * (1 - ref) / n), math.sqrt(cand * (1 - cand) / n))
    delta = cand - ref
    assert v.verdict == Verdict.INCONCLUSIVE and v.paired is False
    assert v.margin == margin and v.n == n and v.repeats == repeats
    assert v.delta == pytest.approx(delta, abs=TOL)
    assert v.se == pytest.approx(se, abs=TOL)
    assert v.low == pytest.approx(delta - Z * se, abs=TOL) and v.high == pytest.approx(delta + Z * se, abs=TOL)
    assert v.low < -margin < v.high  # why it is inconclusive
    assert v.mde == pytest.approx((Z + sps.norm.ppf(0.8)) * se, abs=TOL)


def test_gate_summary_published_numbers() -> None:
    rows = [SummaryRow(task=t, n_items=n, repeats=k, score_ref=r, score_cand=c) for t, n, k, r, c, _ in PUBLISHED]
    gsm8k, gpqa = gate_summary(rows, GateConfig())
    # the numbers worked by hand: sqrt(.965·.035/200 + .955·.045/200), sqrt(.9217·.0783/198 + .9026·.0974/198)
    assert gsm8k.se == pytest.approx(0.0195895, abs=1e-7) and gpqa.se == pytest.approx(0.0284341, abs=1e-7)


def test_gate_summary_uses_given_ses() -> None:
    row = SummaryRow(task="gsm8k", n_items=1319, repeats=1, score_ref=0.95, score_cand=0.948, se_ref=0.004, se_cand=0.005)
    (v,) = gate_summary([row], GateConfig())
    assert v.se == pytest.approx(math.hypot(0.004, 0.005), abs=TOL)
    assert v.verdict == Verdict.LOSSLESS  # −0.002 − 1.96·0.0064 = −0.0145 > −0.02


# --- gate_runs ------------------------------------------------------------------------------


def manifest(**changes: object) -> Manifest:
    base: dict[str, object] = dict(
        task="gsm8k", task_version="1", task_config={"limit": 200, "shots": 0}, dataset_fingerprint="d" * 64,
        prompt_fingerprint="p" * 64, sampling={"temperature": 0.0}, endpoint="e", base_url="http://x", model="m",
        tool_version="0", items=200, repeats=[0, 1], started_at="2025-01-01T00:00:00+00:00",
    )
    return Manifest(**{**base, **changes})


def arm(scores: np.ndarray, endpoint: str, errors: set[tuple[int, int]] = frozenset(), hashes: dict | None = None) -> list[Record]:
    """Records for scores[item, repeat]; request_hash depends on (item, repeat) only, like the real one."""
    out = []
    for i in range(scores.shape[0]):
        for k in range(scores.shape[1]):
            h = (hashes or {}).get((i, k), f"hash-{i}-{k}")
            out.append(Record(task="gsm8k", item_id=f"i{i:03d}", repeat=k, endpoint=endpoint, request_hash=h,
                              score=float(scores[i, k]), error="timeout" if (i, k) in errors else None))
    return out


def two_arms(seed: int = 50, n: int = 200, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(8, 1, size=(n, 1))
    ref = (rng.random((n, k)) < p).astype(float)
    cand = np.where(rng.random((n, k)) < 0.02, 1 - ref, ref)
    return ref, cand


def test_gate_runs_clean_runs_give_the_rule_on_clustered_stats() -> None:
    ref, cand = two_arms()
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(), arm(cand, "cand")), GateConfig())
    d = cand.mean(1) - ref.mean(1)
    delta, se = float(d.mean()), float(sps.sem(d))
    assert v.problem is None and v.n == 200 and v.repeats == 2
    assert v.delta == pytest.approx(delta, abs=TOL) and v.se == pytest.approx(se, abs=TOL)
    expected = Verdict.LOSSLESS if delta - Z * se > -0.02 else Verdict.REGRESSION if delta + Z * se < -0.02 else Verdict.INCONCLUSIVE
    assert v.verdict == expected
    assert v.verdict != Verdict.ERROR
    assert v.errors == {"reference": 0, "candidate": 0}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"prompt_fingerprint": "q" * 64}, "prompt_fingerprint"),
        ({"dataset_fingerprint": "e" * 64}, "dataset_fingerprint"),
        ({"task_config": {"limit": 200, "shots": 5}}, "task_config"),
        ({"task_config": {"limit": 200}}, "task_config"),
        ({"task_version": "2"}, "task_version"),
        ({"sampling": {"temperature": 0.6}}, "sampling"),
    ],
)
def test_gate_runs_refuses_incomparable_manifests(change: dict, named: str) -> None:
    ref, cand = two_arms()
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(**change), arm(cand, "cand")), GateConfig())
    assert v.verdict == Verdict.ERROR
    assert v.problem is not None and named in v.problem
    others = {"prompt_fingerprint", "dataset_fingerprint", "task_config", "task_version", "sampling"} - {named}
    assert not any(o in v.problem for o in others)


def test_gate_runs_names_the_task_config_key() -> None:
    ref, cand = two_arms()
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(task_config={"limit": 200, "shots": 5}), arm(cand, "cand")), GateConfig())
    assert "shots: 0 vs 5" in v.problem


def test_gate_runs_refuses_different_request_hashes() -> None:
    ref, cand = two_arms()
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(), arm(cand, "cand", hashes={(3, 1): "other", (7, 0): "other"})), GateConfig())
    assert v.verdict == Verdict.ERROR and "different prompts for 2 " in v.problem


@pytest.mark.parametrize(("n_errors", "max_rate", "error"), [(4, 0.01, False), (5, 0.01, True), (5, 0.02, False), (20, 0.02, True)])
def test_gate_runs_error_rate(n_errors: int, max_rate: float, error: bool) -> None:
    """400 expected records per arm (200 items × 2 repeats): 4 errors is exactly 1%, 5 is over it."""
    ref, cand = two_arms()
    errors = {(i, i % 2) for i in range(n_errors)}
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(), arm(cand, "cand", errors=errors)), GateConfig(max_error_rate=max_rate))
    assert v.errors == {"reference": 0, "candidate": n_errors}
    assert v.error_rates["candidate"] == pytest.approx(n_errors / 400, abs=TOL)
    assert (v.verdict == Verdict.ERROR) is error
    if error:
        assert "error rate" in v.problem
    else:
        assert v.problem is None
        assert v.n == 200 - n_errors and v.left_out["errored"] == n_errors


def test_gate_runs_missing_records_count_as_errors() -> None:
    ref, cand = two_arms()
    records = arm(cand, "cand")[:-10]  # the last 10 (item, repeat) never came back
    v = gate_runs((manifest(), arm(ref, "ref")), (manifest(), records), GateConfig())
    assert v.verdict == Verdict.ERROR and v.errors["candidate"] == 10 and "error rate" in v.problem
