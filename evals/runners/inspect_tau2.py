"""inspect_evals' tau2 port as an engine: `tau2_airline`, `tau2_retail`, `tau2_telecom` run through
inspect_ai, the agent model pointed at the endpoint and the `user` role at the user-simulator
endpoint; each sample's epochs become records (item `domain/<task id>`, repeat = epoch − 1).

inspect runs in a subprocess of its own (`python -m evals.runners.inspect_tau2`), one per arm,
so that both arms run at once and inspect's event loop never meets ours. Keys go through the
environment only. Needs `pip install 'quant-evals[tau2]'`.

Known properties of the port (inspect_evals 0.26): it asks the user role at temperature 0
whatever is configured; its agent loop catches every exception and goes on, so a sample whose
model calls failed still ends "successfully" and is scored (an idle agent even passes the tasks
that need no action). We read the failed calls from the sample's events and keep such a sample
as a failure with `error` set, as we do a sample inspect itself marks as errored.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import evals
from evals.config import EndpointConfig
from evals.errors import EngineError, UsageError
from evals.records import Manifest, Record, RunStore, now, sha256_json
from evals.tasks.tau2 import Tau2Options, trial_record

ENGINE = "inspect"
AGENT_KEY, USER_KEY = "EVALS_AGENT_API_KEY", "EVALS_USER_API_KEY"
TASKS = {"airline": "tau2_airline", "retail": "tau2_retail", "telecom": "tau2_telecom"}


def records_from_log(log: Any, endpoint: str) -> list[Record]:
    """Per sample and epoch: tau2 success (the scorer's CORRECT) as the score, errors kept as failures."""
    domain = log.eval.task.rsplit("tau2_", 1)[-1]
    records = []
    for sample in log.samples or []:
        scores = sample.scores or {}
        value = next(iter(scores.values())).value if scores else None
        # The port's agent loop catches every exception and goes on, so a sample whose model calls
        # all failed still ends "successfully" and is scored: look for failed calls in its events.
        failed = [e for e in sample.events or [] if getattr(e, "event", None) == "model" and getattr(e, "error", None)]
        error = None
        if sample.error is not None:
            error = f"inspect sample error: {str(sample.error.message).splitlines()[0][:400]}"
        elif failed:
            first = str(failed[0].error).splitlines()[0][:300]
            error = f"inspect: {len(failed)} model call(s) failed inside the agent loop ({getattr(failed[0], 'role', None) or 'agent'}): {first}"
        elif value is None:
            error = "inspect: no score"
        reward = None if value is None else float(value == "C")
        records.append(trial_record(endpoint, domain, str(sample.id), int(sample.epoch) - 1, reward, error, value=value))
    return records


def _engine_main(spec: dict[str, Any]) -> None:
    """In the subprocess: run the domains' tasks and leave the logs in spec['log_dir']."""
    import inspect_evals.tau2 as tau2
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    def model(role: str, key: str, **config: Any) -> Any:
        # Bounded retries: without them inspect retries a dead server for ever.
        limits = GenerateConfig(max_retries=spec[role]["max_retries"], timeout=spec[role]["timeout_s"], **config)
        return get_model(f"openai-api/evals/{spec[role]['model']}", base_url=spec[role]["base_url"], api_key=os.environ[key], config=limits)

    # The port asks the user role at temperature 0 itself; the agent is the evaluated model and
    # keeps the config it is given, so its temperature is set here.
    agent = model("agent", AGENT_KEY, temperature=spec["temperature"])
    user = model("user", USER_KEY)
    tasks = [getattr(tau2, TASKS[d])(shuffle=False, message_limit=spec["message_limit"]) for d in spec["domains"]]
    logs = inspect_eval(
        tasks,
        model=agent,
        model_roles={"user": user},
        epochs=spec["trials"],
        limit=spec["limit"],
        sample_id=spec["sample_ids"],
        fail_on_error=False,
        log_dir=spec["log_dir"],
        display="none",
        max_connections=spec["max_connections"],
    )
    print(json.dumps({"logs": [log.location for log in logs], "status": [log.status for log in logs]}))


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
    log_dir = folder / "inspect-logs"
    spec = {
        "agent": {"model": model, "base_url": config.urls[0], "max_retries": config.max_retries, "timeout_s": config.request_timeout(None)},
        "user": {"model": user_model, "base_url": user_config.urls[0], "max_retries": user_config.max_retries, "timeout_s": user_config.request_timeout(None)},
        "domains": [d for d in options.domains if options.ids_for(d) != []],  # a domain none of task_ids names is not run
        "trials": options.trials,
        "temperature": options.temperature,
        "limit": options.limit,
        # inspect reads sample ids as fnmatch patterns (telecom ids hold brackets) scoped by registry name
        "sample_ids": [f"inspect_evals/{TASKS[d]}:{glob.escape(i)}" for d in options.domains for i in options.ids_for(d) or []] or None,
        "message_limit": options.message_limit,
        "max_connections": config.max_concurrency,
        "log_dir": str(log_dir),
    }
    env = {**os.environ, AGENT_KEY: config.api_key(endpoint), USER_KEY: user_config.api_key(user_name)}
    started = now()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evals.runners.inspect_tau2", json.dumps(spec), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        tail = " ".join(err.decode(errors="replace").strip().splitlines()[-2:])
        raise EngineError(f"tau2 via inspect on endpoint {endpoint} failed (exit {proc.returncode}): {tail}")
    from inspect_ai.log import read_eval_log

    records: list[Record] = []
    for location in json.loads(out.decode().strip().splitlines()[-1])["logs"]:
        log = read_eval_log(location)
        if log.status != "success":  # cancelled, error or still "started": its samples are not a result
            why = f": {log.error.message.splitlines()[0]}" if getattr(log, "error", None) is not None and log.error.message else ""
            raise EngineError(f"tau2 via inspect on endpoint {endpoint}: the eval log {location} is {log.status!r}, not finished{why}")
        records += records_from_log(log, endpoint)
    store = RunStore(folder)
    if store.records_path.exists():
        store.records_path.unlink()  # a rerun of an engine replaces its records
    store.open()
    for record in records:
        store.append(record)
    store.close()
    port = version("inspect_evals")
    items = sorted({r.item_id for r in records})
    manifest = Manifest(
        task="tau2",
        task_version="1",
        task_config=options.model_dump(mode="json"),
        dataset_fingerprint=sha256_json({"inspect_evals": port, "items": items}),
        prompt_fingerprint=sha256_json({"engine": ENGINE, "domains": sorted(options.domains), "inspect_evals": port}),
        sampling={"temperature": options.temperature},
        endpoint=endpoint,
        base_url=config.public_base_url,
        model=model,
        tool_version=evals.__version__,
        items=len(items),
        repeats=list(range(options.trials)),
        started_at=started,
        finished_at=now(),
        status="complete",
        records=len(records),
        errors=sum(r.error is not None for r in records),
        extra={"engine": ENGINE, "user_simulator": user_simulator(user, options)},
    )
    store.write_manifest(manifest)
    return manifest, records


if __name__ == "__main__":
    _engine_main(json.loads(sys.argv[1]))
