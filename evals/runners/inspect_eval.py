"""inspect_ai as a runner: a task run per arm through inspect against the endpoint, each
sample's scores per epoch imported as records (design §6, `inspect:NAME`).

inspect runs in a subprocess of its own (`python -m evals.runners.inspect_eval SPEC`), one per
arm and task, so that arms run at once and inspect's event loop never meets ours; the key goes
through the environment only, and inspect's own files (traces, sample buffers) go under the run
folder, not the user's home. The subprocess exits when `evals` dies (a kill -9 leaves no
orphan spending the endpoint's time).

Resuming: every eval log is kept in `inspect-logs/` beside the records and named in the
manifest (`extra.inspect_logs`). A rerun first imports what the logs of an interrupted run hold
(inspect writes finished samples to its log as it goes; an unfinished log is read for those, a
torn one is passed over), then runs only the samples that still lack an epoch without error.
A sample rerun for one missing epoch is run for all its epochs (inspect picks samples, not
epochs): the epochs already recorded keep their first record (`records.read_records`), so
nothing is counted twice; a sample no log holds is missing, never scored.

What we do that inspect does not: inspect scores a sample whose solver caught a failed model
call and went on (tau2's agent loop does this); such a sample is an error record here, as is a
sample inspect marks as errored.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evals.client import MalformedResponse, parse_completion
from evals.errors import EngineError, UsageError
from evals.records import RECORDS, Record, RunStore, read_records, sha256_json

ENGINE = "inspect"
LOGS = "inspect-logs"
HOME = "inspect-home"  # inspect's XDG data dir (traces, control sockets, sample buffers) for the subprocess
KEYS = "EVALS_INSPECT_KEY_"  # + role: the API keys, through the environment only
USAGE_EXIT = 2
LINE_LIMIT = 1 << 26  # the subprocess's JSON lines list every sample id: far beyond asyncio's 64 KiB default
# inspect's letter values (inspect_ai.scorer: CORRECT, INCORRECT, PARTIAL, NOANSWER) as scores
LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
BINARY_LETTERS = {"C", "I", "N"}


# ---------------------------------------------------------------- the subprocess


def _die_with_parent() -> None:
    """Exit when the process that started us is gone: inspect must not run on, orphaned."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, daemon=True).start()


def _usage(message: str) -> None:
    print(json.dumps({"usage": message}), flush=True)
    sys.exit(USAGE_EXIT)


def _scorer_names(task: Any) -> list[str]:
    from inspect_ai._util.registry import registry_unqualified_name

    names: list[str] = []
    for s in task.scorer or []:
        base = registry_unqualified_name(s)
        name, n = base, 1
        while name in names:  # inspect's unique_scorer_name
            name, n = f"{base}{n}", n + 1
        names.append(name)
    return names


