"""Calibration by simulation: numpy draws from the simulator's own model (`SimModel.draw`, no
HTTP), judged by the real `paired_delta` and `decide`.

At a true Δ of exactly −m the gate may say LOSSLESS about α of the time (at most α + 0.01 here);
at a true Δ of 0 and the n the power formula asks for, it says LOSSLESS with the promised power.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from evals.gate import Verdict, decide
from evals.simmodel import SimModel
from evals.stats import items_needed, paired_delta

ALPHA, POWER, RUNS = 0.025, 0.8, 2000
Z = float(sps.norm.ppf(1 - ALPHA))


def simulate(model: SimModel, n_items: int, repeats: int, margin: float, seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    """RUNS comparisons through the real paired_delta and decide: the LOSSLESS rate, and each run's Δ and SE."""
    rng = np.random.default_rng(seed)
    lossless = 0
    deltas, ses = np.empty(RUNS), np.empty(RUNS)
    for i in range(RUNS):
        ref, cand = model.draw(rng, n_items, repeats)
        d = paired_delta(ref.mean(axis=1), cand.mean(axis=1), ALPHA, repeats=repeats)  # per-item means
        lossless += decide(d.delta, d.se, margin, ALPHA) == Verdict.LOSSLESS
        deltas[i], ses[i] = d.delta, d.se
    return lossless / RUNS, deltas, ses


def many_lossless_rate(model: SimModel, n_items: int, repeats: int, margin: float, runs: int, seed: int) -> float:
    """The same rule vectorised over many runs: one big draw of runs·n_items independent items, reshaped."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 1_500_000 // (n_items * repeats))
    passed = done = 0
    while done < runs:
        b = min(chunk, runs - done)
        ref, cand = model.draw(rng, b * n_items, repeats)
        d = (cand - ref).mean(axis=1).reshape(b, n_items)
        low = d.mean(axis=1) - Z * d.std(axis=1, ddof=1) / math.sqrt(n_items)
        passed += int(np.sum(low > -margin))
        done += b
    return passed / runs


# --- the model itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accuracy", "delta", "discordance", "repeats"),
    [(0.8, -0.02, 0.03, 1), (0.8, 0.0, 0.03, 1), (0.7, -0.03, 0.06, 4), (0.6, 0.02, 0.05, 1), (0.9, -0.05, 0.02, 2)],
)
def test_draw_realises_its_delta_and_discordance(accuracy: float, delta: float, discordance: float, repeats: int) -> None:
    model = SimModel(accuracy=accuracy, delta=delta, discordance=discordance)
    n_items = 400_000 // repeats
    ref, cand = model.draw(np.random.default_rng(0), n_items, repeats)
    assert ref.shape == cand.shape == (n_items, repeats)
    assert set(np.unique(ref)) <= {0.0, 1.0} and set(np.unique(cand)) <= {0.0, 1.0}
    differ = float(np.mean(cand != ref))
    # tolerances: 5 standard errors, clustered by item (design effect ≤ repeats)
    sd_mean = math.sqrt((abs(delta) + discordance) * repeats / ref.size)
    assert float(np.mean(cand - ref)) == pytest.approx(delta, abs=5 * sd_mean)
    assert differ == pytest.approx(abs(delta) + discordance, abs=5 * sd_mean)
    assert float(ref.mean()) == pytest.approx(accuracy, abs=5 * math.sqrt(accuracy * (1 - accuracy) * repeats / ref.size))
    assert float(cand.mean()) == pytest.approx(accuracy + delta, abs=5 * math.sqrt(accuracy * (1 - accuracy) * repeats / ref.size))
    assert 5 * sd_mean < 0.003  # the check is sharp enough to tell the parameters apart


def test_items_differ_in_difficulty() -> None:
    """Beta(A·κ, (1−A)·κ) difficulties: the intra-item correlation of the 0/1 answers is 1/(κ+1)."""
    model = SimModel(accuracy=0.8, concentration=2.0)
    ref, _ = model.draw(np.random.default_rng(1), 100_000, 2)
    icc = float(np.corrcoef(ref[:, 0], ref[:, 1])[0, 1])
    assert icc == pytest.approx(1 / 3, abs=0.01)


# --- false passes at the margin, one repeat -------------------------------------------------


def test_false_pass_rate_at_the_margin_single_repeat() -> None:
    margin = 0.02
    model = SimModel(accuracy=0.8, delta=-margin, discordance=0.03)
    rate, deltas, ses = simulate(model, 1319, 1, margin, seed=1)
    assert rate <= ALPHA + 0.01
    # the runs are at the margin, and the SE is the spread of Δ across runs
    assert float(np.mean(deltas)) == pytest.approx(-margin, abs=4 * float(np.std(deltas)) / math.sqrt(RUNS))
    assert float(np.mean(ses)) == pytest.approx(float(np.std(deltas, ddof=1)), rel=0.05)
    # a gate that never says LOSSLESS would pass the first check; this one does say it, sometimes
    assert rate > 0


def test_false_pass_rate_at_the_margin_single_repeat_many_runs() -> None:
    """20,000 runs of the same rule vectorised: the size of the test, to ±0.0012 (one SE)."""
    margin = 0.02
    model = SimModel(accuracy=0.8, delta=-margin, discordance=0.03)
    size = many_lossless_rate(model, 1319, 1, margin, 20_000, seed=11)
    assert size <= ALPHA + 0.01
    # and the 2,000 runs through paired_delta/decide agree with it
    rate, _, _ = simulate(model, 1319, 1, margin, seed=12)
    assert rate == pytest.approx(size, abs=4 * math.sqrt(size * (1 - size) / RUNS))


# --- power at true Δ = 0 with the planned n -------------------------------------------------


def test_power_at_true_zero_with_the_n_the_formula_asks_for() -> None:
    margin, discordance = 0.02, 0.03
    model = SimModel(accuracy=0.8, delta=0.0, discordance=discordance)
    ref, cand = model.draw(np.random.default_rng(2), 400_000)
    # d is ±1 with probability q/2 each, so sd(d) = sqrt(q)
    assert float(np.std(cand - ref, ddof=1)) == pytest.approx(math.sqrt(discordance), rel=0.02)
    n = items_needed(math.sqrt(discordance), margin, ALPHA, POWER)
    assert n == math.ceil(((Z + sps.norm.ppf(POWER)) * math.sqrt(discordance) / margin) ** 2) == 589
    rate, deltas, ses = simulate(model, n, 1, margin, seed=3)
    assert abs(rate - POWER) <= 0.05
    assert abs(float(np.mean(deltas))) < 4 * float(np.std(deltas)) / math.sqrt(RUNS)


def test_half_the_items_is_underpowered() -> None:
    """The power check can fail: at n/2 the LOSSLESS rate is well below 0.8 (≈ 0.52 by the normal formula)."""
    margin, discordance = 0.02, 0.03
    model = SimModel(accuracy=0.8, delta=0.0, discordance=discordance)
    n = items_needed(math.sqrt(discordance), margin, ALPHA, POWER) // 2
    rate, _, _ = simulate(model, n, 1, margin, seed=4)
    expected = sps.norm.sf(Z - margin / math.sqrt(discordance) * math.sqrt(n))
    assert rate == pytest.approx(expected, abs=0.05) and rate < POWER - 0.15


# --- several repeats: per-item means, clustered SE ------------------------------------------


def test_false_pass_rate_at_the_margin_with_repeats_clustered_by_item() -> None:
    """198 items × 4 seeds, per-item means as the statistics module takes them."""
    margin = 0.03
    model = SimModel(accuracy=0.8, delta=-margin, discordance=0.03)
    rate, deltas, ses = simulate(model, 198, 4, margin, seed=5)
    assert rate <= ALPHA + 0.01
    assert float(np.mean(deltas)) == pytest.approx(-margin, abs=4 * float(np.std(deltas)) / math.sqrt(RUNS))
    assert float(np.mean(ses)) == pytest.approx(float(np.std(deltas, ddof=1)), rel=0.05)


def test_false_pass_rate_with_repeats_many_runs() -> None:
    margin = 0.03
    model = SimModel(accuracy=0.8, delta=-margin, discordance=0.03)
    assert many_lossless_rate(model, 198, 4, margin, 20_000, seed=13) <= ALPHA + 0.01


def naive_and_clustered(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores[run, item, repeat]: the SE treating all draws as independent, and the SE of per-item means."""
    runs, n, k = scores.shape
    naive = scores.reshape(runs, n * k).std(axis=1, ddof=1) / math.sqrt(n * k)
    clustered = scores.mean(axis=2).std(axis=1, ddof=1) / math.sqrt(n)
    return naive, clustered


