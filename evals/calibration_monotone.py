"""Does one more wrong candidate answer ever improve the verdict? `python -m evals.calibration_monotone`

A random search, worst regimes first (few items, few changes, repeats, macros with a tiny group,
partial credit, sequential looks with futility): each trial draws a comparison, makes one
candidate draw worse (1 → 0, or 1 → 0.5 for partial credit) and compares the verdicts. The fixed
design is searched in batches through `inference.noninferiority` (what `gate_runs` decides with),
and every violation found is confirmed by `gate_runs` on records; the sequential design goes
through `gate_runs` directly. Prints how many single changes were tried and how many improved the
verdict, toward LOSSLESS and in all (the table in docs/statistics.md).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from evals.calibration import ALPHA, gate_on_matrices, write_block
from evals.calibration_sequential import design_for, gate_on_sequential
from evals.gate import Verdict
from evals.inference import noninferiority, summarise

RANK = {Verdict.REGRESSION: 0, Verdict.INCONCLUSIVE: 1, Verdict.LOSSLESS: 2}
KINDS = ("one repeat", "repeats", "macro with a tiny group", "partial credit")


def _rank(test: object) -> np.ndarray:
    return np.where(np.asarray(test.regression), 0, np.where(np.asarray(test.lossless), 2, 1))  # type: ignore[attr-defined]


def _draw(kind: str, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, float, list[int] | None]:
    """A batch of (reference, candidate) score matrices of one shape, the margin, and group sizes for a macro."""
    k = 1 if kind in ("one repeat", "partial credit") else int(rng.choice([2, 4, 8]))
    sizes = [int(rng.choice([1, 2, 5])), int(rng.choice([10, 30])), int(rng.choice([10, 30]))] if kind == "macro with a tiny group" else None
    n = sum(sizes) if sizes else int(rng.choice([10, 20, 50, 100] if k == 1 else [5, 10, 20, 50]))
    accuracy = rng.beta(float(rng.choice([1.0, 4.0, 20.0])), 1.0, size=(batch, n, 1))
    reference = (rng.random((batch, n, k)) < accuracy).astype(float)
    flip = float(rng.choice([0.0, 0.01, 0.03, 0.1]))
    candidate = np.where(rng.random(reference.shape) < flip, 1 - reference, reference)
    breaks = rng.random((batch, n, 1)) < float(rng.choice([0.0, 0.02, 0.1]))  # failures tied to items
    candidate = np.where(breaks, 0.0, candidate)
    if kind == "partial credit":
        candidate = np.clip(candidate + rng.normal(0, 0.05, candidate.shape) * (candidate > 0), 0, 1)
    return reference, candidate, float(rng.choice([0.02, 0.05, 0.1])), sizes


def _verdicts(reference: np.ndarray, candidate: np.ndarray, margin: float, sizes: list[int] | None) -> np.ndarray:
    if sizes is None:
        return _rank(noninferiority(summarise(reference, candidate), margin, ALPHA))
    edges = np.cumsum([0, *sizes])
    groups = [summarise(reference[:, a:b], candidate[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]
    return _rank(noninferiority(groups, margin, ALPHA))


def fixed_search(trials: int, seed: int = 0, batch: int = 500) -> dict[str, tuple[int, int, int, int]]:
    """Per kind: single changes tried, verdicts improved, of those toward LOSSLESS, and violations gate_runs did not confirm."""
    rng = np.random.default_rng(seed)
    out = {}
    for kind in KINDS:
        tried = improved = to_lossless = unconfirmed = 0
        while tried < trials:
            reference, candidate, margin, sizes = _draw(kind, rng, batch)
            worse = candidate.copy()
            for r in range(batch):  # one draw right in the candidate, made worse
                right = np.argwhere(candidate[r] > 0.5)
                if len(right):
                    i, j = right[rng.integers(len(right))]
                    worse[r, i, j] = 0.5 if kind == "partial credit" and rng.random() < 0.5 else 0.0
            before, after = _verdicts(reference, candidate, margin, sizes), _verdicts(reference, worse, margin, sizes)
            tried += batch
            for r in np.flatnonzero(after > before):
                improved += 1
                to_lossless += int(after[r] == 2)
                groups = [f"g{g}" for g, size in enumerate(sizes) for _ in range(size)] if sizes else None
                confirmed = (RANK[gate_on_matrices(reference[r], worse[r], margin, groups)] > RANK[gate_on_matrices(reference[r], candidate[r], margin, groups)])
                unconfirmed += int(not confirmed)
        out[kind] = (tried, improved, to_lossless, unconfirmed)
    return out


def sequential_search(trials: int, seed: int = 1) -> tuple[int, int, int]:
    """Single changes tried on sequential runs (4 looks, futility on) through gate_runs; improved; toward LOSSLESS."""
    rng = np.random.default_rng(seed)
    improved = to_lossless = 0
    for _ in range(trials):
        n, m = int(rng.choice([20, 40, 60])), float(rng.choice([0.02, 0.05, 0.1]))
        reference = (rng.random((n, 1)) < 0.8).astype(float)
        candidate = reference.copy()
        candidate[(reference == 1) & (rng.random((n, 1)) < rng.uniform(0, 0.3))] = 0
        candidate[(reference == 0) & (rng.random((n, 1)) < rng.uniform(0, 0.2))] = 1
        right = np.flatnonzero(candidate[:, 0] == 1)
        if not len(right):
            continue
        worse = candidate.copy()
        worse[int(rng.choice(right)), 0] = 0
        design = design_for(n, 4, 0.1)
        before, after = gate_on_sequential(reference, candidate, m, design)[0], gate_on_sequential(reference, worse, m, design)[0]
        improved += int(RANK[after] > RANK[before])
        to_lossless += int(RANK[after] > RANK[before] and after == Verdict.LOSSLESS)
    return trials, improved, to_lossless


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibration_monotone", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000, help="single changes per kind, fixed design (default 100,000)")
    parser.add_argument("--sequential", type=int, default=2_000, help="single changes on sequential runs, through gate_runs (default 2,000)")
    parser.add_argument("--write", metavar="FILE", help="replace the block between the monotone markers in FILE (docs/statistics.md)")
    args = parser.parse_args(argv)
    out = io.StringIO()
    print("| design | single changes tried | verdict improved | of which to LOSSLESS | not confirmed by gate_runs |\n|---|---|---|---|---|", file=out)
    fixed = fixed_search(args.trials)
    for kind, (tried, improved, to_lossless, unconfirmed) in fixed.items():
        print(f"| fixed, {kind} | {tried:,} | {improved} | {to_lossless} | {unconfirmed} |", file=out)
    tried, improved, to_lossless = sequential_search(args.sequential)
    print(f"| sequential, 4 looks, futility 10% | {tried:,} | {improved} | {to_lossless} | (judged by gate_runs) |", file=out)
    ok = to_lossless == 0 and all(t == 0 and u == 0 for _, _, t, u in fixed.values())
    print(f"\n{'PASS' if ok else 'FAIL'}: no single change made worse turned a verdict into LOSSLESS.", file=out)
    sys.stdout.write(out.getvalue())
    if args.write:
        command = f"python -m evals.calibration_monotone --trials {args.trials} --sequential {args.sequential} --write {args.write}"
        write_block(Path(args.write), "monotone", command, out.getvalue())
    return 0 if ok else 4  # never 1: that is REGRESSION's code in this project


if __name__ == "__main__":
    raise SystemExit(main())
