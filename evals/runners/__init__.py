"""How work reaches endpoints: our native runner for our adapters, established engines for the rest.

Every way of running a task has one shape (design §6): given jobs (an endpoint, a task, a
folder), it leaves records and a manifest in each folder, resumably, and fills the job's
`records` and `manifest`. A task names its way in `runner`; `RUNNERS` maps the name to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from evals.client import Endpoint
from evals.config import Config
from evals.records import task_folder
from evals.runners.engines import run_engine_job
from evals.runners.inspect_eval import run_inspect_job
from evals.runners.looks import Looks
from evals.runners.native import Job, SequentialPlan, run_jobs, standing_for_looks
from evals.tasks import make_task, runner_of

__all__ = ["Job", "Looks", "SequentialPlan", "run_any", "run_endpoints", "standing_for_looks"]

# The gate, handed in by the CLI: given both arms' jobs of a task, has a look decided it?
Judge = Callable[[Job, Job], bool]


Answered = Callable[[], None]  # called once, when the first answer of the run is in (compare readies the gate then)
Runner = Callable[[list[Job], Config, "Answered | None"], Awaitable[object]]


def _each(run_one: Callable[[Job, Config], Awaitable[Job]]) -> Runner:
    """A runner of one job at a time, all jobs at once."""

    async def run(jobs: list[Job], config: Config, answered: Answered | None = None) -> None:
        await asyncio.gather(*(run_one(j, config) for j in jobs))

    return run


async def _native(jobs: list[Job], config: Config, answered: Answered | None = None) -> None:
    await run_jobs(jobs, answered)


RUNNERS: dict[str, Runner] = {"native": _native, "tau2": _each(run_engine_job), "inspect": _each(run_inspect_job)}


async def run_any(jobs: list[Job], config: Config, answered: Answered | None = None) -> list[Job]:
    """Every job through its task's runner, all at once."""
    by_runner: dict[str, list[Job]] = {}
    for job in jobs:
        by_runner.setdefault(runner_of(job.task), []).append(job)
    await asyncio.gather(*(RUNNERS[name](batch, config, answered) for name, batch in by_runner.items()))
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
            arms = [j for j in jobs if j.task.name == t and runner_of(j.task) == "native"]  # looks need our runner
            looks = Looks(t, lambda a=arms: judge(a[0], a[1])) if judge is not None and len(arms) == 2 else None
            for j in arms:
                j.looks, j.plan = looks, plan
    try:
        return await run_any(jobs, config, answered)
    finally:
        for e in endpoints:
            await e.aclose()
