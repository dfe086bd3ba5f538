"""What people and machines read: one run's table, a comparison's table, verdict lines, JSON."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from tabulate import tabulate

from evals.records import Manifest, Record
from evals.scores import clustered_mean, item_scores, mean, pass_hat_k

if TYPE_CHECKING:  # the gate (and its statistics) is imported where a verdict is rendered: `evals run` needs none
    from evals.gate import SequentialState, TaskVerdict


class RunSummary(BaseModel):
    endpoint: str
    task: str
    items: int
    records: int
    accuracy: float
    se: float
    invalid_rate: float
    truncated: int
    errors: int
    wall_s: float | None


def summarise(manifest: Manifest, records: list[Record], wall_s: float | None = None) -> RunSummary:
    ok = [r for r in records if r.counts]
    estimate = clustered_mean(item_scores(ok).values())
    return RunSummary(
        endpoint=manifest.endpoint,
        task=manifest.task,
        items=estimate.n,
        records=len(records),
        accuracy=estimate.mean,
        se=estimate.se,
        invalid_rate=sum(r.invalid for r in ok) / len(ok) if ok else float("nan"),
        truncated=sum(r.finish_reason == "length" for r in ok),
        errors=sum(not r.counts for r in records),  # a tau2 agent error is the model's own failure, a scored 0
        wall_s=wall_s,
    )


def run_table(summaries: list[RunSummary], tablefmt: str = "simple") -> str:
    rows: list[list[Any]] = [
        [
            s.endpoint,
            s.task,
            s.items,
            f"{s.accuracy:.4f}",
            f"{s.se:.4f}",
            f"{s.invalid_rate:.3f}",
            s.truncated,
            s.errors,
            "" if s.wall_s is None else f"{s.wall_s:.1f}s",
        ]
        for s in summaries
    ]
    headers = ["endpoint", "task", "n", "accuracy", "std err", "invalid", "truncated", "errors", "wall time"]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def _pct(alpha: float) -> str:
    return f"{100 * (1 - 2 * alpha):g}%"


def _f(value: float | None, spec: str = "+.4f") -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def verdict_line(v: TaskVerdict) -> str:
    """One line per task with the numbers behind its verdict."""
    from evals.gate import Verdict

    if v.verdict == Verdict.ERROR and v.problem:
        return f"{v.task}: ERROR: {v.problem}"
    unit = "items" if v.repeats == 1 else f"items x {v.repeats} repeats"
    kind = "" if v.paired else " (unpaired)"
    line = (
        f"{v.task}: {v.verdict.value}{kind}: Δ = {_f(v.delta)}, {_pct(v.alpha)} CI [{_f(v.low)}, {_f(v.high)}], "
        f"margin -{v.margin:g}, n = {v.n} {unit}"
    )
    if v.errors:
        line += f", errors {v.errors.get('reference', 0)}/{v.errors.get('candidate', 0)}"
    if any(v.invalid.values()):  # answers the task could not read, scored as failures: a REGRESSION made of them reads like any other
        line += f", unreadable answers {v.invalid.get('reference', 0)}/{v.invalid.get('candidate', 0)}"
    if v.verdict == Verdict.INCONCLUSIVE and v.advice:
        line += f"; cannot tell: {v.advice}"
    return line


def compare_table(verdicts: list[TaskVerdict], tablefmt: str = "simple") -> str:
    rows = []
    for v in verdicts:
        s = v.stats
        rows.append(
            [
                v.task,
                v.n,
                _f(v.reference_score, ".4f"),
                _f(v.candidate_score, ".4f"),
                _f(v.delta),
                _f(v.delta_answered) if v.imputed and any(v.imputed.values()) else "=",
                f"[{_f(v.low)}, {_f(v.high)}]",
                _f(v.se if v.paired else None, ".4f"),
                _f(s.se_unpaired if s else v.se, ".4f"),
                _f(s.correlation if s else None, ".2f"),
                _f(s.mcnemar.pvalue if s and s.mcnemar else None, ".3f"),
                f"-{v.margin:g}",
                v.verdict.value,
            ]
        )
    headers = ["task", "n", "reference", "candidate", "Δ", "Δ as answered", "CI", "SE paired", "SE unpaired", "corr", "McNemar p", "margin", "verdict"]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def group_table(v: TaskVerdict, tablefmt: str = "simple") -> str:
    """A macro's groups, or a size-weighted lm-eval group's subtasks (shown, not gated)."""
    rows = [[g, s.n, _f(s.reference.mean, ".4f"), _f(s.candidate.mean, ".4f"), _f(s.delta), _f(s.se, ".4f")] for g, s in (v.groups or v.subtasks).items()]
    what = " group" if v.groups else " subtask (pooled by size)"
    table = tabulate(rows, headers=[v.task + what, "n", "reference", "candidate", "Δ", "SE"], tablefmt=tablefmt, disable_numparse=True)
    if not v.pass_k:
        return table
    ks = sorted(next(iter(v.pass_k.values())))
    pass_rows = [[arm] + [_f(values[k], ".4f") for k in ks] for arm, values in v.pass_k.items()]
    return table + "\n\n" + tabulate(pass_rows, headers=[v.task] + [f"pass^{k}" for k in ks], tablefmt=tablefmt, disable_numparse=True)


def gate_json(reference: str, candidate: str, verdicts: list[TaskVerdict]) -> dict[str, Any]:
    """The stable machine-readable form: strict JSON (a number that is not finite is null)."""
    from evals.gate import EXIT_CODES, overall

    final = overall(verdicts)
    return _finite({
        "verdict": final.value,
        "exit_code": EXIT_CODES[final],
        "reference": reference,
        "candidate": candidate,
        "tasks": [
            {
                "task": v.task,
                "verdict": v.verdict.value,
                "paired": v.paired,
                "delta": v.delta,
                "se": v.se,
                "ci": [v.low, v.high],
                "margin": v.margin,
                "alpha": v.alpha,
                "n": v.n,
                "repeats": v.repeats,
                "reference_score": v.reference_score,
                "candidate_score": v.candidate_score,
                "errors": v.errors,
                "error_rates": v.error_rates,
                "imputed": v.imputed,
                "delta_answered": v.delta_answered,
                "method": v.method,
                "df": v.df,
                "p_lossless": v.p_lossless,
                "p_regression": v.p_regression,
                "flip_rate": v.flip_rate,
                "mde": v.mde,
                "items_needed": v.items_needed,
                "repeats_needed": v.repeats_needed,
                "advice": v.advice,
                "mcnemar_p": v.stats.mcnemar.pvalue if v.stats and v.stats.mcnemar else None,
                "groups": {g: {"n": s.n, "reference_score": s.reference.mean, "candidate_score": s.candidate.mean, "delta": s.delta, "se": s.se,
                               "flip_rate": s.flip_rate} for g, s in v.groups.items()},
                "subtasks": {g: {"n": s.n, "reference_score": s.reference.mean, "candidate_score": s.candidate.mean, "delta": s.delta, "se": s.se,
                                 "flip_rate": s.flip_rate} for g, s in v.subtasks.items()},
                "pass_k": v.pass_k,
                "problem": v.problem,
                "note": v.note,
                "sequential": v.sequential.model_dump() if v.sequential else None,
            }
            for v in verdicts
        ],
    })


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: null instead, everywhere in the structure."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any) -> str:
    """JSON that every parser reads: `allow_nan=False` turns a stray NaN into an error here, not downstream."""
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def sequential_line(s: SequentialState) -> str:
    """Where a sequential run stopped and what stopping saved."""
    looks = ", ".join(f"{n:,}" for n in s.looks)
    saved = s.generations_fixed - s.generations
    share = f" ({saved / s.generations_fixed:.0%} of the fixed design's {s.generations_fixed:,})" if s.generations_fixed else ""
    return (f"sequential: decided at look {s.look} of {len(s.looks)} (items at the looks: {looks}; {s.stopped}; nominal level {s.level:.4g}); "
            f"{s.generations:,} generations made, {saved:,} saved{share}")


def render_gate(reference: str, candidate: str, verdicts: list[TaskVerdict], fmt: str = "table") -> str:
    """The comparison for people (`table`, `markdown`) or machines (`json`)."""
    from evals.gate import EXIT_CODES, Verdict, overall

    if fmt == "json":
        return dumps(gate_json(reference, candidate, verdicts))
    tablefmt = "github" if fmt == "markdown" else "simple"
    final = overall(verdicts)
    parts = [f"reference: {reference}   candidate: {candidate}", "", compare_table(verdicts, tablefmt)]
    for v in verdicts:
        if v.groups or v.subtasks:
            parts += ["", group_table(v, tablefmt)]
    parts.append("")
    bullet = "- " if fmt == "markdown" else ""
    for v in verdicts:
        parts.append(bullet + verdict_line(v))
        extras = []
        if v.method:
            extras.append(f"method: {v.method}" + (f"; flip rate {v.flip_rate:.1%} (answers whose correctness changed)" if v.flip_rate is not None else ""))
        if v.stats and v.stats.mcnemar:
            m = v.stats.mcnemar
            extras.append(f"McNemar exact (tests Δ = 0, an alarm beside the gate): {m.ref_only_right} right only in the reference, "
                          f"{m.cand_only_right} only in the candidate, p = {m.pvalue:.3g}")
        if v.verdict == Verdict.REGRESSION and len(verdicts) > 1 and v.p_regression is not None:
            extras.append(f"p = {v.p_regression:.3g} against Δ ≥ -{v.margin:g} (Holm-adjusted across the {len(verdicts)} tasks for the overall REGRESSION)")
        if v.sequential:
            extras.append(sequential_line(v.sequential))
        if v.note:
            extras.append(v.note)
        parts += [("  " if fmt == "markdown" else "    ") + e for e in extras]
    parts += ["", f"{'**' if fmt == 'markdown' else ''}verdict: {final.value}{'**' if fmt == 'markdown' else ''} (exit {EXIT_CODES[final]})"]
    return "\n".join(parts)


def junit_xml(verdicts: list[TaskVerdict]) -> str:
    """One testcase per task; anything but LOSSLESS is a failure whose message is the verdict line."""
    import xml.etree.ElementTree as ET

    from evals.gate import Verdict

    failing = [v for v in verdicts if v.verdict != Verdict.LOSSLESS]
    suite = ET.Element("testsuite", name="evals gate", tests=str(len(verdicts)), failures=str(len(failing)), errors="0")
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname="evals.gate", name=v.task)
        if v in failing:
            line = verdict_line(v)
            failure = ET.SubElement(case, "failure", message=line, type=v.verdict.value)
            failure.text = line
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def domain_table(records: list[Record], trials: int, tablefmt: str = "simple") -> str:
    """tau2-style rows: each domain and the macro, with pass^k for k ≤ trials."""
    by_group: dict[str, list[Record]] = {}
    for r in records:
        by_group.setdefault(str(r.details.get("group", "all")), []).append(r)
    ks = list(range(1, trials + 1))
    rows: list[list[Any]] = []
    for group, rs in sorted(by_group.items()):
        rows.append([group, len({r.item_id for r in rs}), len(rs), sum(r.error is not None for r in rs)] + [f"{pass_hat_k(rs, k):.4f}" for k in ks])
    if len(by_group) > 1:
        macro = [mean(pass_hat_k(rs, k) for rs in by_group.values()) for k in ks]
        rows.append(["macro", "", "", ""] + [f"{m:.4f}" for m in macro])
    headers = ["domain", "tasks", "trials run", "errors"] + [f"pass^{k}" for k in ks]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)
