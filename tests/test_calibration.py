"""Calibration through the gate's own decision (`evals.calibration`, which also checks gate_runs on records
against it): the worst false-LOSSLESS and false-REGRESSION rates over the issue's grid must stay within
α + 0.5 point, exactly for 0/1 items with one repeat, by simulation with repeats and for a macro.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.calibration import LIMIT, broken_group_exact, broken_group_exact_table, broken_group_table, clustered_table, gains_limit_table, exact_rates, exact_table, hidden_items_table, item_tied_table, partial_credit_table, outright_table, power_table, power_table_macros, power_table_repeats, region, replaced_rates, skewed_partial_table, unequal_macro_table, wide_table
from evals.calibration_monotone import (edge_search, fixed_search, gaining_walk_search, macro_walk_search, sequential_batch_search, sequential_family_search,
                                        sequential_search, tiny_walk_search)
from evals.inference import EXACT_ITEMS
from evals.simmodel import SimModel

ALPHA = 0.025


@pytest.mark.slow
def test_exact_grid_one_repeat_keeps_alpha_both_ways() -> None:
    per_nm, per_acc, false_regression, wrong = exact_table()
    assert wrong == 0  # gate_runs on records agrees with the enumeration on the boundary cells
    assert max(cell.rate for cell in per_nm.values()) <= LIMIT
    assert max(false_regression.values()) <= LIMIT
    # not bought by a gate that never passes (20 items pay for the t floor partial credit needs)
    assert min(cell.rate for (n, _), cell in per_nm.items() if n >= 50) > 0.01
    assert min(cell.rate for cell in per_nm.values()) > 0.005


def test_the_calibration_catches_the_wald_gate() -> None:
    """The enumeration would have caught the old gate: Wald plus the rule-of-three floor at n = 200,
    m = 0.02, a strong model whose candidate only breaks answers; and the uncorrected REGRESSION side."""
    r = region(200, 0.02)
    wald, uncorrected = replaced_rates(r, 0.03, -0.02)
    lossless, regression = exact_rates(r, 0.03, -0.02)
    assert wald > 0.06 and lossless <= LIMIT
    assert uncorrected > LIMIT and regression <= LIMIT


@pytest.mark.slow
def test_repeats_and_macro_keep_alpha_by_simulation() -> None:
    single, macro, false_regression, wrong = clustered_table(runs=4000, check=1)  # gate_runs on one run of each case (the docs table: 3)
    assert wrong == 0
    assert max(cell.rate for cell in [*single.values(), *macro.values()]) <= LIMIT
    assert false_regression <= LIMIT


def test_failures_tied_to_items_are_not_hidden_by_repeats() -> None:
    """The review's case: a candidate wrong on every draw of a few items, few items differing."""
    assert max(item_tied_table(4000).values()) <= LIMIT


@pytest.mark.slow
def test_items_broken_outright_beside_noise_keep_alpha() -> None:
    """A share of the items lost on every draw, the rest varying from draw to draw (section 4's second table):
    before `inference.hidden_failures` the design-effect variance said LOSSLESS at a true Δ of −m in up to 10%
    of runs. The worst of 48 cells of 2,000 runs each, with two Monte Carlo errors of slack."""
    runs = 2000
    table = hidden_items_table(runs)
    assert max(lossless.rate for lossless, _ in table.values()) <= LIMIT + 2 * np.sqrt(LIMIT * (1 - LIMIT) / runs)


@pytest.mark.slow
def test_macros_over_unequal_groups_keep_alpha() -> None:
    """tau2-bench's domain sizes (50, 114, 114) and tiny groups (2 or 10 items beside 40 or 60), one repeat
    (an lm-eval group) or several, the damage in the smallest group (the others possibly better) or in the others.
    Moving every group by the same amount under the null gave up to 10% false LOSSLESS here."""
    runs = 3000
    table, false_regression, wrong = unequal_macro_table(runs=runs, check=2, all_sizes=((50, 114, 114), (10, 60, 60), (2, 40, 40)))
    assert wrong == 0
    # the worst of ~90 cells of 3,000 runs each: each carries a Monte Carlo error of 0.28 point, so the
    # claim itself is docs/statistics.md's 20,000-run table; here two errors of slack
    slack = 2 * math.sqrt(LIMIT * (1 - LIMIT) / runs)
    assert max(cell.rate for cell in table.values()) <= LIMIT + slack and false_regression <= LIMIT + slack


