"""The one manifest builder: whatever runs a task (our runner, inspect, tau2-bench), its
manifest says the same things the same way (design §3)."""

from __future__ import annotations

from typing import Any

import evals
from evals.records import Manifest, now


def new_manifest(task: Any, endpoint: str, base_url: str | list[str], model: str, *, items: int, dataset_fingerprint: str,
                 sampling: dict[str, Any], started_at: str | None = None, **extra: Any) -> Manifest:
    """A manifest of `task` (anything with name, version, config, repeats, prompt_fingerprint and
    manifest_extra) on one endpoint, status "running"; `extra` is added to the task's own."""
    return Manifest(
        task=task.name,
        task_version=task.version,
        task_config=task.config(),
        dataset_fingerprint=dataset_fingerprint,
        prompt_fingerprint=task.prompt_fingerprint(),
        sampling=sampling,
        endpoint=endpoint,
        base_url=base_url,
        model=model,
        tool_version=evals.__version__,
        items=items,
        repeats=task.repeats(),
        started_at=started_at or now(),
        extra={**task.manifest_extra(), **extra},
    )


def finish(manifest: Manifest, records: list[Any], expected: int) -> Manifest:
    """Counts and status once a run ends: complete when every (item, repeat) is there without error."""
    manifest.finished_at = now()
    manifest.records = len(records)
    manifest.errors = sum(r.error is not None for r in records)
    manifest.status = "complete" if manifest.errors == 0 and len(records) == expected else "incomplete"
    return manifest
