"""Sequential gating: look at the evidence a few times during a run and stop once it decides
(issue 12; calibration in docs/statistics.md).

The design is a group-sequential test with an α-spending function (Lan & DeMets 1983,
Biometrika 70:659–663) of O'Brien–Fleming type, α(t) = 2 − 2Φ(z_{1−α/2}/√t), spent on each of
the gate's two one-sided tests at Δ = −m: the LOSSLESS boundary and the REGRESSION boundary are
both rejection boundaries of their own test, each at α. O'Brien–Fleming spending keeps almost
all of α for the last look, so a run that goes the distance is judged nearly as the fixed
design would judge it, while a broken candidate (a Z of −10 after a quarter of the items) stops
at the first look. Each boundary is computed as if the other did not exist (non-binding), which
can only make a crossing rarer.

Before the last look a side whose predictive power of crossing its boundary at the last look is
below `futility` is out of reach (Spiegelhalter, Freedman & Blackburn 1986, Control Clin Trials
7:8–17: the conditional power averaged over what the data so far say about Δ, flat prior), and
barred for the rest of the run: LOSSLESS out of reach is never said later, nor REGRESSION. Once
both are barred the run stops for futility, INCONCLUSIVE, the only verdict left to it. Predictive
rather than conditional power under the current trend, because an early trend on a few dozen
items is mostly noise and the current trend stops on it too eagerly; what the bars cost in power
is tabulated in docs/statistics.md. A bar only removes verdicts, so the error rates of the design
without futility bound those with it.

Why a bar per side rather than one futility stop on the two chances together: one more wrong answer
lowers LOSSLESS's chance but raises REGRESSION's, so with a joint stop a run one answer worse
could go on and end LOSSLESS where the better run had stopped (the repo's search found such runs),
and a run one answer worse could stop, INCONCLUSIVE, where the better one went on to REGRESSION.
With a bar per side, a worse run's chance of LOSSLESS is never above the better one's at a look,
so wherever the worse run is still open to LOSSLESS so is the better one, which then passes
wherever it does; and the same for REGRESSION the other way round. That needs the bars to read
something monotone in the candidate's answers: with one repeat, Tango's p-values; with repeats,
REGRESSION's own decision (monotone by construction) and LOSSLESS's design-effect p-value
(monotone as measured); docs/statistics.md says where else the argument needs care.

Looks are at equal shares of the items, in a seeded order that both arms and every rerun share
(`order`): look k holds every repeat of the first n_k items of that order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from evals.inference import ArrayLike, Paired, Test, clustered, clustered_regression, continuity, critical, noninferiority, scalar

SPENDING = "Lan-DeMets O'Brien-Fleming"


def obrien_fleming(t: float, alpha: float) -> float:
    """α spent by information fraction t (one-sided α)."""
    return 0.0 if t <= 0 else float(2 - 2 * sps.norm.cdf(sps.norm.ppf(1 - alpha / 2) / math.sqrt(min(t, 1.0))))


@lru_cache(maxsize=64)
def boundaries(fractions: tuple[float, ...], alpha: float, points: int = 801) -> tuple[float, ...]:
    """Critical values c_k of Z at looks with these information fractions (the last one 1).

    The standard recursion (Jennison & Turnbull 2000, "Group Sequential Methods", ch. 19): the
    density of the score S_k = Z_k √t_k over the paths that have not crossed is carried from look
    to look on a grid by convolving with the Brownian increment, and c_k is found so that the
    crossing probability at look k is what the spending function allots it. Deterministic
    numerical integration, not Monte Carlo: the same fractions always give the same boundary.
    """
    spent = [obrien_fleming(t, alpha) for t in fractions]
    crit: list[float] = []
    grid = density = weights = None
    previous_t = 0.0
    for k, t in enumerate(fractions):
        target = spent[k] - (spent[k - 1] if k else 0.0)
        if k == 0:
            c = float(sps.norm.isf(target)) if target > 0 else math.inf
        else:
            assert grid is not None and density is not None and weights is not None
            sd = math.sqrt(t - previous_t)

            def crossing(c: float) -> float:
                return float(np.sum(weights * density * sps.norm.sf((c * math.sqrt(t) - grid) / sd)))

            if target <= 0:
                c = math.inf
            else:
                from scipy.optimize import brentq

                c = float(brentq(lambda x: crossing(x) - target, -10, 40, xtol=1e-10))
        crit.append(c)
        if k == len(fractions) - 1:
            break
        # density of S_k over the paths still running (below c_k √t_k)
        top = c * math.sqrt(t) if math.isfinite(c) else 12 * math.sqrt(t)
        new_grid = np.linspace(-12 * math.sqrt(t), top, points)
        if k == 0:
            new_density = sps.norm.pdf(new_grid, scale=math.sqrt(t))
        else:
            assert grid is not None and density is not None and weights is not None
            sd = math.sqrt(t - previous_t)
            new_density = (sps.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd) @ (density * weights)
        grid, density, previous_t = new_grid, new_density, t
        weights = _simpson(grid)
    return tuple(crit)


def _simpson(grid: np.ndarray) -> np.ndarray:
    """Simpson's rule weights on an evenly spaced grid of an odd number of points."""
    w = np.ones(len(grid))
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w * (grid[1] - grid[0]) / 3