@pytest.mark.slow
def test_a_macro_with_one_group_nearly_broken_keeps_alpha() -> None:
    """One group losing 75% to 90% of its answers, the others gaining (an independent review): the macro
    of one repeat said LOSSLESS in 3.5% and 4.1% of 20,000 runs (3 and 5 groups of 20) before LOSSLESS's
    continuity correction for macros (`inference.lossless_continuity`), about 2% with half a draw of it."""
    runs = 4000
    table, false_regression, wrong = broken_group_table(runs=runs, check=2)
    assert wrong == 0
    slack = 2 * math.sqrt(LIMIT * (1 - LIMIT) / runs)
    assert max(cell.rate for cell in table.values()) <= LIMIT + slack and false_regression <= LIMIT + slack


def test_a_macro_where_few_answers_change_in_large_groups_keeps_alpha_exactly() -> None:
    """One group only losing answers, three only gaining a few, 120 items each, one repeat, summed
    over every count: half a draw of LOSSLESS's continuity correction (the one before) said LOSSLESS
    at a true Δ of −m in 3.02% of runs, with Welch's degrees of freedom and each group's variance at
    its null (`macro_df` has lowered it since); one draw keeps it within
    α + 0.5 point, and gate_runs agrees at the counts where the two corrections differ."""
    rate, half, margin, wrong = broken_group_exact(4, 120, 0.95, 0.025, check=4)
    assert abs(margin - 0.21875) < 1e-12 and wrong == 0
    assert rate <= min(half, LIMIT), (rate, half)


@pytest.mark.slow
def test_macros_where_few_answers_change_keep_alpha_exactly() -> None:
    table, wrong = broken_group_exact_table(check=1)
    assert wrong == 0
    assert max(cell.rate for cell, _ in table.values()) <= LIMIT, table


@pytest.mark.slow
def test_one_repeat_beyond_the_grid_keeps_alpha() -> None:
    """Margins to 0.2 and discordance to 1 (every answer changing), exact: up to EXACT_ITEMS the exact
    critical value holds α itself (to the resolution of its discordance grid), beyond it α + 0.5 point."""
    for n, (lossless, regression, _) in wide_table().items():
        assert lossless.rate <= (ALPHA + 1e-4 if n <= EXACT_ITEMS else LIMIT), (n, lossless)
        assert regression.rate <= LIMIT, (n, regression)


def test_repeats_keep_alpha_when_every_item_is_decided_outright() -> None:
    """Every item won, lost or tied alike on all its draws, exact: Student's t on the items alone, a lattice
    approximation there, said LOSSLESS in 3.0–3.05% of such runs at margins of 0.145 and more (an independent
    review's exact sums; 64 × 2 at m 0.185); the exact critical value for such items holds α itself."""
    table, wrong = outright_table()
    assert wrong == 0
    for n, (lossless, _) in table.items():
        assert lossless.rate <= ALPHA + 1e-4, (n, lossless)
    assert max(plain.rate for _, plain in table.values()) > LIMIT  # what the table is there to catch


@pytest.mark.slow
def test_partial_credit_keeps_alpha() -> None:
    """Rare total failures among small changes, where the paired t-test alone was liberal."""
    runs = 3000
    table, false_regression, wrong = partial_credit_table(runs=runs)
    assert wrong == 0
    slack = 2 * math.sqrt(LIMIT * (1 - LIMIT) / runs)  # Monte Carlo error of a cell; the claim is the docs' 20,000-run table
    assert max(cell.rate for cell in table.values()) <= LIMIT + slack and false_regression <= LIMIT + slack


def test_partial_credit_at_its_hardest_keeps_alpha() -> None:
    """Rare whole-step failures among many small gains (and the mirror), exactly: the statistic that
    subtracted what small steps save from the null variance said LOSSLESS at a true Δ of −m in 28%
    of 20-item runs here, and REGRESSION at Δ = 0 in 17%."""
    table, wrong = skewed_partial_table((20, 50, 100))
    assert wrong == 0
    for n, cells in table.items():
        assert max(c.rate for c in cells) <= LIMIT, (n, cells)


