"""How work reaches endpoints: our native runner for our adapters, established engines for the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from evals.client import Endpoint
from evals.config import Config
from evals.records import task_folder
from evals.runners.engines import run_engine_job
from evals.runners.native import Job, run_jobs
from evals.tasks import Task, make_task

__all__ = ["Job", "run_any", "run_endpoints"]


async def run_any(jobs: list[Job], config: Config) -> list[Job]:
    """Native jobs through our runner and engine-run ones (tau2) through theirs, all at once."""
    native = [j for j in jobs if isinstance(j.task, Task)]
    engine = [run_engine_job(j, config) for j in jobs if not isinstance(j.task, Task)]
    await asyncio.gather(run_jobs(native), *engine)
    return jobs


async def run_endpoints(config: Config, names: list[str], tasks: list[str], out: Path, overrides: dict[str, Any]) -> list[Job]:
    """Every task on every endpoint, all in flight at once; jobs come back in (endpoint, task) order."""
    endpoints = [Endpoint(*config.endpoint(name)) for name in names]
    try:
        return await run_any([Job(e, make_task(t, config, overrides), out / e.name / task_folder(t)) for e in endpoints for t in tasks], config)
    finally:
        for e in endpoints:
            await e.aclose()
