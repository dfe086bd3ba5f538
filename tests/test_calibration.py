"""Calibration by simulation: numpy draws from the simulator's own model (no HTTP), judged by the
real `paired_delta` and `decide`. At a true Δ of exactly −m the gate may say LOSSLESS at most α
of the time; at a true Δ of 0 and the n the power formula asks for, it says LOSSLESS with the
promised power.
"""

from __future__ import annotations

import numpy as np
import pytest

from evals.gate import Verdict, decide
from evals.simmodel import SimModel
from evals.stats import items_needed, paired_delta

ALPHA, POWER, RUNS = 0.025, 0.8, 2000


def lossless_rate(model: SimModel, n_items: int, repeats: int, margin: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    lossless = 0
    for _ in range(RUNS):
        ref, cand = model.draw(rng, n_items, repeats)
        d = paired_delta(ref.mean(axis=1), cand.mean(axis=1), ALPHA, repeats=repeats)
        lossless += decide(d.delta, d.se, margin, ALPHA) == Verdict.LOSSLESS
    return lossless / RUNS


def test_model_realises_its_delta_and_discordance() -> None:
    model = SimModel(accuracy=0.8, delta=-0.02, discordance=0.03)
    ref, cand = model.draw(np.random.default_rng(0), 400_000)
    assert (cand - ref).mean() == pytest.approx(-0.02, abs=0.002)
    assert (cand != ref).mean() == pytest.approx(0.05, abs=0.002)
    assert ref.mean() == pytest.approx(0.8, abs=0.003)


def test_false_pass_rate_at_the_margin_single_repeat() -> None:
    margin = 0.02
    rate = lossless_rate(SimModel(accuracy=0.8, delta=-margin, discordance=0.03), 1319, 1, margin, seed=1)
    assert rate <= ALPHA + 0.01


def test_power_at_true_zero_with_the_n_the_formula_asks_for() -> None:
    margin, discordance = 0.02, 0.03
    model = SimModel(accuracy=0.8, delta=0.0, discordance=discordance)
    ref, cand = model.draw(np.random.default_rng(2), 400_000)
    sd = float(np.std(cand - ref, ddof=1))
    assert sd == pytest.approx(np.sqrt(discordance), rel=0.02)  # d is ±1 with probability q/2 each
    n = items_needed(sd, margin, ALPHA, POWER)
    assert 550 < n < 640
    rate = lossless_rate(model, n, 1, margin, seed=3)
    assert abs(rate - POWER) <= 0.05


def test_false_pass_rate_at_the_margin_with_repeats_clustered_by_item() -> None:
    """198 items × 4 seeds, per-item means as the statistics module takes them."""
    margin = 0.03
    rate = lossless_rate(SimModel(accuracy=0.7, delta=-margin, discordance=0.06), 198, 4, margin, seed=4)
    assert rate <= ALPHA + 0.01


def test_seeds_are_not_independent_questions() -> None:
    """With item difficulty varying, the naive SE over all 792 draws understates the clustered one."""
    rng = np.random.default_rng(5)
    model = SimModel(accuracy=0.7)
    naive, clustered = [], []
    for _ in range(200):
        ref, _ = model.draw(rng, 198, 4)
        naive.append(ref.std(ddof=1) / np.sqrt(ref.size))
        clustered.append(ref.mean(axis=1).std(ddof=1) / np.sqrt(198))
    assert np.mean(clustered) > 1.3 * np.mean(naive)
    # and the clustered one is the right one: it matches the spread of the mean across draws
    means = [model.draw(rng, 198, 4)[0].mean() for _ in range(600)]
    assert np.std(means) == pytest.approx(np.mean(clustered), rel=0.1)
