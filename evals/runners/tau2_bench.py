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

from evals.config import EndpointConfig
from evals.errors import EngineError, UsageError
from evals.records import Manifest, Record, RunStore, sha256_json
from evals.runners.manifests import IMPORTED, finish, new_manifest
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


def _agreed(settings: dict[str, dict[str, Any]], key: str) -> Any:
    """One setting that every domain's results file must share: two arms pair only on one configuration."""
    values = sorted({json.dumps(s[key]) for s in settings.values()})
    if len(values) != 1:
        raise UsageError(f"the results files disagree on {key} ({', '.join(values)}); import the files of one tau2 run")
    return json.loads(values[0])


def tau2_settings(settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """tau2-bench's own settings of a run, as its results files give them (the manifest keeps them beside the options)."""
    keys = ("num_trials", "max_steps", "max_errors", "seed", "agent_temperature")
    return {"engine": ENGINE, "domains": sorted(settings), **{k: _agreed(settings, k) for k in keys}}


def imported_options(settings: dict[str, dict[str, Any]], records: list[Record]) -> Tau2Options:
    """The task options that describe an imported run: what tau2 ran, as `[tasks.tau2]` would say it.

    No `user_model`: results files name the user simulator's model and URL, not an endpoint of
    an evals.toml (`extra.user_simulator` keeps what they name)."""
    tau2 = tau2_settings(settings)
    user_temperature = _agreed({d: {"user temperature": s["user_simulator"].get("temperature")} for d, s in settings.items()}, "user temperature")
    options: dict[str, Any] = {"engine": ENGINE, "domains": tau2["domains"], "trials": tau2["num_trials"],
                               "task_ids": sorted({r.item_id for r in records})}
    for field, value in (("max_steps", tau2["max_steps"]), ("seed", tau2["seed"]), ("temperature", tau2["agent_temperature"]),
                         ("user_temperature", user_temperature)):
        if value is not None:  # tau2 left it to its default: the options' default stands, tau2_settings keeps the null
            options[field] = value
    try:
        return Tau2Options(**options)
    except ValueError as e:
        raise UsageError(f"the results files do not describe one tau2 run: {str(e).splitlines()[0]}") from None


def results_manifest(task: Tau2, records: list[Record], settings: dict[str, dict[str, Any]], endpoint: str, base_url: str | list[str], model: str,
                     agent: dict[str, Any], **extra: Any) -> Manifest:
    """The manifest of tau2-bench results (run here, or imported), through the one manifest builder:
    the task's options, tau2's own settings beside them, the user simulator the files name."""
    manifest = new_manifest(
        task, endpoint, base_url, model, items=len({r.item_id for r in records}), sampling={"temperature": _agreed(settings, "agent_temperature")},
        dataset_fingerprint=sha256_json({d: s["tasks"] for d, s in sorted(settings.items())}),
        engine=ENGINE, user_simulator={d: s["user_simulator"] for d, s in sorted(settings.items())},
        tau2_settings=tau2_settings(settings), tau2_agent_llm=agent.get("llm"), **extra,
    )
    manifest.prompt_fingerprint = sha256_json({"engine": ENGINE, "domains": sorted(settings)})  # the domains tau2 ran
    finish(manifest, records, len(records))
    manifest.status = "complete"  # tau2 ran to its end: its errors are counted, and gated
    return manifest


def _write(folder: Path, manifest: Manifest, records: list[Record]) -> None:
    store = RunStore(folder)
    if store.records_path.exists():
        store.records_path.unlink()  # results replace, they do not append
    store.open()
    for record in records:
        store.append(record)
    store.close()
    store.write_manifest(manifest)


def import_results(paths: Sequence[Path], endpoint: str, folder: Path) -> tuple[Manifest, list[Record]]:
    """`evals import tau2`: results files become `folder/records.jsonl` and `folder/manifest.json`.

    The manifest names the files (`extra.imported_from`): such a run cannot be run again or resumed here (no
    endpoint of ours played the agent or the user), only gated and saved as a baseline."""
    old = RunStore(folder).manifest()
    if old is not None and not old.extra.get(IMPORTED):  # a run made here: not ours to replace
        raise UsageError(f"{folder} holds a run of {old.task} on {old.endpoint} made here, not an import; pass another --out")
    if old is not None and old.extra[IMPORTED] != [str(p) for p in paths]:  # the same files again replace their import; others do not
        raise UsageError(f"{folder} holds an import of {', '.join(map(str, old.extra[IMPORTED]))}; pass another --out")
    records, settings, agent = load_results(paths, endpoint)
    task = Tau2(imported_options(settings, records))
    manifest = results_manifest(task, records, settings, endpoint, agent.get("api_base") or "", agent.get("llm") or "", agent,
                                **{IMPORTED: [str(p) for p in paths]})
    _write(folder, manifest, records)
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
    records, settings, agent = load_results(paths, endpoint)
    # The options as configured, so that a complete run is reused (`engines.run_engine_job`) and a
    # baseline of it can be run again (`task_from_manifest`); tau2's own settings stay beside them.
    # The model and URL as asked (tau2's results name the litellm id, `openai/<model>`).
    manifest = results_manifest(Tau2(options), records, settings, endpoint, config.public_base_url, model, agent)
    _write(folder, manifest, records)
    return manifest, records
