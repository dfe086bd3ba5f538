"""inspect_evals' tau2 port as an engine: `tau2_airline`, `tau2_retail`, `tau2_telecom` run through
inspect_ai, the agent model pointed at the endpoint and the `user` role at the user-simulator
endpoint; each sample's epochs become records (item `domain/<task id>`, repeat = epoch − 1).

It is one case of the inspect runner (`evals.runners.inspect_eval`, the path of every
`inspect:NAME` task): the same subprocess per arm, the same resume from the eval logs kept in
`inspect-logs/`, the same error records; what is tau2's own is the user role, the items named
`domain/<task id>` and the manifest's extras (`user_simulator`). Needs `pip install 'quant-evals[tau2]'`.

Known properties of the port (inspect_evals 0.26): it asks the user role at temperature 0
whatever is configured; its agent loop catches every exception and goes on, so a sample whose
model calls failed still ends "successfully" and is scored (an idle agent even passes the tasks
that need no action). The inspect runner reads the failed calls from the sample's events and
keeps such a sample as a failure with `error` set, as it does a sample inspect marks as errored.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from evals.config import EndpointConfig
from evals.errors import UsageError
from evals.records import Manifest, Record, RunStore, sha256_json
from evals.runners.inspect_eval import endpoint_model, run_inspect, sample_error
from evals.runners.manifests import finish, new_manifest
from evals.tasks.tau2 import Tau2, Tau2Options, trial_record

ENGINE = "inspect"
TASKS = {"airline": "tau2_airline", "retail": "tau2_retail", "telecom": "tau2_telecom"}


def sample_record(sample: Any, domain: str, endpoint: str) -> Record:
    """One (task, trial): tau2 success (the scorer's CORRECT) as the score, errors kept as failures."""
    scores = sample.scores or {}
    value = next(iter(scores.values())).value if scores else None
    error = sample_error(sample)
    if error is None and value is None:
        error = "inspect: no score"
    reward = None if value is None else float(value == "C")
    return trial_record(endpoint, domain, str(sample.id), int(sample.epoch) - 1, reward, error, value=value)


def user_simulator(user: tuple[str, EndpointConfig, str], options: Tau2Options) -> dict[str, Any]:
    """What must be the same for both arms: the user simulator's endpoint, model, temperature and seed."""
    _, config, model = user
    return {"base_url": config.urls[0], "model": model, "temperature": 0.0, "seed": options.seed}  # the port fixes 0


async def run_inspect_tau2(
    endpoint: str, config: EndpointConfig, model: str, user: tuple[str, EndpointConfig, str], options: Tau2Options, folder: Path
) -> tuple[Manifest, list[Record]]:
    try:
        import inspect_evals  # noqa: F401
    except ImportError:
        raise UsageError("tau2 with engine = \"inspect\" needs inspect_evals: pip install 'quant-evals[tau2]'") from None
    user_name, user_config, user_model = user
    task = Tau2(options)
    store = RunStore(folder)
    old = store.manifest()
    extra = {"engine": ENGINE, "user_simulator": user_simulator(user, options)}
    if old is not None and old.extra.get("user_simulator") != extra["user_simulator"]:
        # another configuration's records and logs are not this run's to resume, nor ours to delete
        # (its task config and model: `engines.run_engine_job`, before either engine runs)
        raise UsageError(f"{folder} holds a run with a different user simulator; pass another --out to start afresh")
    port = version("inspect_evals")
    sampling = {"temperature": options.temperature}
    # "running" before any sample: a killed run's folder says what ran there (a rerun with another
    # configuration is refused above, not mixed with its logs) and how much it owes (the resume line)
    manifest = new_manifest(task, endpoint, config.public_base_url, model, items=old.items if old is not None else 0, sampling=sampling,
                            dataset_fingerprint="", started_at=old.started_at if old is not None else None, **extra,
                            inspect_logs=old.extra.get("inspect_logs", []) if old is not None else [])
    store.write_manifest(manifest)

    def planned(ids: dict[str, tuple[list[str], str]]) -> None:
        manifest.items = sum(len(sample_ids) for sample_ids, _ in ids.values())
        store.write_manifest(manifest)

    domains = [d for d in options.domains if options.ids_for(d) != []]  # a domain none of task_ids names is not run
    records, ids, logs = await run_inspect(
        folder,
        endpoint,
        {"model": config.api_key(endpoint), "user": user_config.api_key(user_name)},
        # The port asks the user role at temperature 0 itself; the agent is the evaluated model
        # and keeps the config it is given, so its temperature is set here.
        {"model": endpoint_model(config, model, {"temperature": options.temperature}), "user": endpoint_model(user_config, user_model, {})},
        [{"key": d, "name": "tau2", "spec": f"inspect_evals/{TASKS[d]}", "args": {"shuffle": False, "message_limit": options.message_limit},
          "sample_ids": options.ids_for(d)} for d in domains],
        options.trials,
        lambda sample, domain: sample_record(sample, domain, endpoint),
        limit=options.limit,
        max_connections=config.max_concurrency,
        imported=manifest.extra["inspect_logs"],
        planned=planned,
    )
    items = sorted(f"{d}/{i}" for d, (sample_ids, _) in ids.items() for i in sample_ids)
    wanted = {(i, r) for i in items for r in task.repeats()}
    records = [r for r in records if r.key in wanted]
    manifest.items, manifest.dataset_fingerprint = len(items), sha256_json({"inspect_evals": port, "items": items})
    manifest.extra["inspect_logs"] = logs
    finish(manifest, records, len(wanted))
    store.write_manifest(manifest)
    return manifest, records