def test_seeds_are_not_independent_questions() -> None:
    """Items differ in difficulty: the naive SE over the 792 draws understates the clustered one,
    by the design effect sqrt(1 + (K−1)·ICC) = sqrt(1 + 3/(κ+1)) = sqrt(2) at κ = 2, K = 4,
    and the clustered one is the true spread of the mean across runs."""
    runs, n, k = 2000, 198, 4
    model = SimModel(accuracy=0.8, delta=-0.03, discordance=0.03, concentration=2.0)
    ref, cand = model.draw(np.random.default_rng(6), runs * n, k)
    ref, cand = ref.reshape(runs, n, k), cand.reshape(runs, n, k)
    naive, clustered = naive_and_clustered(ref)
    assert float(np.mean(naive)) < float(np.mean(clustered))
    assert float(np.mean(clustered / naive)) == pytest.approx(math.sqrt(2), rel=0.05)
    true_sd = float(ref.mean(axis=(1, 2)).std(ddof=1))
    assert float(np.mean(clustered)) == pytest.approx(true_sd, rel=0.05)
    assert float(np.mean(naive)) < 0.8 * true_sd
    # the same holds, less strongly, for the paired differences (the flip rates depend on p_i)
    naive_d, clustered_d = naive_and_clustered(cand - ref)
    assert float(np.mean(naive_d)) < float(np.mean(clustered_d))
    # and the clustered SE is what paired_delta reports on the per-item means
    d = paired_delta(ref[0].mean(axis=1), cand[0].mean(axis=1), ALPHA, repeats=k)
    assert d.se == pytest.approx(float(clustered_d[0]), abs=1e-12)


def test_equal_difficulty_needs_no_clustering() -> None:
    """The contrast: with every item equally hard (κ huge), naive and clustered SEs agree."""
    runs, n, k = 1000, 198, 4
    model = SimModel(accuracy=0.8, concentration=1e6)
    ref, _ = model.draw(np.random.default_rng(7), runs * n, k)
    naive, clustered = naive_and_clustered(ref.reshape(runs, n, k))
    assert float(np.mean(clustered / naive)) == pytest.approx(1.0, abs=0.02)
