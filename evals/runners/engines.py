"""Tasks that an established engine runs (tau2): pick the engine, resolve the user simulator, resume.

An engine run is all or nothing: a finished run with the same configuration is reused as it
is, an unfinished one is run again (the engines keep their own logs). A folder holding a run of
another configuration or model is refused, as a native run's is (an independent review: the
engine's results replaced a finished run of another `--limit`), and so is one holding results
imported by `evals import tau2` (`manifests.why_not_rerun`).
"""

from __future__ import annotations

import time

from evals.client import Endpoint
from evals.config import Config
from evals.errors import UsageError
from evals.records import RunStore, read_records
from evals.runners.manifests import why_not_rerun
from evals.runners.native import Job, refuse_other_run
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

    if old is not None:
        refuse_other_run(job.folder, old, {"task": task.name, "task_config": task.config(), "model": model})
        if old.status == "complete":
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
