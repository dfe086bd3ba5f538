"""The official tau2-bench as an engine: `tau2 run` in a subprocess, and its results files as records.

tau2-bench is installed by the user from its repository (it needs Python ≥ 3.12), with
`pip install 'quant-evals[tau2-bench]'` beside it for the pins we know it needs (its metrics
misbehave under pandas 3). API keys travel in the environment only: tau2 writes the
`--agent-llm-args` and `--user-llm-args` it was given into its results file, in clear.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import evals
from evals.config import EndpointConfig
from evals.errors import EngineError, UsageError
from evals.records import Manifest, Record, RunStore, now, sha256_json
from evals.runners.manifests import finish, new_manifest
from evals.tasks.tau2 import Tau2, Tau2Options, records_from_results, results_settings

ENGINE = "tau2-bench"


def tau2_command(
    domain: str,
    agent_model: str,
    agent_base_url: str,
    user_model: str,
    user_base_url: str,
    options: Tau2Options,
    save_to: Path,
) -> list[str]:
    """The `tau2 run` command line for one domain. It never holds a key: litellm reads OPENAI_API_KEY."""
    command = [
        "tau2", "run",
        "--domain", domain,
        "--agent-llm", f"openai/{agent_model}",
        "--agent-llm-args", json.dumps({"temperature": options.temperature, "api_base": agent_base_url}),
        "--user-llm", f"openai/{user_model}",
        "--user-llm-args", json.dumps({"temperature": options.user_temperature, "api_base": user_base_url}),
        "--num-trials", str(options.trials),
        "--max-steps", str(options.max_steps),
        "--seed", str(options.seed),
        "--save-to", str(save_to),
    ]  # fmt: skip
    ids = options.ids_for(domain)
    if ids:
        command += ["--task-ids", *ids]
    elif options.limit is not None:
        command += ["--num-tasks", str(options.limit)]  # the first N tasks of the domain
    return command


def load_results(paths: Sequence[Path], endpoint: str) -> tuple[list[Record], dict[str, dict[str, Any]], dict[str, Any]]:
    """Records of every results file (one per domain), their settings by domain, and the agent's llm info."""
    records: list[Record] = []
    settings: dict[str, dict[str, Any]] = {}
    agent: dict[str, Any] = {}
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            batch = records_from_results(data, endpoint)
            setting = results_settings(data)
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UsageError(f"{path}: not a tau2-bench results file ({type(e).__name__}: {e})") from None
        if setting["domain"] in settings:
            raise UsageError(f"{path}: a second results file for domain {setting['domain']!r}")
        settings[setting["domain"]] = setting
        records += batch
        agent_info = data["info"].get("agent_info") or {}
        agent = {"llm": agent_info.get("llm"), "api_base": (agent_info.get("llm_args") or {}).get("api_base")}
    return records, settings, agent


def manifest_for(records: list[Record], settings: dict[str, dict[str, Any]], endpoint: str, agent: dict[str, Any]) -> Manifest:
    trials = sorted({s["num_trials"] for s in settings.values()})
    if len(trials) != 1:
        raise UsageError(f"the results files disagree on the number of trials ({trials})")
    same = {k: sorted({json.dumps(s[k]) for s in settings.values()}) for k in ("max_steps", "max_errors", "seed", "agent_temperature")}
    config = {
        "engine": ENGINE,
        "domains": sorted(settings),
        "trials": trials[0],
        **{k: json.loads(v[0]) if len(v) == 1 else [json.loads(x) for x in v] for k, v in same.items()},
    }
    return Manifest(
        task="tau2",
        task_version="1",
        task_config=config,
        dataset_fingerprint=sha256_json({d: s["tasks"] for d, s in sorted(settings.items())}),
        prompt_fingerprint=sha256_json({"engine": ENGINE, "domains": sorted(settings)}),
        sampling={"temperature": config["agent_temperature"]},
        endpoint=endpoint,
        base_url=agent.get("api_base") or "",
        model=agent.get("llm") or "",
        tool_version=evals.__version__,
        items=len({r.item_id for r in records}),
        repeats=list(range(trials[0])),
        started_at=now(),
        finished_at=now(),
        status="complete",
        records=len(records),
        errors=sum(r.error is not None for r in records),
        extra={"engine": ENGINE, "user_simulator": {d: s["user_simulator"] for d, s in sorted(settings.items())}},
    )


