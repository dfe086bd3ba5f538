"""Tables for people: what one run scored."""

from __future__ import annotations

from pydantic import BaseModel
from tabulate import tabulate

from evals.records import Manifest, Record
from evals.stats import clustered_mean, item_scores


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
    ok = [r for r in records if r.error is None]
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
        errors=len(records) - len(ok),
        wall_s=wall_s,
    )


def run_table(summaries: list[RunSummary], tablefmt: str = "simple") -> str:
    rows = [
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
