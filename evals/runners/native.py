"""The native runner: our adapters' requests to an endpoint, records to disk, resumable.

All (endpoint, task) jobs given to `run_jobs` are in flight at once; each endpoint's
semaphore bounds its own concurrency. A failure of one request becomes a record with
`error` set, never an exception that stops the run and never a silent wrong answer.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.client import EndpointDown
from evals.errors import UsageError
from evals.records import RECORDS, Manifest, Record, RunStore, read_records, sha256_json
from evals.runners.looks import Looks
from evals.runners.manifests import finish, new_manifest
from evals.tasks.base import Item, Response, Scored, Task

if TYPE_CHECKING:
    from evals.client import Endpoint


class ProgressBoard:
    """One bar per (endpoint, task) on stderr when it is a terminal; otherwise (CI logs, nohup)
    a plain status line per bar every `every_s` seconds (`EVALS_PROGRESS_EVERY_S`, default 30),
    on a timer, so that a run waiting on a hung endpoint still shows life. With 0, a line at
    each finished record instead."""

    def __init__(self, every_s: float | None = None) -> None:
        # rich is imported here, not at the top: a command with nothing to send never needs it
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task) -> Text:  # type: ignore[no-untyped-def]
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} req/s" if speed else "- req/s")

        self.enabled = sys.stderr.isatty()
        self.every_s = every_s if every_s is not None else float(os.environ.get("EVALS_PROGRESS_EVERY_S", "30"))
        self._ticker: asyncio.Task[None] | None = None
        self._noted: set[str] = set()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]} errors"),
            RateColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not self.enabled,
        )

    async def __aenter__(self) -> ProgressBoard:
        self._progress.__enter__()
        if not self.enabled and self.every_s > 0:
            self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.print_status()

    def print_status(self) -> None:
        for t in self._progress.tasks:
            speed = f"{t.speed:.1f} req/s" if t.speed else "- req/s"
            print(f"{t.description}: {t.completed:.0f}/{t.total:.0f} done, {t.fields['errors']} errors, {speed}", file=sys.stderr, flush=True)

    def note_once(self, key: str, message: str) -> None:
        """A line on stderr the first time `key` is noted (an endpoint declared down, say)."""
        if key not in self._noted:
            self._noted.add(key)
            self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def add(self, description: str, total: int, completed: int) -> int:
        return self._progress.add_task(description, total=total, completed=completed, errors=0)

    def advance(self, bar: int, error: bool) -> None:
        task = self._progress.tasks[self._progress.task_ids.index(bar)]  # type: ignore[arg-type]
        self._progress.update(bar, advance=1, errors=task.fields["errors"] + int(error))  # type: ignore[arg-type]
        if not self.enabled and self.every_s <= 0:
            self.print_status()


class _Silent:
    """The board of a run with nothing to send and no terminal: nothing to show."""

    async def __aenter__(self) -> _Silent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def add(self, description: str, total: int, completed: int) -> int:
        return 0


@dataclass
class Job:
    endpoint: Endpoint
    task: Any  # a native Task, or an engine-run task such as Tau2
    folder: Path
    # Not in the repr: Python 3.11's asyncio.run reprs its main task (and so the jobs it returns)
    # when it restores the SIGINT handler, which cost a second per 10,000 records.
    items: list[Item] = field(default_factory=list, repr=False)
    records: list[Record] = field(default_factory=list, repr=False)
    manifest: Manifest | None = None
    wall_s: float = 0.0
    sent: int = 0
    looks: Looks | None = None  # a sequentially gated task: shared with the other arm
    plan: SequentialPlan | None = None
    design: dict[str, Any] | None = None  # the plan made for these items, as the manifest records it
    # errors of an earlier run that this one sends again: until answered here they are not this run's,
    # and a look must not stop the run on them (`standing_for_looks`), or a rerun would never retry them
    retrying: set[tuple[str, int]] = field(default_factory=set, repr=False)


@dataclass(frozen=True)
class SequentialPlan:
    """`[gate] sequential`: what fixes a sequential design once the items are known."""

    looks: int
    alpha: float
    futility: float
    seed: int


def _sampling(params: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """Everything that shapes the request besides the prompt; `extra_body` only when set, so that
    runs without one keep the manifests they had."""
    sampling = {**params, **endpoint.config.sampling.overrides()}
    if endpoint.config.extra_body:
        sampling["extra_body"] = endpoint.config.extra_body
    return sampling


def _manifest(job: Job, model: str) -> Manifest:
    task, endpoint = job.task, job.endpoint
    repeats = task.repeats()
    sample = task.build_request(job.items[0], repeats[0]) if job.items else None
    return new_manifest(task, endpoint.name, endpoint.config.public_base_url, model, items=len(job.items),
                        dataset_fingerprint=sha256_json([i.model_dump() for i in job.items]), sampling=_sampling(sample.params if sample else {}, endpoint))


def _check_resumable(old: Manifest, new: Manifest, folder: Path) -> None:
    if old.extra.get("sequential") != new.extra.get("sequential"):
        raise UsageError(f"{folder} holds a run with a different sequential design (--sequential, looks, futility or seed); pass another --out to start afresh")
    refuse_other_run(folder, old, {**new.comparable_fields(), "model": new.model, "sampling": new.sampling})


def refuse_other_run(folder: Path, old: Manifest, fields: dict[str, Any]) -> None:
    """A one-line UsageError naming the first of `fields` (a manifest's, by name) in which the folder's run differs:
    a rerun resumes only the same run, and never replaces another."""
    for name, value in fields.items():
        before = getattr(old, name)
        if before != value:
            keys = sorted(k for k in before.keys() | value.keys() if before.get(k) != value.get(k)) if isinstance(value, dict) and isinstance(before, dict) else []
            what = f"{name} ({', '.join(keys)})" if keys else name
            raise UsageError(f"{folder} holds a run with a different {what}; pass another --out to start afresh")


def to_send(job: Job) -> list[tuple[Item, int]]:
    """Load the items (in a sequential design's order) and the records already in the folder; what is still to send.

    The records are kept on the job: when nothing new is appended (a rerun of a finished run)
    they are the run's records, and the file is not read a second time."""
    job.items = job.task.load_items()
    if not job.items:
        raise UsageError(f"task {job.task.name}: no items to evaluate")
    repeats = job.task.repeats()
    if job.plan is not None:  # a sequential design: the seeded order, recorded, and the looks when gated live
        from evals.sequential import Design, look_sizes, order

        ordered = order([i.item_id for i in job.items], job.plan.seed)
        design = Design(tuple(look_sizes(len(ordered), job.plan.looks)), job.plan.alpha, job.plan.futility, job.plan.seed)
        job.design = design.to_manifest(ordered)
        if job.looks is not None:
            job.looks.register(job.endpoint.name, ordered, design.sizes, len(repeats))
        rank = {item: i for i, item in enumerate(ordered)}
        job.items.sort(key=lambda i: rank[i.item_id])
    job.records = RunStore(job.folder).existing()
    done = {r.key for r in job.records if r.error is None}
    job.retrying = {r.key for r in job.records if r.error is not None} - done
    pending = [(item, rep) for item in job.items for rep in repeats if (item.item_id, rep) not in done]
    # never-tried items before an earlier run's errors (within a look: a look waits for its own
    # items): prompts that failed on their own, sent first, made the breaker's count before any answer
    look = _look_of(job)
    return sorted(pending, key=lambda x: (look(x[0].item_id), (x[0].item_id, x[1]) in job.retrying))


def _look_of(job: Job) -> Callable[[str], int]:
    """The look (0-based) an item belongs to in the job's sequential design; 0 for every item without one."""
    if job.design is None:
        return lambda item_id: 0
    rank = {item: i for i, item in enumerate(job.design["order"])}
    ends = list(job.design["looks"])
    return lambda item_id: bisect.bisect_right(ends, rank[item_id])


def _remember_an_answer(job: Job) -> None:
    """A request an earlier run of the folder had answered, for the breaker to ask again before it
    declares the endpoint down (`Endpoint.remember`): a rerun may meet nothing but failing prompts first."""
    answered = next((r for r in reversed(job.records) if r.error is None), None)
    item = next((i for i in job.items if answered is not None and i.item_id == answered.item_id), None)
    if answered is not None and item is not None:
        job.endpoint.remember(job.task.build_request(item, answered.repeat), job.endpoint.config.sampling.overrides(), answered.latency_s)


def standing_for_looks(job: Job) -> list[Record]:
    """The job's records as its looks are judged while it runs: an earlier run's error that this run
    is sending again is left out (a missing answer, which never stops a run) until it is answered."""
    return [r for r in read_records(job.folder / RECORDS) if r.error is None or r.key not in job.retrying]


def prepare(job: Job) -> None:
    """The job's manifest, checked against the one in its folder: a rerun resumes only the same run.

    Its model is the one the endpoint serves (`resolve_model`, asked when anything is to be sent
    to it) or, with nothing to send, the one the folder's run was made with: a rerun of a
    finished run does not ask the endpoint anything. A model named in the config is checked
    against the folder's either way."""
    old = RunStore(job.folder).manifest()
    manifest = _manifest(job, job.endpoint.model or (old.model if old is not None else ""))
    if job.design is not None:
        manifest.extra["sequential"] = job.design
    if old is not None:
        _check_resumable(old, manifest, job.folder)
        manifest.started_at = old.started_at
    job.manifest = manifest


class ScoringFailed(Exception):
    """The task could not score an answer: one error record, not the end of both arms' runs."""


def _score(task: Task, item: Item, repeat: int, response: Response) -> Scored:
    """The task's score, or ScoringFailed: whatever the task's code raises, `sys.exit` too (lm-eval's own
    task utilities call it; an independent review: uncaught, it became the process's exit code, 1 or 0,
    with no verdict and both runs left running)."""
    try:
        return task.score(item, repeat, response)
    except (Exception, SystemExit) as e:
        raise ScoringFailed(f"the task could not score the answer: {type(e).__name__}: {e}") from e


async def _run_one(job: Job, store: RunStore, pending: list[tuple[Item, int]], board: ProgressBoard | _Silent) -> None:
    task, endpoint = job.task, job.endpoint
    overrides = endpoint.config.sampling.overrides()
    total = len(job.items) * len(task.repeats())
    bar = board.add(f"{endpoint.name}/{task.name}", total=total, completed=total - len(pending))

    async def one(item: Item, repeat: int) -> None:
        request = task.build_request(item, repeat)
        base = {"task": task.name, "item_id": item.item_id, "repeat": repeat, "endpoint": endpoint.name, "request_hash": request.fingerprint()}
        try:
            response, latency = await endpoint.send(request, overrides)
            scored = _score(task, item, repeat, response)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # after the client's retries: record it, never guess an answer
            message = str(e).splitlines()[0] if str(e) else ""
            kept = endpoint.redact(response.text) if isinstance(e, ScoringFailed) else None  # the answer the scorer could not take, to look at
            record = Record(**base, response=kept, error=endpoint.redact(f"{type(e).__name__}: {message}")[:500], details=task.item_details(item))
            if isinstance(e, EndpointDown):
                if job.looks is None:
                    board.note_once(endpoint.name, f"{endpoint.redact(message)}; its remaining requests are recorded as errors")
                else:
                    board.note_once(endpoint.name, f"{endpoint.redact(message)}; its requests in this look are recorded as errors, and no later look is started")
                    job.looks.abandon()
        else:
            record = Record(
                **base,
                response=endpoint.redact(response.text),
                reasoning=endpoint.redact(response.reasoning) if response.reasoning else response.reasoning,
                extracted=scored.extracted,
                score=scored.score,
                invalid=scored.invalid,
                finish_reason=response.finish_reason,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                latency_s=round(latency, 4),
                details=scored.details,
            )
        store.append(record)
        board.advance(bar, record.error is not None)
        job.retrying.discard(record.key)
        if job.looks is not None:
            job.looks.recorded(endpoint.name, record.key)

    queue = iter(pending)

    async def worker() -> None:
        # a shared iterator: each worker takes the next (item, repeat), so the run holds as many
        # coroutines as the endpoint serves at once, not one per request
        for item, repeat in queue:
            if job.looks is not None and not await job.looks.admit(item.item_id):
                return
            await one(item, repeat)
            job.sent += 1

    await asyncio.gather(*(worker() for _ in range(min(endpoint.config.max_concurrency, len(pending)))))


async def _when_answered(jobs: list[Job], callback: Callable[[], None]) -> None:
    """Call `callback` once the first request of this run has been answered (or has failed):
    the clients and the progress board are up by then, their imports done."""
    while not any(j.sent for j in jobs):
        await asyncio.sleep(0.05)
    callback()


async def run_jobs(jobs: list[Job], answered: Callable[[], None] | None = None) -> list[Job]:
    """Run every job at once; afterwards each job holds its effective records and manifest.

    `answered` is called once the first request is answered (`evals compare` then readies the
    gate and the report in a thread, `evals.preload`); not at all when nothing is sent."""
    pendings = [to_send(job) for job in jobs]
    # an endpoint is asked whether it answers, and which model it serves, only when there is
    # something to send it: a rerun of a finished run reads its folder and needs no server
    sending = {id(j.endpoint): j.endpoint for j, p in zip(jobs, pendings) if p}
    await asyncio.gather(*(e.resolve_model() for e in sending.values()))
    for job in jobs:
        prepare(job)
    # a task that needs more of an endpoint than completions (prompt logprobs) probes it once, before any request
    await asyncio.gather(*(j.task.preflight(j.endpoint) for j, p in zip(jobs, pendings) if p and hasattr(j.task, "preflight")))
    stores = [RunStore(job.folder) for job in jobs]
    for looks in {id(j.looks): j.looks for j in jobs if j.looks is not None}.values():
        looks.start({j.endpoint.name: [r.key for r in j.records if r.error is None] for j in jobs if j.looks is looks})
    for job, pending in zip(jobs, pendings):
        if pending:
            _remember_an_answer(job)
            job.records = []  # read again at the end with what this run appends; not held meanwhile
    for job, store in zip(jobs, stores):
        assert job.manifest is not None
        store.open()
        store.write_manifest(job.manifest)
    try:
        # nothing to send and no terminal to draw bars on: the board would show nothing, and rich is not imported
        async with ProgressBoard() if any(pendings) or sys.stderr.isatty() else _Silent() as board:

            async def timed(job: Job, store: RunStore, pending: list[tuple[Item, int]]) -> None:
                t0 = time.perf_counter()
                await _run_one(job, store, pending, board)
                job.wall_s = time.perf_counter() - t0

            watcher = asyncio.create_task(_when_answered(jobs, answered)) if answered is not None and any(pendings) else None
            try:
                await asyncio.gather(*(timed(j, s, p) for j, s, p in zip(jobs, stores, pendings)))
            finally:
                if watcher is not None:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
    finally:
        for store in stores:
            store.close()
    for job, store, pending in zip(jobs, stores, pendings):
        wanted = {(i.item_id, r) for i in job.items for r in job.task.repeats()}
        job.records = [r for r in (store.existing() if pending else job.records) if r.key in wanted]
        assert job.manifest is not None
        finish(job.manifest, job.records, len(wanted))
        if job.looks is not None and job.looks.stopped and job.manifest.status == "incomplete" and not any(r.error is not None and job.looks.decided_by(r.item_id) for r in job.records):
            # a look decided, no error in it: what was not sent was not needed, and an earlier run's error in a later look never will be
            job.manifest.status = "stopped"
        job.manifest.extra["wall_s"] = round(job.wall_s, 3)
        store.write_manifest(job.manifest)
    return jobs