def import_results(paths: Sequence[Path], endpoint: str, folder: Path) -> tuple[Manifest, list[Record]]:
    """`evals import tau2`: results files become `folder/records.jsonl` and `folder/manifest.json`."""
    records, settings, agent = load_results(paths, endpoint)
    manifest = manifest_for(records, settings, endpoint, agent)
    store = RunStore(folder)
    if store.records_path.exists():
        store.records_path.unlink()  # an import replaces, it does not append
    store.open()
    for record in records:
        store.append(record)
    store.close()
    store.write_manifest(manifest)
    return manifest, records


async def run_tau2_bench(
    endpoint: str, config: EndpointConfig, model: str, user: tuple[str, EndpointConfig, str], options: Tau2Options, folder: Path
) -> tuple[Manifest, list[Record]]:
    """Run `tau2 run` once per domain (domains in parallel), then import what it wrote."""
    if shutil.which("tau2") is None:
        raise UsageError(
            "engine tau2-bench: no `tau2` command; install tau2-bench from its repository (Python >= 3.12) "
            "with `pip install 'quant-evals[tau2-bench]'` beside it, or use engine = \"inspect\""
        )
    user_name, user_config, user_model = user
    env = {**os.environ, "OPENAI_API_KEY": config.api_key(endpoint)}
    if user_config.api_key(user_name) != env["OPENAI_API_KEY"]:
        raise UsageError("engine tau2-bench: the agent and the user simulator must share one API key (litellm reads a single OPENAI_API_KEY)")
    folder.mkdir(parents=True, exist_ok=True)
    # Absolute: `tau2 run` saves a relative --save-to under its own DATA_DIR/simulations/
    # (`DATA_DIR / "simulations" / f"{save_to}.json"` in tau2/run.py), not where we run.
    work = Path(tempfile.mkdtemp(prefix="tau2-", dir=folder.resolve()))

    async def one(domain: str) -> Path:
        # tau2 saves to `<save_to>.json` (1.0) or `<save_to>/results.json` (later releases); an absolute path keeps it here.
        save_to = work / domain
        command = tau2_command(domain, model, config.urls[0], user_model, user_config.urls[0], options, save_to)
        proc = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        written = [p for p in (save_to.with_suffix(".json"), save_to / "results.json") if p.exists()]
        if proc.returncode != 0 or not written:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            raise EngineError(f"tau2 run --domain {domain} failed (exit {proc.returncode}{'' if written else ', no results file at ' + str(save_to) + '.json'}): {' '.join(tail)}")
        return written[0]

    paths = await asyncio.gather(*(one(d) for d in options.domains if options.ids_for(d) != []))
    imported, records = import_results(paths, endpoint, folder)
    # The options as configured, so that a complete run is reused (`engines.run_engine_job`)
    # and a baseline of it can be run again (`task_from_manifest`); tau2's own settings stay beside them.
    # The model and URL as asked (tau2's results name the litellm id, `openai/<model>`).
    manifest = new_manifest(Tau2(options), endpoint, config.public_base_url, model, items=imported.items, dataset_fingerprint=imported.dataset_fingerprint,
                            sampling=imported.sampling, started_at=imported.started_at, **imported.extra,
                            tau2_settings=imported.task_config, tau2_agent_llm=imported.model)
    manifest.prompt_fingerprint = imported.prompt_fingerprint  # the domains tau2 ran
    finish(manifest, records, imported.records)
    manifest.status = "complete"  # an engine run is all or nothing: it ran; its errors are counted, and gated
    RunStore(folder).write_manifest(manifest)
    return manifest, records
