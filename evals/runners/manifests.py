"""The one manifest builder: whatever runs a task (our runner, inspect, tau2-bench), its
manifest says the same things the same way (design §3)."""

from __future__ import annotations

from typing import Any

import evals
from evals.records import Manifest, now

IMPORTED = "imported_from"  # extra: the results files a run was imported from (`evals import tau2`), not run here


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
    """Counts and status once a run ends: complete when every (item, repeat) is there without error
    (a tau2 agent error is the model's own failure, a scored 0: `Record.counts`)."""
    manifest.finished_at = now()
    manifest.records = len(records)
    manifest.errors = sum(not r.counts for r in records)
    manifest.status = "complete" if manifest.errors == 0 and len(records) == expected else "incomplete"
    return manifest


def why_not_rerun(manifest: Manifest) -> str | None:
    """Why a saved run cannot be run again or resumed here, or None when it can.

    An imported run was played by endpoints that no evals.toml of ours names (tau2-bench's
    results give the user simulator's model and URL, not an endpoint), so a rerun could not
    promise the same user simulator, which the pairing needs; it can still be gated and saved."""
    files = manifest.extra.get(IMPORTED)
    if files:
        return (f"{manifest.task} on {manifest.endpoint} was imported from tau2-bench results ({', '.join(map(str, files))}), "
                "not run here: no endpoint of ours played its agent or user, so it cannot be run again or resumed; "
                "run the other arm with tau2-bench and `evals import tau2` it too, then gate the two folders")
    return None