@pytest.mark.slow
def test_no_single_change_made_worse_improves_a_verdict() -> None:
    """The searches of `evals.calibration_monotone`, small: no single change made worse improves a verdict,
    and gate_runs confirms every change the batch finds; the walk across the edge of LOSSLESS with repeats is
    the one that finds the lone-win changes of the code before `raised_bound`, the macro walks those before
    `macro_regression` and a tiny group's bound, and the sequential search by the batch the futility stops that a
    run one answer worse went past to LOSSLESS, or stopped short of REGRESSION, before each verdict was
    barred on its own once out of reach; the walk of a tiny group's own draws (an independent review's) the
    changes to LOSSLESS of the code before a tiny group was bounded (test_stats keeps one of them)."""
    for kind, (tried, improved, _, unconfirmed) in fixed_search(2000).items():
        assert tried >= 2000 and improved == 0 and unconfirmed == 0, kind
    assert sequential_search(40)[2] == 0
    assert sequential_batch_search(2000, 0.1)[1:] == (0, 0, 0)  # before the bar per side: 82 in 100,000 REGRESSION → INCONCLUSIVE
    assert sequential_batch_search(2000, 0.0)[1] == 0
    assert sequential_family_search(10_000, 2)[1:] == (0, 0)  # with REGRESSION stopping a task at α, as before: 282 in 25,000
    assert sequential_batch_search(1000, 0.1, repeats=True)[1:] == (0, 0, 0)  # a random search: it found none on 79ee526 either; that bug's reproducer is in test_sequential
    tried, improved, _, unconfirmed = edge_search(500)  # on the code before `raised_bound`: 8 changes to LOSSLESS, all confirmed
    assert tried > 10_000 and improved == 0 and unconfirmed == 0
    tried, improved, _, _ = macro_walk_search(400)  # before `macro_regression`: 2 REGRESSION → INCONCLUSIVE, both confirmed by gate_runs
    assert tried > 10_000 and improved == 0
    tried, improved, _, _ = gaining_walk_search(300)  # with the guard alone (before a tiny group was bounded, or the path before that): 9 changes to LOSSLESS
    assert tried > 10_000 and improved == 0
    tried, improved, _, unconfirmed = tiny_walk_search(400)
    assert tried > 100_000 and improved == 0 and unconfirmed == 0


def test_the_known_limits_reach_is_measured_through_gate_runs() -> None:
    """`gains_limit_table` (docs/statistics.md, under section 4): the batch agrees with gate_runs on the runs it
    samples, and its worst cell (partial credit on 20 items × 8) is above α + 0.5 point, as the known limit says."""
    table, wrong = gains_limit_table(1000, check=2)
    assert wrong == 0 and table["partial credit, 20 items × 8"].rate > LIMIT


@pytest.mark.slow
def test_the_advised_number_of_items_reaches_the_power() -> None:
    for label, n, exact, simulated in power_table(4000):
        assert n is not None, label
        assert exact >= 0.8 and simulated >= 0.8 - 3 * np.sqrt(0.16 / 4000), label


@pytest.mark.slow
def test_the_advised_number_of_items_with_repeats_nearly_reaches_the_power() -> None:
    """With repeats the advice is a normal approximation, so within 5 points of the 80% asked; before it
    took the REGRESSION side's test (its correction of one item, and `clustered_regression`'s variance)
    it advised items that gave 6% to 60% power toward REGRESSION."""
    for label, n, simulated in power_table_repeats(2000):
        assert n is not None, label
        assert simulated >= 0.75, label


@pytest.mark.slow
def test_the_advised_number_of_items_for_a_macro_reaches_the_power() -> None:
    """A macro's advice counts its LOSSLESS correction (one draw, `lossless_continuity`), as the test does:
    without it the advice gave 76% to 78% power toward LOSSLESS (5 groups of 0.7 at m 0.15; tau2's sizes at m 0.05).
    Its variances are the statistic's (each group's at its share of the macro's null): with each group's at −m
    it gave 70% beside a group of 5 items and 77% beside one of 10 (the rows in proportion 5:114:114, 10:60:60)."""
    for label, n, simulated in power_table_macros(20_000):
        assert n is not None, label
        floor = 0.8 - 3 * np.sqrt(0.16 / 20_000) if "(LOSSLESS)" in label else 0.75  # toward REGRESSION, as with repeats
        assert simulated >= floor, (label, simulated)


def test_a_macros_regression_correction_counts_its_smallest_group() -> None:
    """The gains family (docs/statistics.md, known limits) beside a group of 9 items: 4 groups of 114 × 8 and
    one of 9, a fifth of each group's items won outright, the macro Δ −m. With the mean over groups of one
    item's correction, or one item of the smallest group of 10 or more only, false REGRESSION was 4.4% (an
    independent review's 40,000 runs); one item of the smallest group, counted as 10, about 1.7%."""
    table, wrong = gains_limit_table(4000, check=2, partial=(), macros=(((9, 114, 114, 114, 114), 8, 0.2),))
    assert wrong == 0
    assert max(cell.rate for cell in table.values()) <= LIMIT, table


def test_model_realises_its_delta_and_discordance() -> None:
    model = SimModel(accuracy=0.8, delta=-0.02, discordance=0.03)
    ref, cand = model.draw(np.random.default_rng(0), 400_000)
    assert (cand - ref).mean() == pytest.approx(-0.02, abs=0.002)
    assert (cand != ref).mean() == pytest.approx(0.05, abs=0.002)
    assert ref.mean() == pytest.approx(0.8, abs=0.003)


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