def look_sizes(items: int, looks: int) -> list[int]:
    """Items at each look: equal shares, the last one every item; never an empty look."""
    looks = max(1, min(looks, items))
    return sorted({max(1, round(items * (k + 1) / looks)) for k in range(looks)})


@dataclass(frozen=True)
class Design:
    """What a sequential run fixes before its first request, recorded in both arms' manifests."""

    sizes: tuple[int, ...]  # items at each look
    alpha: float
    futility: float
    seed: int

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.sizes[-1] for n in self.sizes)

    def level(self, look: int, alpha: float | None = None) -> float:
        """The nominal one-sided level of look `look` (0-based): its test rejects at p ≤ this; with
        `alpha`, in the same design spending that α instead (a family's share, `family_level`)."""
        return float(sps.norm.sf(boundaries(self.fractions, self.alpha if alpha is None else alpha)[look]))

    def family_level(self, look: int, family: int) -> float:
        """The level at look `look` of REGRESSION for a family of `family` tasks: the design spending
        α/family, so that a task crosses it at some look with probability at most α/family, and Holm's
        first step over the family (`gate.overall`) rejects exactly when some task crossed it."""
        return self.level(look, self.alpha / family)

    def to_manifest(self, order: Sequence[str]) -> dict[str, object]:
        return {"looks": list(self.sizes), "alpha": self.alpha, "futility": self.futility, "seed": self.seed,
                "spending": SPENDING, "order": list(order)}

    @classmethod
    def from_manifest(cls, value: dict[str, object]) -> Design:
        return cls(sizes=tuple(int(x) for x in value["looks"]), alpha=float(value["alpha"]),  # type: ignore[union-attr,arg-type]
                   futility=float(value["futility"]), seed=int(value["seed"]))  # type: ignore[arg-type]


def holm_p(p_regression: ArrayLike, alpha: float, level: float) -> ArrayLike:
    """The p-value a task whose look had this nominal p-value brings to Holm's adjustment across a
    family of tasks: scaled by `alpha` (α over the number of tasks) over the look's `level` in the
    design spending that α (`Design.family_level`), so that Holm's first step, at α over the number
    of tasks, rejects exactly when the task crossed the family's boundary at its look (`gate.overall`;
    docs/statistics.md measures the family-wise rate)."""
    return scalar(np.minimum(1.0, np.asarray(p_regression, dtype=float) * alpha / level))


