"""How far the repeats advice lands from the truth: `python -m evals.calibration_advice`

On INCONCLUSIVE with repeats, the gate advises how many repeats per item would decide it
(`power.repeats_needed`), simulating its own decision on draws resampled from the observed pairs:
the observed run stands in for the truth, so the advice is an estimate. Here, for a few truths,
runs are drawn as a user would observe them (n items × K₀ repeats), each is gated by `gate_runs`
on records (its advice read from the verdict, on the runs it leaves INCONCLUSIVE), and the power
that the advised number of repeats reaches at the truth is simulated through the batch
(`inference.noninferiority`, what `gate_runs` decides with): how often the advice is "none", how
widely it varies from run to run, and what power it buys.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from evals.calibration import draw, simulate, task_verdict_on_matrices, write_block
from evals.gate import Verdict
from evals.simmodel import SimModel

POWER = 0.8
# (accuracy, margin, true Δ, discordance, items, repeats observed): GPQA-Diamond's 198 questions
# with 2 seeds toward each verdict, and a smaller task with more seeds
TRUTHS = ((0.7, 0.05, 0.0, 0.3, 198, 2), (0.7, 0.05, -0.12, 0.3, 198, 2), (0.8, 0.1, 0.0, 0.2, 50, 4))


def advice_table(runs: int, power_runs: int, seed: int = 11) -> list[tuple[str, int, list[int | None], dict[int, float]]]:
    """Per truth: its label, how many of `runs` observed runs the gate decided, the advice on each of
    the others (None: "no number up to 64 would"), and the power at the truth of each number advised
    (`power_runs` simulations each)."""
    rng = np.random.default_rng(seed)
    rows = []
    for acc, m, delta, disc, n, k0 in TRUTHS:
        model = SimModel(accuracy=acc, delta=delta, discordance=disc)
        goal = "LOSSLESS" if delta > -m else "REGRESSION"
        advised, decided = [], 0
        for _ in range(runs):
            reference, candidate = (arm[0] for arm in draw(model, rng, 1, n, k0))
            verdict = task_verdict_on_matrices(reference, candidate, m)
            if verdict.verdict != Verdict.INCONCLUSIVE:
                decided += 1
                continue
            advised.append(verdict.repeats_needed)
        reached = {}
        for k in sorted({k for k in advised if k is not None}):
            lossless, regression, _ = simulate([model], n, k, m, power_runs, rng)
            reached[k] = lossless if goal == "LOSSLESS" else regression
        label = f"accuracy {acc}, m {m}, Δ {delta:+}, discordance {disc:.2f}, {n} items × {k0} ({goal})"
        rows.append((label, decided, advised, reached))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibration_advice", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="observed runs per truth (default 30)")
    parser.add_argument("--power-runs", type=int, default=1000, help="simulations of each number advised, at the truth (default 1,000)")
    parser.add_argument("--write", metavar="FILE", help="replace the block between the advice markers in FILE (docs/statistics.md)")
    args = parser.parse_args(argv)
    out = io.StringIO()
    print(f"Of {args.runs} runs of a truth, those gate_runs decided; the repeats it advised on each of the others, and the power each "
          f"number advised reaches at the truth ({args.power_runs:,} simulations; {POWER:.0%} asked):\n", file=out)
    print("| truth | decided | advised: fewest, median, most | \"none\" | power at the truth: least, median, most |\n|---|---|---|---|---|", file=out)
    for label, decided, advised, reached in advice_table(args.runs, args.power_runs):
        some = sorted(k for k in advised if k is not None)
        powers = sorted(reached[k] for k in some)
        ks = f"{some[0]}, {some[len(some) // 2]}, {some[-1]}" if some else "–"
        ps = f"{powers[0]:.0%}, {powers[len(powers) // 2]:.0%}, {powers[-1]:.0%}" if powers else "–"
        print(f"| {label} | {decided} of {args.runs} | {ks} | {len(advised) - len(some)} of {len(advised)} | {ps} |", file=out)
    tables = out.getvalue()
    sys.stdout.write(tables)
    if args.write:
        write_block(Path(args.write), "advice", f"python -m evals.calibration_advice --runs {args.runs} --power-runs {args.power_runs} --write {args.write}", tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
