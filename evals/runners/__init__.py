"""How work reaches endpoints: our native runner for our adapters, established engines for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.client import Endpoint
from evals.config import Config
from evals.records import task_folder
from evals.runners.engines import run_engine_job
from evals.runners.looks import Looks
from evals.runners.native import Job, SequentialPlan, run_jobs
from evals.tasks import Task, make_task

__all__ = ["Job", "Looks", "SequentialPlan", "run_any", "run_endpoints"]

# The gate, handed in by the CLI: given both arms' jobs of a task, has a look decided it?
Judge = Callable[[Job, Job], bool]


async def run_any(jobs: list[Job], config: Config, answered: Callable[[], None] | None = None) -> list[Job]:
    """Native jobs through our runner and engine-run ones (tau2) through theirs, all at once."""
    native = [j for j in jobs if isinstance(j.task, Task)]
    engine = [run_engine_job(j, config) for j in jobs if not isinstance(j.task, Task)]
    await asyncio.gather(run_jobs(native, answered), *engine)
    return jobs


async def run_endpoints(config: Config, names: list[str], tasks: list[str], out: Path, overrides: dict[str, Any], judge: Judge | None = None,
                        answered: Callable[[], None] | None = None) -> list[Job]:
    """Every task on every endpoint, all in flight at once; jobs come back in (endpoint, task) order.

    Under `[gate] sequential` every native task is sent in its design's order, which the manifest
    records (so that a reference run alone can become a sequential baseline); with `judge` (a
    comparison) the two arms of each task are also held together look by look and stop once
    `judge` says a look decided the task. `answered`: see `run_jobs`."""
    endpoints = [Endpoint(*config.endpoint(name)) for name in names]
    jobs = [Job(e, make_task(t, config, overrides), out / e.name / task_folder(t)) for e in endpoints for t in tasks]
    if config.gate.sequential:
        gate = config.gate
        plan = SequentialPlan(looks=gate.looks, alpha=gate.alpha, futility=gate.futility, seed=gate.order_seed)
        for t in tasks:
            arms = [j for j in jobs if j.task.name == t and isinstance(j.task, Task)]
            looks = Looks(t, lambda a=arms: judge(a[0], a[1])) if judge is not None and len(arms) == 2 else None
            for j in arms:
                j.looks, j.plan = looks, plan
    try:
        return await run_any(jobs, config, answered)
    finally:
        for e in endpoints:
            await e.aclose()