def order(item_ids: Sequence[str], seed: int) -> list[str]:
    """The items in a seeded random order that depends only on the ids and the seed: both arms,
    and a resumed run, send them in the same order wherever the dataset was loaded from."""
    return sorted(item_ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


@dataclass(frozen=True)
class LookDecision:
    """One look's outcome, field by field for a batch of comparisons as for one."""

    lossless: ArrayLike  # bool
    regression: ArrayLike  # bool
    futile: ArrayLike  # bool: both sides barred, stop as INCONCLUSIVE
    test: Test
    lossless_out_of_reach: ArrayLike = False  # bool: LOSSLESS's predictive power under `futility`; barred from here on
    regression_out_of_reach: ArrayLike = False  # bool: the same for REGRESSION


def decide(data: Paired | list[Paired], margin: float, design: Design, look: int,
           lossless_barred: ArrayLike = False, regression_barred: ArrayLike = False) -> LookDecision:
    """The gate's test at look `look` at its nominal level, and which sides are out of reach. A
    side barred at an earlier look is not said.

    The chances at the last look come from the test's p-values, so that the t-based tests (repeats,
    macros) enter as the normal Z their p-value corresponds to. A bar is only monotone in the
    candidate's answers if what it reads is, and with repeats REGRESSION's p-value above α is not
    (it is studentized by the items' spread; an independent review built a run of 24 items × 8
    where one more failure stopped it for futility short of the REGRESSION the better run reached).
    There REGRESSION's chance is under `futility` exactly when its own decision, monotone by
    construction, does not say REGRESSION at the level where that chance is `futility`, so that
    decision is what the bar reads (`_regression_reachable`).

    A crossing of one boundary puts the other side out of reach (the run stops there anyway when
    the look is judged; a look whose errors are over the limit does not stop it, and its bars
    must still be monotone)."""
    level = design.level(look)
    test = noninferiority(data, margin, level)
    with np.errstate(invalid="ignore"):
        z_lossless = sps.norm.isf(np.asarray(test.p_lossless, dtype=float))
        z_regression = sps.norm.ppf(np.asarray(test.p_regression, dtype=float))
    lossless_barred, regression_barred = np.asarray(lossless_barred, dtype=bool), np.asarray(regression_barred, dtype=bool)
    said_lossless, said_regression = np.asarray(test.lossless, dtype=bool), np.asarray(test.regression, dtype=bool)
    lossless, regression = said_lossless & ~lossless_barred, said_regression & ~regression_barred
    futile, lossless_out, regression_out = np.zeros_like(lossless), np.zeros_like(lossless), np.zeros_like(lossless)
    if design.futility > 0 and look < len(design.sizes) - 1:
        t = design.fractions[look]
        last = boundaries(design.fractions, design.alpha)[-1]
        spread = math.sqrt(1 - t)
        with np.errstate(invalid="ignore"):
            # B-values: with a flat prior, B_1 | data ~ N(Z_t/√t, (1 − t)/t), so P(Z_1 > c) = Φ((Z_t − c√t)/√(1 − t))
            reach_lossless = sps.norm.cdf((z_lossless - last * math.sqrt(t)) / spread)
            reach_regression = sps.norm.cdf((-last * math.sqrt(t) - z_regression) / spread)
        lossless_out = np.where(np.isfinite(reach_lossless), reach_lossless < design.futility, False) | said_regression
        if clustered(data):
            regression_out = ~_regression_reachable(data, margin, float(sps.norm.cdf(-last * math.sqrt(t) - sps.norm.ppf(design.futility) * spread)))  # type: ignore[arg-type]
        else:
            regression_out = np.where(np.isfinite(reach_regression), reach_regression < design.futility, False)
        regression_out = regression_out | said_lossless
        futile = (lossless_barred | lossless_out) & (regression_barred | regression_out) & ~lossless & ~regression
    return LookDecision(lossless=scalar(lossless), regression=scalar(regression), futile=scalar(futile), test=test,
                        lossless_out_of_reach=scalar(lossless_out), regression_out_of_reach=scalar(regression_out))


def _regression_reachable(data: Paired, margin: float, level: float) -> np.ndarray:
    """Whether REGRESSION's chance at the last look is at least `futility`, with repeats: its own
    decision at the level where that chance is `futility`, monotone in the candidate's scores by
    construction (`clustered_regression`). Above 1/2 (the first of 4 looks asks 0.54) the critical
    value c is negative, where that construction does not hold; there the bound is
    Δ̂ + 1/n + c/√(n − 1), whose spread term is the largest any per-item difference in [−1, 1] can
    show: monotone, and never above either REGRESSION bound at c, so REGRESSION is barred there no
    more often than its p-value would bar it."""
    if level <= 0.5:
        return np.asarray(clustered_regression(data, margin, level)[0], dtype=bool)
    crit = float(critical(level, data.n - 1))
    return np.asarray(np.asarray(data.delta, dtype=float) + margin + continuity(data) + crit / math.sqrt(data.n - 1) < 0, dtype=bool)
