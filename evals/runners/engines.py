"""Tasks that an established engine runs (tau2): pick the engine, resolve the user simulator, resume.

An engine run is all or nothing: a finished run with the same configuration is reused as it
is, anything else is run again (the engines keep their own logs). A folder holding results
imported by `evals import tau2` is neither: it is refused (`manifests.why_not_rerun`).
"""

from __future__ import annotations

import time

from evals.client import Endpoint
from evals.config import Config
from evals.errors import UsageError
from evals.records import RunStore, read_records
from evals.runners.manifests import why_not_rerun
from evals.runners.native import Job
from evals.tasks.tau2 import Tau2


async def run_engine_job(job: Job, config: Config) -> Job:
    task = job.task
    assert isinstance(task, Tau2)
    options = task.options
    store = RunStore(job.folder)
    old = store.manifest()
    refused = None if old is None else why_not_rerun(old)
    if refused:
        raise UsageError(f"{job.folder}: {refused}; pass another --out")
    model = await job.endpoint.resolve_model()
    if options.user_model is None:
        raise UsageError(f"{config.source}: tasks.tau2.user_model: name the endpoint that plays the user (the same for both arms)")
    user_name, user_config = config.endpoint(options.user_model)
    user_endpoint = Endpoint(user_name, user_config)
    try:
        user_model = await user_endpoint.resolve_model()
    finally:
        await user_endpoint.aclose()

    if old is not None and old.status == "complete" and old.task_config == task.config() and old.model == model:
        job.manifest, job.records = old, read_records(store.records_path)
        return job

    if options.engine == "inspect":
        from evals.runners.inspect_tau2 import run_inspect_tau2 as run
    else:
        from evals.runners.tau2_bench import run_tau2_bench as run
    started = time.perf_counter()
    job.manifest, job.records = await run(job.endpoint.name, job.endpoint.config, model, (user_name, user_config, user_model), options, job.folder)
    job.wall_s = time.perf_counter() - started
    return job