def _engine_main(spec: dict[str, Any]) -> None:
    """In the subprocess: load the task(s), run the samples asked for, print the logs written."""
    _die_with_parent()
    from inspect_ai import eval as inspect_eval
    from inspect_ai._eval.loader import load_tasks
    from inspect_ai.model import GenerateConfig, get_model

    def model(role: str) -> Any:
        m = spec["models"][role]
        # Bounded retries: without them inspect retries a dead server for ever.
        config = GenerateConfig(max_retries=m["max_retries"], timeout=m["timeout_s"], **m["generate"])
        return get_model(f"openai-api/evals/{m['model']}", base_url=m["base_url"], api_key=os.environ[KEYS + role], config=config)

    tasks = []
    for t in spec["tasks"]:
        try:
            loaded = load_tasks([t["spec"]], t.get("args") or {})
        except Exception as e:  # a task file that does not import, an unknown registry name, bad task args
            _usage(f"inspect could not load {t['spec']}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        if not loaded:
            _usage(f"inspect knows no task {t['spec']} (`evals tasks --inspect-evals` lists inspect_evals' own)")
        if len(loaded) != 1:
            _usage(f"{t['spec']} is {len(loaded)} inspect tasks, not one")
        task = loaded[0]
        names = _scorer_names(task)
        if spec.get("scorer") is not None and spec["scorer"] not in names:
            _usage(f"scorer = {spec['scorer']!r} is not one of the task's scorers ({', '.join(names) or 'none'})")
        if spec.get("scorer") is None and len(names) != 1:
            _usage(f"the task has {'no scorer' if not names else 'several scorers (' + ', '.join(names) + ')'}; name the one that is the score: scorer = \"NAME\"")
        ids = [s.id if s.id is not None else i + 1 for i, s in enumerate(task.dataset)]  # inspect numbers id-less samples from 1
        if spec.get("limit") is not None:
            ids = ids[: spec["limit"]]
        wanted = t.get("sample_ids")
        if wanted is not None:
            ids = [i for i in ids if str(i) in set(wanted)]
        todo = [i for i in ids if str(i) not in set(spec["done"].get(t["key"], []))]
        by_id = {(s.id if s.id is not None else n + 1): s for n, s in enumerate(task.dataset)}
        # the canonical samples actually used: two arms pair only on the same ones
        fingerprint = sha256_json([by_id[i].model_dump(mode="json", include={"id", "input", "target", "choices"}) for i in ids])
        tasks.append((t, task, ids, todo, fingerprint))

    # what will be run, before anything is: the parent's manifest says how many items a run owes
    # even when it is killed before a sample reaches a log
    print(json.dumps({"planned": [{"key": t["key"], "ids": [str(i) for i in ids], "fingerprint": f} for t, _, ids, _, f in tasks]}), flush=True)
    roles = {r: model(r) for r in spec["models"] if r != "model"}
    out: dict[str, Any] = {"tasks": []}
    for t, task, ids, todo, fingerprint in tasks:
        entry: dict[str, Any] = {"key": t["key"], "ids": [str(i) for i in ids], "fingerprint": fingerprint, "logs": []}
        if todo:
            logs = inspect_eval(
                task,
                model=model("model"),
                model_roles=roles or None,
                epochs=spec["epochs"],
                # every id, even when all are asked for: `limit` and `sample_id` exclude each other
                sample_id=[glob.escape(str(i)) for i in todo],
                fail_on_error=False,
                retry_on_error=0,
                log_dir=spec["log_dir"],
                log_realtime=False,
                log_buffer=spec["log_buffer"],
                display="none",
                max_connections=spec["max_connections"],
                message_limit=spec.get("message_limit"),
            )
            entry["logs"] = [log.location for log in logs]
            entry["status"] = [log.status for log in logs]
        out["tasks"].append(entry)
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- logs to records


def score_value(value: Any) -> tuple[float | None, bool]:
    """A Score's value as a score in the record, and whether it is a 0/1 one: C/I are 1/0."""
    if isinstance(value, bool):
        return float(value), True
    if isinstance(value, str) and value in LETTERS:
        return LETTERS[value], value in BINARY_LETTERS
    if isinstance(value, (int, float)):
        return float(value), False
    return None, False


def sample_error(sample: Any) -> str | None:
    """Why a sample's score must not stand: inspect's own sample error, or model calls that
    failed inside the solver loop (a solver that catches them goes on and is scored)."""
    if sample.error is not None:
        return f"inspect sample error: {str(sample.error.message).splitlines()[0][:400] if sample.error.message else 'unknown'}"
    calls = [e for e in sample.events or [] if getattr(e, "event", None) == "model"]
    failed = [e for e in calls if getattr(e, "error", None)]
    if failed:
        first = str(failed[0].error).splitlines()[0][:300]
        return f"inspect: {len(failed)} model call(s) failed inside the solver loop ({getattr(failed[0], 'role', None) or 'model'}): {first}"
    refused = [(e, why) for e in calls if (why := refused_answer(e))]
    if refused:
        return f"inspect: {len(refused)} model call(s) answered with nothing the native client would score ({getattr(refused[0][0], 'role', None) or 'model'}): {refused[0][1]}"
    return None


# inspect's stop reasons for answers the native client would retry and never score (`client.SCORED_FINISH`):
# its openai provider turns every finish_reason it does not know (sglang's and vLLM's `abort`, vLLM's
# `error`, none at all) into "unknown" and raises nothing, so the partial text was scored as the model's
BROKEN_STOP = {"unknown": "a finish_reason inspect does not know (abort, error, or none)", "content_filter": "withheld by a content filter"}


def refused_answer(event: Any) -> str | None:
    """Why a model call's answer is not one the native client would score, or None.

    Where inspect kept the server's raw completion, the native client's own rules decide
    (`client.parse_completion`): a finish_reason it would retry ("unknown" to inspect also covers
    answers that stand, vLLM's `repetition`, TGI's `eos_token`: taking every "unknown" as broken
    failed every sample of such a server, an independent review), and an answer the server lost:
    null content that no reasoning or tool call explains, which inspect turns into "" and goes on
    with (a second review: a tau2 agent whose server never answered ran complete, exit 0, two of
    its trials scored 1.0; a user simulator's the same). Without it, inspect's stop reason."""
    raw = getattr(getattr(event, "call", None), "response", None)
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if isinstance(choices, list):
        kind = "chat" if choices and isinstance(choices[0], dict) and "message" in choices[0] else "completion"
        try:
            parse_completion(kind, "application/json", json.dumps(raw))
        except MalformedResponse as e:
            return str(e)
        return None
    return BROKEN_STOP.get(str(getattr(getattr(event, "output", None), "stop_reason", None)))


# inspect's `ScoreReason`s (inspect_ai/scorer/_metric.py) that charge the model under test with leaving
# no answer to read: an empty completion, or one its scorer could not parse. Not "refusal" (an answer,
# and the model's), nor "grader_failed" / "scoring_failed" (the instrument's failures, not the answer's).
UNREAD_REASONS = {"no_response", "invalid_response_format"}
# What inspect's `pattern()` (and so `answer()`) explains when its pattern finds nothing, in versions
# that set no `reason` (inspect_ai/scorer/_pattern.py: NOANSWER with no answer before #4567, INCORRECT after)
PATTERN_UNMATCHED = "Scoring pattern not matched in output"


# inspect's own scorers whose empty `answer` means none was found: `choice()` with no letter marked,
# `match(numeric=True)` with no number. Other scorers may leave it empty on every answer
# (inspect_evals' gdm_self_proliferation does: an independent review), so theirs says nothing.
EMPTY_ANSWER_SCORERS = {"choice", "match"}


def answer_unread(score: Any, output: Any, scorer: str | None) -> bool:
    """Whether inspect's scorer found no answer it could read in the sample's output (`Record.invalid`).

    By inspect's own word: the completion is empty or whitespace (its `no_response`, which a server's
    reasoning parser filing the answer under reasoning_content leaves); the score's `reason` is one of
    `UNREAD_REASONS` (`choice()`, `pattern()`, `answer()`, `math()` set it); for `choice()` and
    `match()` (`EMPTY_ANSWER_SCORERS`), an `answer` of "" (no letter marked, no number found);
    or `pattern()`'s explanation that nothing matched, for logs from before `reason`. A scorer that
    says none of these (a custom one returning `answer=None`, a model grader) gives no signal, and
    then only an empty completion marks its records.
    """
    if output is not None and not (output.completion or "").strip():
        return True
    if score is None:
        return False
    return (getattr(score, "reason", None) in UNREAD_REASONS or (score.answer == "" and scorer in EMPTY_ANSWER_SCORERS)
            or (score.answer is None and (score.explanation or "").startswith(PATTERN_UNMATCHED)))


def sample_record(sample: Any, task: str, endpoint: str, scorer: str | None, item_id: str | None = None, **details: Any) -> Record:
    """One sample's epoch as a record: its scorer's value, or an error."""
    scores = sample.scores or {}
    error = sample_error(sample)
    name = scorer or (next(iter(scores)) if len(scores) == 1 else None)
    chosen = scores.get(name) if name is not None else None
    value = chosen.value if chosen is not None else None
    score, binary = score_value(value)
    if error is None and chosen is None:
        error = f"inspect: no score from scorer {name}" if name else f"inspect: {len(scores)} scores ({', '.join(scores)}) and no scorer named"
    elif error is None and score is None:
        error = f"inspect: scorer {name} gave {value!r}, not C/I/P/N or a number"
    output = sample.output
    usage = getattr(output, "usage", None)
    return Record(
        task=task,
        item_id=item_id or str(sample.id),
        repeat=int(sample.epoch) - 1,
        endpoint=endpoint,
        request_hash=sha256_json(sample.model_dump(mode="json", include={"id", "input", "target"})),
        response=output.completion if output is not None and output.choices else None,
        extracted=None if chosen is None or chosen.answer is None else str(chosen.answer),
        score=score if error is None and score is not None else 0.0,
        invalid=error is None and answer_unread(chosen, output, name),
        finish_reason=output.stop_reason if output is not None and output.choices else None,
        prompt_tokens=usage.input_tokens if usage is not None else None,
        completion_tokens=usage.output_tokens if usage is not None else None,
        latency_s=round(sample.total_time, 4) if getattr(sample, "total_time", None) is not None else None,
        error=error,
        details={"scorer": name, "value": value if isinstance(value, (str, int, float, bool)) or value is None else str(value),
                 "binary": binary, **details},
    )


def read_log_samples(path: Path) -> tuple[Any, list[Any]] | None:
    """A log's header and its samples; None for a log that cannot be read (torn by a kill)."""
    from inspect_ai.log import read_eval_log

    try:
        log = read_eval_log(str(path))
    except Exception:  # a zip cut short by a kill: its samples are run again
        return None
    return log, list(log.samples or [])


def held_records(folder: Path, manifest: Any) -> list[Record]:
    """What an `inspect:NAME` run's folder holds: its records, and the samples its eval logs hold
    that no record does yet (an interrupted run's, which a rerun imports before it sends anything).

    For the resume line: records are written when inspect ends, so after a kill they alone
    would say that nothing is done."""
    records = {r.key: r for r in read_records(folder / RECORDS)}
    imported = set(manifest.extra.get("inspect_logs") or [])
    logs = folder / LOGS
    for path in sorted(logs.glob("*.eval")) if logs.is_dir() else []:
        if str(path.relative_to(folder)) in imported:
            continue
        read = read_log_samples(path)
        for sample in read[1] if read is not None else []:
            record = sample_record(sample, manifest.task, manifest.endpoint, manifest.task_config.get("scorer"))
            kept = records.get(record.key)
            if kept is None or (kept.error is not None and record.error is None):
                records[record.key] = record
    return list(records.values())


# ---------------------------------------------------------------- the parent side


async def run_inspect(
    folder: Path,
    endpoint: str,
    keys: dict[str, str],
    models: dict[str, dict[str, Any]],
    tasks: list[dict[str, Any]],
    epochs: int,
    to_record: Callable[[Any, str], Record],
    *,
    scorer: str | None = None,
    limit: int | None = None,
    message_limit: int | None = None,
    max_connections: int = 16,
    imported: Iterable[str] = (),
    planned: Callable[[dict[str, tuple[list[str], str]]], None] | None = None,
) -> tuple[list[Record], dict[str, tuple[list[str], str]], list[str]]:
    """Run what is still missing of `tasks` (each {"key", "spec", "args"}) through inspect.

    Returns the records held (read back), per task key its sample ids and the fingerprint of
    its samples, and the log files (relative to `folder`) whose samples the records hold. `to_record(sample, key)`
    turns one sample's epoch into a record. `planned` is given the sample ids and fingerprint
    per task key as soon as inspect has loaded the tasks, before any sample runs."""
    store = RunStore(folder)
    folder.mkdir(parents=True, exist_ok=True)
    logs_dir = folder / LOGS
    imported_logs = set(imported)

    # 1. what earlier logs (an interrupted run's) hold and the records do not yet; an error record
    # is not held (a tau2 agent error, the model's own failure, is: `Record.counts`): a rerun sends
    # its sample again, and the answer in the new log must be kept
    have = {r.key for r in read_records(store.records_path) if r.counts}
    salvage: list[Record] = []
    for path in sorted(logs_dir.glob("*.eval")) if logs_dir.is_dir() else []:
        rel = str(path.relative_to(folder))
        read = read_log_samples(path)
        if read is None:
            continue
        log, samples = read
        key = _task_key(log, tasks)
        if key is None:
            continue
        if rel in imported_logs:
            continue
        salvage += _unheld([to_record(sample, key) for sample in samples], have)
        imported_logs.add(rel)
    _append(store, salvage)

    # 2. run the samples that lack an epoch without error
    records = read_records(store.records_path)
    done_epochs: dict[str, int] = {}
    for r in records:
        if r.counts:
            done_epochs[r.item_id] = done_epochs.get(r.item_id, 0) + 1
    spec = {
        "tasks": tasks,
        "models": models,
        "epochs": epochs,
        "scorer": scorer,
        "limit": limit,
        "message_limit": message_limit,
        "max_connections": max_connections,
        "log_dir": str(logs_dir.resolve()),
        "log_buffer": 1,  # a finished sample reaches the log at once: a kill loses only what is in flight
        # the sample ids of each task (as records name them) whose epochs are all recorded
        "done": {t["key"]: sorted({_sample_of(i, t["key"]) for i, n in done_epochs.items() if n >= epochs and _belongs(i, t["key"], len(tasks))}) for t in tasks},
    }
    home = folder.resolve() / HOME
    env = {**os.environ, **{KEYS + role: key for role, key in keys.items()}, "XDG_DATA_HOME": str(home)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evals.runners.inspect_eval", json.dumps(spec), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        limit=LINE_LIMIT,
    )
    try:
        result, err = await _read_engine(proc, planned)
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode == USAGE_EXIT and "usage" in result:
        raise UsageError(f"task {tasks[0]['name']}: {result['usage']}")
    if proc.returncode != 0 or "tasks" not in result:
        tail = " ".join(err.decode(errors="replace").strip().splitlines()[-2:])
        raise EngineError(f"inspect on endpoint {endpoint} failed (exit {proc.returncode}): {tail}")

    # 3. the new logs' samples
    ids: dict[str, tuple[list[str], str]] = {}
    fresh: list[Record] = []
    for entry in result["tasks"]:
        ids[entry["key"]] = (entry["ids"], entry["fingerprint"])
        for location, status in zip(entry["logs"], entry.get("status", [])):
            path = Path(location.removeprefix("file://"))
            read = read_log_samples(path)
            if read is None:
                raise EngineError(f"inspect on endpoint {endpoint}: cannot read its eval log {path}")
            log, samples = read
            if status != "success" and log.error is not None and not samples:  # cancelled or failed before any sample: not a result
                raise EngineError(f"inspect on endpoint {endpoint}: the eval log {path} is {status!r}: {str(log.error.message).splitlines()[0]}")
            fresh += _unheld([to_record(sample, entry["key"]) for sample in samples], have)
            imported_logs.add(str(path.resolve().relative_to(folder.resolve())))
    _append(store, fresh)
    return read_records(store.records_path), ids, sorted(imported_logs)


def _unheld(records: list[Record], have: set[tuple[str, int]]) -> list[Record]:
    """The records whose (item, repeat) has no answer yet (`Record.counts`); `have` takes the answered ones.
    An error may be appended beside an earlier error (`read_records` keeps one), never beside an answer."""
    out = [r for r in records if r.key not in have]
    have.update(r.key for r in out if r.counts)
    return out


async def _read_engine(proc: asyncio.subprocess.Process, planned: Callable[[dict[str, tuple[list[str], str]]], None] | None) -> tuple[dict[str, Any], bytes]:
    """The subprocess's last JSON line (its result) and its stderr; its plan goes to `planned` as it comes."""
    assert proc.stdout is not None and proc.stderr is not None
    err = asyncio.ensure_future(proc.stderr.read())  # read beside stdout: a full stderr pipe must not stall inspect
    result: dict[str, Any] = {}
    async for line in proc.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            continue  # anything else a library printed
        if isinstance(message, dict) and "planned" in message:
            if planned is not None:
                planned({t["key"]: (t["ids"], t["fingerprint"]) for t in message["planned"]})
        elif isinstance(message, dict):
            result = message
    await proc.wait()
    return result, await err


def _belongs(item_id: str, key: str, n_tasks: int) -> bool:
    return n_tasks == 1 or item_id.startswith(f"{key}/")


def _sample_of(item_id: str, key: str) -> str:
    """The inspect sample id of a record's item: tasks run together prefix their items by key."""
    return item_id.removeprefix(f"{key}/")


def _task_key(log: Any, tasks: list[dict[str, Any]]) -> str | None:
    """Which of `tasks` an eval log is of: its registry name or task file's function."""
    name = log.eval.task.rsplit("/", 1)[-1]
    for t in tasks:
        if t["spec"].rsplit("@", 1)[-1].rsplit("/", 1)[-1] == name:
            return str(t["key"])
    return None


def _append(store: RunStore, records: list[Record]) -> None:
    if not records:
        return
    store.open()
    try:
        for record in records:
            store.append(record)
    finally:
        store.close()


def endpoint_model(endpoint_config: Any, model: str, generate: dict[str, Any]) -> dict[str, Any]:
    """How the subprocess reaches one endpoint: inspect's openai-api provider on its first URL."""
    return {"model": model, "base_url": endpoint_config.urls[0], "max_retries": endpoint_config.max_retries,
            "timeout_s": endpoint_config.request_timeout(None), "generate": generate}


async def run_inspect_job(job: Any, config: Any) -> Any:
    """`inspect:NAME` on one endpoint: the records of every (sample, epoch) and the manifest, resumable."""
    from evals.runners.manifests import finish, new_manifest
    from evals.runners.native import _check_resumable

    task, endpoint = job.task, job.endpoint
    model = await endpoint.resolve_model()
    store = RunStore(job.folder)
    job.folder.mkdir(parents=True, exist_ok=True)
    generate = {**task.options.generate, **endpoint.config.sampling.overrides()}
    if endpoint.config.extra_body:
        generate["extra_body"] = endpoint.config.extra_body
    old = store.manifest()
    manifest = new_manifest(task, endpoint.name, endpoint.config.public_base_url, model, items=old.items if old else 0,
                            dataset_fingerprint=old.dataset_fingerprint if old else "", sampling=generate)
    imported: list[str] = []
    if old is not None:
        _check_resumable(old, manifest, job.folder)
        manifest.started_at = old.started_at
        imported = list(old.extra.get("inspect_logs", []))
    manifest.extra["inspect_logs"] = imported
    store.write_manifest(manifest)  # "running": an interrupted run is found and resumed
    started = time.perf_counter()
    key = "task"

    def planned(ids: dict[str, tuple[list[str], str]]) -> None:
        """The items owed, in the manifest before any sample runs (what a resume line counts against)."""
        manifest.items = len(ids[key][0])
        if not manifest.dataset_fingerprint:  # another fingerprint than the old run's is refused after the run, not overwritten
            manifest.dataset_fingerprint = ids[key][1]
        store.write_manifest(manifest)

    records, ids, logs = await run_inspect(
        job.folder,
        endpoint.name,
        {"model": endpoint.config.api_key(endpoint.name)},
        {"model": endpoint_model(endpoint.config, model, generate)},
        [{"key": key, "name": task.name, "spec": task.inspect_spec, "args": task.options.task_args}],
        task.options.epochs,
        lambda sample, _: sample_record(sample, task.name, endpoint.name, task.options.scorer),
        scorer=task.options.scorer,
        limit=task.options.limit,
        message_limit=task.options.message_limit,
        max_connections=endpoint.config.max_concurrency,
        imported=imported,
        planned=planned,
    )
    job.wall_s = time.perf_counter() - started
    sample_ids, fingerprint = ids[key]
    if old is not None and old.dataset_fingerprint and old.dataset_fingerprint != fingerprint:
        raise UsageError(f"{job.folder} holds a run of other samples of {task.name} (a different dataset fingerprint); pass another --out to start afresh")
    wanted = {(i, r) for i in sample_ids for r in task.repeats()}
    job.records = [r for r in records if r.key in wanted]
    manifest.items, manifest.dataset_fingerprint = len(sample_ids), fingerprint
    counted = [r for r in job.records if r.error is None]
    manifest.extra.update(
        inspect_logs=logs,
        scorer=task.options.scorer or next((r.details.get("scorer") for r in counted), None),
        binary_scores=bool(counted) and all(r.details.get("binary") for r in counted),
        wall_s=round(job.wall_s, 3),
    )
    job.manifest = finish(manifest, job.records, len(wanted))
    store.write_manifest(job.manifest)
    return job


if __name__ == "__main__":
    _engine_main(json.loads(sys.argv[1]))
