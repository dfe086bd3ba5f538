"""Committed reference runs, so that CI gates a candidate without re-running the reference (design §9).

`baselines/NAME/<task>/` holds the run's `manifest.json` and gzipped `records.jsonl.gz`;
`baselines/NAME/baseline.json` says where it came from. A candidate is later run with the
task configuration read back from these manifests, so it sees exactly the same items,
seeds and prompts; the gate still checks that, rather than assuming it.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

from evals.errors import UsageError
from evals.gate import error_rate
from evals.records import MANIFEST, RECORDS_GZ, Manifest, load_run, now, write_atomic

BASELINE_JSON = "baseline.json"


def save_baseline(run_dir: Path, name: str, root: Path, max_error_rate: float) -> Path:
    """Copy a finished run into `root/name`, refusing one that failed too often or is unfinished."""
    runs = load_run(run_dir)
    problems = []
    for task, (manifest, records) in runs.items():
        failed, rate = error_rate(manifest, records)
        if rate > max_error_rate:
            problems.append(f"{task}: {failed} records missing or failed ({rate:.1%} > max_error_rate {max_error_rate:.1%})")
    if problems:
        raise UsageError(f"{run_dir}: not saved as a baseline: " + "; ".join(problems) + "; rerun it to retry the failures")
    target = root / name
    if target.exists():
        shutil.rmtree(target)
    for task, (manifest, records) in runs.items():
        folder = target / task
        folder.mkdir(parents=True)
        write_atomic(folder / MANIFEST, manifest.model_dump_json(indent=2) + "\n")
        lines = "".join(r.model_dump_json() + "\n" for r in sorted(records, key=lambda r: (r.item_id, r.repeat)))
        # mtime=0: the same run saved twice gives the same bytes, so a committed baseline diffs cleanly
        (folder / RECORDS_GZ).write_bytes(gzip.compress(lines.encode(), compresslevel=9, mtime=0))
    info: dict[str, Any] = {
        "name": name,
        "source": str(run_dir),
        "saved_at": now(),
        "tasks": {t: {"endpoint": m.endpoint, "model": m.model, "items": m.items, "repeats": m.repeats} for t, (m, _) in runs.items()},
    }
    write_atomic(target / BASELINE_JSON, json.dumps(info, indent=2) + "\n")
    return target


def baseline_manifests(folder: Path) -> dict[str, Manifest]:
    manifests = {m.task: m for m, _ in load_run(folder).values()}
    if not manifests:
        raise UsageError(f"{folder}: not a baseline (no task folders with {MANIFEST})")
    return manifests
