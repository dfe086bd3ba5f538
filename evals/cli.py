"""The `evals` command (design §11). The CLI owns printing and exit codes; nothing below it prints.

Exit codes keep their meaning for a pipeline: 0/1/3 only ever come from a verdict, 2 from
usage and configuration (bad input, including a corrupt manifest or a folder another process
is writing), and anything else — an output that cannot be written, an unexpected exception —
is 4 with one line on stderr naming what failed (the traceback with `--debug` or EVALS_DEBUG=1).
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.errors import EngineError, OutputError, UsageError, check_name

if TYPE_CHECKING:  # the commands import what they use: `evals --help` must not load scipy or an HTTP client
    from evals.config import Config
    from evals.gate import TaskVerdict
    from evals.preload import Preload
    from evals.records import Manifest, Record, Run
    from evals.runners import Job

MANIFEST = "manifest.json"  # evals.records.MANIFEST, without importing pydantic to spell it

OUTPUTS = Path("outputs")
FINISHED = ("complete", "stopped")  # "stopped": a sequential look decided the task
COMPARE_JSON = "compare.json"
GATE_JSON = "gate.json"
REPORT_HTML = "report.html"  # evals.html.REPORT_HTML, named here so that no command pays for importing the page's code
EXIT_OK, EXIT_USAGE, EXIT_ERROR = 0, 2, 4


def _task_names(value: str | None) -> list[str]:
    """Simple names, or `PREFIX:NAME` (an lm-eval task or YAML path), whose records go in `task_folder(name)`."""
    from evals.tasks import is_known

    names = [t.strip() for t in (value or "gsm8k").split(",") if t.strip()]
    return [t if ":" in t and is_known(t) else check_name(t, "task name") for t in names]


class _State:
    """What the handlers in `main` need to tell the user how to resume: the command line and its folder."""

    argv: list[str] = []
    out: Path | None = None


def _load(args: argparse.Namespace) -> Config:
    from evals.config import load_config

    config = load_config(Path(args.config) if args.config else None)
    for name in config.endpoints:
        check_name(name, f"{config.source}: endpoint name")
    if config.tasks or config.gate.margins:  # else nothing to check, and `report`/`gate` need not import the adapters
        from evals.tasks import validate_tasks

        validate_tasks(config)
    return config


def _endpoint_name(config: Config, name: str) -> str:
    """The folder name an endpoint's records go under (a URL's is made from its host and port)."""
    return check_name(config.endpoint(name)[0], "endpoint name")


def _pair(config: Config, reference: str, candidate: str, same_server_ok: bool = False) -> list[str]:
    """The two endpoints' folder names, refused (before any folder or request) when they are one
    endpoint, or two names for the same requests to the same server (`--same-server` allows that: an
    A/A run). Two URLs whose names collide get a suffix from a hash of each URL."""
    from evals.config import canonical_url, public_url, same_server

    names = [_endpoint_name(config, reference), _endpoint_name(config, candidate)]
    (_, ref), (_, cand) = config.endpoint(reference), config.endpoint(candidate)
    if names[0] == names[1] and reference not in config.endpoints and candidate not in config.endpoints and canonical_url(reference) != canonical_url(candidate):
        names = [check_name(f"{name}-{hashlib.sha256(public_url(url).encode()).hexdigest()[:6]}", "endpoint name") for name, url in zip(names, (reference, candidate))]
    if names[0] == names[1]:
        raise UsageError(f"reference and candidate are the same endpoint ({names[0]})")
    for name, given, endpoint in zip(names, (reference, candidate), (ref, cand)):
        if given not in config.endpoints:  # a URL: known by its name from here on (the runners, the folders)
            config.endpoints[name] = endpoint
    if same_server(ref, cand) and not same_server_ok:
        raise UsageError(f"reference {names[0]} and candidate {names[1]} send the same requests to the same server "
                         f"({', '.join(public_url(u) for u in ref.urls)}, model {ref.model or 'as listed'}): "
                         "a server compared with itself says nothing of a quantization (--same-server if you mean it)")
    return names


def new_run_folder(prefix: str = "") -> Path:
    """A fresh folder under outputs/, named by the time; never one that already exists."""
    stamp = prefix + datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = OUTPUTS / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise UsageError(f"{OUTPUTS}: could not make a new run folder {stamp}-N; pass --out")


def _same_kind(run: Path, pair: tuple[str, str] | None) -> bool:
    """A `run` folder has no compare.json; a `compare` (or gate) folder's names this reference and candidate."""
    path = run / COMPARE_JSON
    if pair is None or not path.exists():
        return pair is None and not path.exists()
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and (found.get("reference"), found.get("candidate")) == pair


def newest_unfinished(endpoints: list[str], tasks: list[str], pair: tuple[str, str] | None = None) -> Path | None:
    """The newest folder under outputs/ of the same kind (run, or this comparison), holding these
    endpoints and tasks, not all complete.

    Folders whose manifests cannot be read are passed over: a corrupt run elsewhere must not
    stop this one.
    """
    from evals.records import read_manifest, task_folder

    if not OUTPUTS.is_dir():
        return None
    for run in sorted((p for p in OUTPUTS.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True):
        if not _same_kind(run, pair):
            continue
        try:
            manifests = [read_manifest(run / e / task_folder(t)) for e in endpoints for t in tasks]
        except UsageError:
            continue
        if all(m is not None for m in manifests) and any(m.status not in FINISHED for m in manifests if m):
            return run
    return None


def choose_out(args: argparse.Namespace, endpoints: list[str], tasks: list[str], prefix: str = "", pair: tuple[str, str] | None = None) -> Path:
    """`--out DIR` (new, or resumed when it holds this configuration), `--resume`, or a new folder."""
    if getattr(args, "resume", False):
        if args.out:
            raise UsageError("--resume and --out: give one (--out DIR resumes DIR)")
        found = newest_unfinished(endpoints, tasks, pair)
        if found is None:
            raise UsageError(f"--resume: no unfinished run of {', '.join(endpoints)} on {', '.join(tasks)} under {OUTPUTS}/; run without --resume to start one")
        out = found
    else:
        out = given_out(args.out) if args.out else new_run_folder(prefix)
    _State.out = out
    return out


def given_out(value: str) -> Path:
    """`--out DIR`: a new or empty folder, or one an evals command made (its `.lock`, a run's
    manifests, a comparison's compare.json). Anything else is refused before a byte is written: the
    top-level files a comparison writes (report.html, gate.json) would replace the user's own."""
    from evals.records import LOCK

    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a folder")
    if not out.is_dir() or all(p.name.startswith(".") and p.name != LOCK for p in out.iterdir()):  # empty, or .gitkeep, .DS_Store
        return out
    if (out / "baseline.json").exists() or any(out.glob("*/baseline.json")):  # evals.baseline.BASELINE_JSON, without loading the gate
        raise UsageError(f"--out {out}: a baseline, or a folder of baselines (`evals baseline save` writes them); pass a new or empty folder")
    if (out / LOCK).exists() or (out / COMPARE_JSON).exists() or any(out.glob(f"*/*/{MANIFEST}")):
        return out
    raise UsageError(f"--out {out}: not a run folder (none of its files is an evals run's own: ENDPOINT/TASK/manifest.json, "
                     f"compare.json, .lock), and a run would write beside them; pass a new or empty folder")


def announce_resume(out: Path, endpoints: list[str], tasks: list[str]) -> None:
    """Say so on stderr when a folder already holds part of this run: no silent resumes (and
    refuse, before anything is sent, a folder whose run cannot be resumed here: an import)."""
    from evals.records import read_manifest, read_records, task_folder
    from evals.runners.manifests import why_not_rerun

    for e in endpoints:
        for t in tasks:
            folder = out / e / task_folder(t)
            manifest = read_manifest(folder)
            if manifest is None:
                continue
            refused = why_not_rerun(manifest)
            if refused:
                raise UsageError(f"{folder}: {refused}; pass another --out")
            if t.startswith("inspect:"):  # its records are written when inspect ends: count what its logs hold too
                from evals.runners.inspect_eval import held_records

                held = held_records(folder, manifest)
            else:
                held = read_records(folder / "records.jsonl")
            done = sum(r.error is None for r in held)
            total = manifest.items * len(manifest.repeats)
            print(f"resuming {out} ({e}/{t}): {min(done, total):,} of {total:,} done, started {manifest.started_at}", file=sys.stderr)


def resume_command(out: Path) -> str:
    """The command line that was run, with `--out` set to its folder: running it again resumes."""
    argv, kept, skip = _State.argv, [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--out":
            skip = True
        elif token == "--resume" or token.startswith("--out="):
            continue
        else:
            kept.append(token)
    return shlex.join(["evals", *kept, "--out", str(out)])


@contextmanager
def writing(out: Path) -> Iterator[None]:
    """Hold the run folder's lock while writing into it: a second writer is refused, not interleaved."""
    from evals.records import FolderLock

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the output folder --out {out}: {e.strerror}") from None
    with FolderLock(out):
        yield


def _sequential(args: argparse.Namespace, config: Config) -> None:
    """`--sequential` / `--looks K` over `[gate] sequential` / `looks`."""
    if args.sequential or args.looks is not None:
        if args.looks is not None and args.looks > 20:
            raise UsageError(f"--looks {args.looks}: at most 20 (each look spends some of α)")
        config.gate.sequential = True
        config.gate.looks = args.looks if args.looks is not None else config.gate.looks


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from evals.report import domain_table, run_table, summarise
    from evals.runners import run_endpoints

    config = _load(args)
    name = _endpoint_name(config, args.endpoint)
    tasks = _task_names(args.tasks)
    overrides = {"limit": args.limit} if args.limit else {}
    _sequential(args, config)
    out = choose_out(args, [name], tasks)
    with writing(out):
        announce_resume(out, [name], tasks)
        jobs = asyncio.run(run_endpoints(config, [args.endpoint], tasks, out, overrides))
    summaries = [summarise(j.manifest, j.records, j.wall_s) for j in jobs if j.manifest]
    print(run_table(summaries))
    for job in jobs:
        if job.manifest and any("group" in r.details for r in job.records):
            print("\n" + domain_table(job.records, len(job.manifest.repeats)))
    print(f"\nrecords in {out}")
    errors = sum(s.errors for s in summaries)
    if errors:
        print(f"{errors} requests failed after retries; to retry only them: {resume_command(out)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_tasks(args: argparse.Namespace) -> int:
    from evals.tasks import registry
    from evals.tasks.inspect_task import inspect_evals_tasks

    if args.inspect_evals:
        names = inspect_evals_tasks()
        if names is None:
            raise UsageError("inspect_evals is not installed: pip install 'quant-evals[inspect]'")
        print("\n".join(f"inspect:inspect_evals/{n}" for n in names))
        return EXIT_OK
    for name, cls in sorted(registry().items()):
        print(f"{name:<16} v{cls.version:<4} {cls.description}")
    print("\nlm-eval:NAME     any lm-evaluation-harness task, group or tag (lm-eval:gsm8k_cot_llama), or a task YAML (lm-eval:path/to/task.yaml);"
          "\n                 `lm-eval ls tasks` lists lm-eval's own; options go in [tasks.\"lm-eval:NAME\"] (docs/tasks.md)")
    names = inspect_evals_tasks()
    listed = f"`evals tasks --inspect-evals` lists the {len(names)} installed" if names is not None else "inspect_evals is not installed (pip install 'quant-evals[inspect]')"
    print("\ninspect:NAME     any inspect_evals task (inspect:inspect_evals/gpqa_diamond) or inspect task file (inspect:path/to/task.py@NAME);"
          f"\n                 {listed}; options go in [tasks.\"inspect:NAME\"] (docs/tasks.md)")
    return EXIT_OK


def _sim_tokenizer(path: str | None) -> Any:
    """The tokenizer `evals sim --tokenizer` serves prompt logprobs with; a bad one is a usage error."""
    if path is None:
        return None
    from evals.simlogprobs import load_tokenizer

    try:
        return load_tokenizer(path)
    except Exception as e:  # transformers' errors for a missing folder or an unknown hub id
        raise UsageError(f"evals sim: --tokenizer {path}: cannot load it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def cmd_sim(args: argparse.Namespace) -> int:
    import asyncio

    from evals.config import load_config
    from evals.sim import Fault, Simulator, load_catalogs, start
    from evals.simmodel import SimModel

    config = load_config(Path(args.config) if args.config else None)
    data_dir = Path(args.data_dir).resolve() if args.data_dir else config.resolved_data_dir()
    try:
        model = SimModel(accuracy=args.accuracy, delta=args.delta if args.profile == "quantized" else 0.0, discordance=args.discordance, seed=args.seed)
        faults = [Fault.parse(spec) for spec in args.fault or []]
        if args.ttft_ms < 0 or args.tokens_per_s < 0 or args.max_batch < 0:
            raise ValueError("--ttft-ms, --tokens-per-s and --max-batch must be ≥ 0")
    except ValueError as e:
        raise UsageError(f"evals sim: {e}") from None
    sim = Simulator(
        catalogs=load_catalogs(data_dir),
        model=model,
        profile=args.profile,
        model_name=args.model or f"sim-{args.profile}",
        also_listed=args.also_list or [],
        fault_rate=args.fault_rate,
        latency_ms=args.latency_ms,
        fail_first=args.fail_first,
        retry_after_s=args.retry_after,
        faults=faults,
        hang_s=args.hang_s,
        persistent_faults=args.persistent_faults,
        ttft_ms=args.ttft_ms,
        tokens_per_s=args.tokens_per_s,
        max_batch=args.max_batch,
        tokenizer=_sim_tokenizer(args.tokenizer),
    )

    async def serve() -> None:
        try:
            runner, url = await start(sim, args.host, args.port)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UsageError(f"evals sim: port {args.port} on {args.host} is already in use; pass another --port (0 picks a free one)") from None
            raise OutputError(f"evals sim: cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
        print(f"evals sim ({args.profile}, accuracy {args.accuracy}, seed {args.seed}) serving on {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    return EXIT_OK


def comparison_page(reference: str, candidate: str, verdicts: list[TaskVerdict], reference_runs: dict[str, Run], candidate_runs: dict[str, Run],
                    data_dir: Path | None) -> Callable[[], str]:
    """The HTML report of a comparison, rendered only when a file is to be written (reading the task's data to rebuild every prompt is work a gate alone does not need)."""
    def render() -> str:
        from evals.html import comparison_html

        return comparison_html(reference, candidate, verdicts, reference_runs, candidate_runs, data_dir)

    return render


def _finish_gate(reference: str, candidate: str, verdicts: list[TaskVerdict], out: Path | None, args: argparse.Namespace | None = None,
                 page: Callable[[], str] | None = None) -> int:
    """Write the CI outputs asked for, then print the verdict and return its exit code.

    The files come first: if one cannot be written the command fails with exit 4 naming it,
    and no verdict is printed that the exit code would then contradict. `page` renders the
    HTML report: into `out` (beside gate.json) and into `--html FILE`.
    """
    from evals.gate import EXIT_CODES, overall
    from evals.report import dumps, gate_json, junit_xml, render_gate

    fmt = getattr(args, "format", "table")
    html_file = getattr(args, "html", None)
    if html_file and page is None:
        raise UsageError("--html needs per-item records: a published summary table has none")
    if out is not None:
        _write_output(out / GATE_JSON, dumps(gate_json(reference, candidate, verdicts)) + "\n", "--out")
    if page is not None and (out is not None or html_file):  # before the files that state the verdict: a failure here is exit 4
        _write_html(page, out, html_file)
    junit, markdown_file = getattr(args, "junit", None), getattr(args, "markdown", None)
    if junit:
        _write_output(Path(junit), junit_xml(verdicts), "--junit")
    markdown = render_gate(reference, candidate, verdicts, "markdown") + "\n"
    if markdown_file:
        _write_output(Path(markdown_file), markdown, "--markdown")
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # last: it states the exit code, which a file that failed would change
        _write_output(Path(os.environ["GITHUB_STEP_SUMMARY"]), "## evals gate\n\n" + markdown + "\n", "GITHUB_STEP_SUMMARY", append=True)
    print(render_gate(reference, candidate, verdicts, fmt))
    return EXIT_CODES[overall(verdicts)]


def _write_html(page: Callable[[], str], out: Path | None, html_file: str | None) -> None:
    """report.html beside gate.json (a file of the folder this command made) and/or `--html FILE`."""
    text = page()
    if out is not None:
        _write_output(out / REPORT_HTML, text, "--out")
    if html_file:
        _write_output(Path(html_file), text, "--html")


def _write_output(path: Path, text: str, what: str, append: bool = False) -> None:
    """Write one output file; failing is an OutputError naming the flag and the path (exit 4)."""
    from evals.records import write_atomic

    try:
        if append:
            with path.open("a") as f:
                f.write(text)
        elif what == "--out":
            write_atomic(path, text)
        else:
            path.write_text(text)
    except OSError as e:
        raise OutputError(f"cannot write {what} {path}: {e.strerror or e}; the verdict was not reported") from None


def _write_page(path: Path, text: str) -> None:
    """`evals report --html FILE` of a single run: no verdict to withhold, only the file to name."""
    try:
        path.write_text(text)
    except OSError as e:
        raise OutputError(f"cannot write --html {path}: {e.strerror or e}") from None


def _retry_hint(verdicts: list[TaskVerdict], out: Path) -> None:
    """After an ERROR caused by failed or missing requests, the command that retries only those."""
    from evals.gate import Verdict, overall

    if overall(verdicts) == Verdict.ERROR and any(n for v in verdicts for n in v.errors.values()):
        print(f"some requests failed or are missing; to retry only them: {resume_command(out)}", file=sys.stderr)


def _integrity_errors(problems: dict[str, str], config: Config) -> list[TaskVerdict]:
    from evals.gate import TaskVerdict, Verdict, margin_for

    return [
        TaskVerdict(task=t, verdict=Verdict.ERROR, margin=margin_for(t, config.gate), alpha=config.gate.alpha, power=config.gate.power, problem=p)
        for t, p in problems.items()
    ]


def _with_integrity(verdicts: list[TaskVerdict], problems: dict[str, str], config: Config) -> list[TaskVerdict]:
    """A baseline task whose files fail their digests is ERROR naming the file, whatever else was found."""
    return sorted([v for v in verdicts if v.task not in problems] + _integrity_errors(problems, config), key=lambda v: v.task)


def _gate_against_baseline(runs: dict[str, Run], candidate: dict[str, Run], problems: dict[str, str], config: Config) -> list[TaskVerdict]:
    """Saved runs against a baseline's verified tasks, and an ERROR for each that failed its digests: one
    family for Holm's adjustment, its size counting those too."""
    from evals.gate import gate_saved

    return _with_integrity(gate_saved(runs, candidate, config.gate, len(runs) + len(problems)), problems, config)


def _judged(config: Config, reference: Run, candidate: Job, family: int) -> bool:
    """The gate at a sequential run's looks: decided once a look crosses a boundary (REGRESSION's for
    the `family` of tasks compared), is futile or fails."""
    from evals.gate import gate_looks
    from evals.runners import standing_for_looks

    assert candidate.manifest is not None
    verdict, decided = gate_looks(reference, (candidate.manifest, standing_for_looks(candidate)), config.gate, live=True, family=family)
    if decided and verdict.sequential is not None:
        s = verdict.sequential
        print(f"{verdict.task}: {verdict.verdict} at look {s.look} of {len(s.looks)} ({s.looks[s.look - 1]:,} of {s.looks[-1]:,} items, {s.stopped})",
              file=sys.stderr, flush=True)
    return decided


def _judge(config: Config, family: int) -> Callable[[Job, Job], bool]:
    from evals.runners import standing_for_looks

    def judge(reference: Job, candidate: Job) -> bool:
        assert reference.manifest is not None
        return _judged(config, (reference.manifest, standing_for_looks(reference)), candidate, family)

    return judge


async def compare(config: Config, reference: str, candidate: str, tasks: list[str], out: Path, overrides: dict[str, Any],
                  preload: Preload | None = None) -> tuple[list[TaskVerdict], dict[str, dict[str, Run]]]:
    """Run both endpoints (by name, as `_pair` gives them) at once, then gate every task (look by look
    under `[gate] sequential`); the verdicts, and the runs by endpoint and task, as the report needs them (not read back).
    `preload` is started once the first answer is in."""
    from evals.records import write_atomic
    from evals.runners import run_endpoints

    ref_name, cand_name = reference, candidate  # endpoint names, as `_pair` gave them
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / COMPARE_JSON, json.dumps({"reference": ref_name, "candidate": cand_name, "tasks": tasks}) + "\n")
    jobs = await run_endpoints(config, [ref_name, cand_name], tasks, out, overrides, _judge(config, len(tasks)) if config.gate.sequential else None,
                               preload.start if preload is not None else None)
    runs: dict[str, dict[str, Run]] = {ref_name: {}, cand_name: {}}
    for job in jobs:
        assert job.manifest is not None
        runs[job.endpoint.name][job.task.name] = (job.manifest, job.records)
    from evals.gate import gate_saved  # after the requests: numpy and the gate load meanwhile (evals.preload)

    return gate_saved(runs[ref_name], runs[cand_name], config.gate), runs


def cmd_compare(args: argparse.Namespace) -> int:
    import asyncio

    from evals.preload import Preload

    config = _load(args)
    tasks = _task_names(args.tasks)
    names = _pair(config, args.reference, args.candidate, args.same_server)
    overrides = {"limit": args.limit} if args.limit else {}
    _sequential(args, config)
    out = choose_out(args, names, tasks, pair=(names[0], names[1]))
    with writing(out):
        announce_resume(out, names, tasks)
        preload = Preload()  # the gate and the report, imported while the requests are in flight
        verdicts, runs = asyncio.run(compare(config, names[0], names[1], tasks, out, overrides, preload))
        page = comparison_page(names[0], names[1], verdicts, runs[names[0]], runs[names[1]], config.resolved_data_dir())
        code = _finish_gate(names[0], names[1], verdicts, out, args, page)
    print(f"records in {out}")
    _retry_hint(verdicts, out)
    return code


def _runs_of(folder: Path, tasks: Sequence[str]) -> dict[str, Run]:
    """The runs of these tasks in an endpoint folder this command just wrote (read back for the report)."""
    from evals.records import load_run

    return {t: r for t, r in load_run(folder).items() if t in tasks}


async def run_against_baseline(config: Config, baseline: Path, runs: dict[str, Run], candidate: str, out: Path, family: int) -> list[TaskVerdict]:
    """Run only the candidate, on the (verified) baseline tasks' own configurations, then gate the pair,
    the tasks one `family` with those that failed their digests (ERRORs beside them in Holm's family)."""
    from evals.client import Endpoint
    from evals.gate import gate_saved
    from evals.records import load_run, task_folder, write_atomic
    from evals.runners import Job, Looks, SequentialPlan, run_any
    from evals.tasks import runner_of, task_from_manifest

    name, endpoint_config = config.endpoint(candidate)
    write_atomic(out / COMPARE_JSON, json.dumps({"reference": "baseline", "reference_dir": str(baseline.resolve()), "candidate": name}) + "\n")
    endpoint = Endpoint(name, endpoint_config)
    jobs = [Job(endpoint, task_from_manifest(m, config.resolved_data_dir()), out / name / task_folder(task)) for task, (m, _) in runs.items()]
    for job in jobs:  # a sequential baseline: the candidate goes look by look against it, and stops when one decides
        plan = runs[job.task.name][0].extra.get("sequential")
        if plan is not None and runner_of(job.task) == "native":
            from evals.sequential import Design

            design = Design.from_manifest(plan)
            job.plan = SequentialPlan(looks=len(design.sizes), alpha=design.alpha, futility=design.futility, seed=design.seed)
            job.looks = Looks(job.task.name, lambda j=job: _judged(config, runs[j.task.name], j, family))
    try:
        await run_any(jobs, config)
    finally:
        await endpoint.aclose()
    return gate_saved(runs, load_run(out / name), config.gate, family)


def cmd_gate(args: argparse.Namespace) -> int:
    from evals.baseline import load_baseline
    from evals.gate import gate_saved, gate_summary, read_summary
    from evals.records import load_run

    config = _load(args)
    if args.summary:
        if args.runs or args.baseline:
            raise UsageError("evals gate --summary FILE takes no run folders and no --baseline")
        verdicts = gate_summary(read_summary(Path(args.summary)), config.gate)
        return _finish_gate("published reference", "published candidate", verdicts, None, args)
    if args.baseline:
        baseline = Path(args.baseline)
        if args.candidate and not args.runs:
            import asyncio  # a candidate to run; gating saved runs sends nothing and needs no event loop

            name = _endpoint_name(config, args.candidate)
            runs, problems = load_baseline(baseline)  # checked before a single request is sent
            _refuse_imported(baseline, runs)
            if not runs:
                return _finish_gate(f"baseline {baseline}", args.candidate, _integrity_errors(problems, config), None, args)
            out = choose_out(args, [name], sorted(runs), prefix="gate-", pair=("baseline", name))
            with writing(out):
                announce_resume(out, [name], sorted(runs))
                verdicts = _with_integrity(asyncio.run(run_against_baseline(config, baseline, runs, args.candidate, out, len(runs) + len(problems))), problems, config)
                page = comparison_page(f"baseline {baseline.name}", name, verdicts, runs, _runs_of(out / name, sorted(runs)), config.resolved_data_dir())
                code = _finish_gate(f"baseline {baseline}", args.candidate, verdicts, out, args, page)
            print(f"records in {out}")
            _retry_hint(verdicts, out)
            return code
        if len(args.runs) != 1 or args.candidate:
            raise UsageError("evals gate --baseline DIR needs either --candidate ENDPOINT or one saved candidate run folder")
        runs, problems = load_baseline(baseline)
        candidate = load_run(Path(args.runs[0]))
        kept = {t: r for t, r in candidate.items() if t not in problems}
        verdicts = _gate_against_baseline(runs, kept, problems, config)
        page = comparison_page(f"baseline {baseline.name}", args.runs[0], verdicts, runs, kept, config.resolved_data_dir())
        return _finish_gate(f"baseline {baseline}", args.runs[0], verdicts, None, args, page)
    if len(args.runs) != 2 or args.candidate:
        raise UsageError("evals gate needs two run folders (reference, candidate), --baseline DIR, or --summary FILE")
    ref, cand = (Path(r) for r in args.runs)
    ref_runs, cand_runs = load_run(ref), load_run(cand)
    verdicts = gate_saved(ref_runs, cand_runs, config.gate)
    return _finish_gate(str(ref), str(cand), verdicts, None, args, comparison_page(str(ref), str(cand), verdicts, ref_runs, cand_runs, config.resolved_data_dir()))


def _refuse_imported(baseline: Path, runs: dict[str, Run]) -> None:
    """A baseline task imported from an engine's results cannot be matched by a candidate run here: one line, exit 2."""
    from evals.runners.manifests import why_not_rerun

    for manifest, _ in runs.values():
        refused = why_not_rerun(manifest)
        if refused:
            raise UsageError(f"baseline {baseline}: {refused}: `evals gate --baseline {baseline} RUN_DIR`")


def cmd_baseline_save(args: argparse.Namespace) -> int:
    from evals.baseline import save_baseline

    config = _load(args)
    target = save_baseline(Path(args.run), args.name, Path(args.root), config.gate.max_error_rate, force=args.force)
    print(f"saved baseline {args.name} in {target}: commit it, then gate candidates with `evals gate --baseline {target} --candidate ENDPOINT`")
    return EXIT_OK


def cmd_baseline_verify(args: argparse.Namespace) -> int:
    """Check a baseline's files against the digests in its baseline.json, without gating anything."""
    from evals.baseline import verify

    folder = Path(args.dir)
    good, problems = verify(folder)
    for task in good:
        print(f"{task}: ok")
    for task, problem in problems.items():
        print(f"{task}: ERROR: {problem}")
    return EXIT_ERROR if problems or not good else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from evals.records import load_run
    from evals.report import dumps, run_table, summarise

    config = _load(args)
    folder = Path(args.dir)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    if (folder / COMPARE_JSON).exists():  # a comparison: the gate (and numpy); a single run's table needs neither
        from evals.baseline import BASELINE_JSON, load_baseline
        from evals.gate import gate_saved

        pair = _read_compare(folder / COMPARE_JSON)
        reference = Path(pair["reference_dir"]) if "reference_dir" in pair else folder / pair["reference"]
        if (reference / BASELINE_JSON).exists():  # a gate against a baseline: its digests are checked again
            runs, problems = load_baseline(reference)
            candidate = {t: r for t, r in load_run(folder / pair["candidate"]).items() if t not in problems}
            verdicts = _gate_against_baseline(runs, candidate, problems, config)
        else:
            runs, candidate = load_run(reference), load_run(folder / pair["candidate"])
            verdicts = gate_saved(runs, candidate, config.gate)
        page = comparison_page(pair["reference"], pair["candidate"], verdicts, runs, candidate, config.resolved_data_dir())
        return _finish_gate(pair["reference"], pair["candidate"], verdicts, None, args, page)
    loaded = [load_run(e) for e in _endpoint_folders(folder)]
    endpoints = {next(iter(runs.values()))[0].endpoint: runs for runs in loaded}
    summaries = [summarise(m, r) for runs in endpoints.values() for m, r in runs.values()]
    if args.html:
        from evals.html import run_html

        _write_page(Path(args.html), run_html(endpoints, config.resolved_data_dir()))
    if args.format == "json":
        print(dumps([s.model_dump() for s in summaries]))
    else:
        print(run_table(summaries, "github" if args.format == "markdown" else "simple"))
    unfinished = [line for runs in endpoints.values() for m, r in runs.values() if (line := _unfinished(m, r))]
    for line in unfinished:
        print(line, file=sys.stderr)
    return EXIT_ERROR if unfinished else EXIT_OK


def _unfinished(manifest: Manifest, records: list[Record]) -> str | None:
    """Why a saved run is not whole, as `evals run` would have exited 4 for it: errors, a run that
    never finished, or answers missing that its manifest counted (a records file cut or removed)."""
    answered = sum(r.counts for r in records)  # a tau2 agent error is the model's own failure, a scored 0
    expected = manifest.items * len(manifest.repeats)
    errors = len(records) - answered
    if manifest.status in FINISHED and not errors and (manifest.status == "stopped" or answered >= expected):
        return None
    return f"{manifest.endpoint}/{manifest.task}: {manifest.status}, {answered:,} of {expected:,} answered, {errors:,} errors"


def _read_compare(path: Path) -> dict[str, Any]:
    try:
        pair = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(pair, dict) or not isinstance(pair.get("reference"), str) or not isinstance(pair.get("candidate"), str):
        raise UsageError(f"{path}: expected an object with `reference` and `candidate`")
    return pair


def _endpoint_folders(folder: Path) -> list[Path]:
    """`folder` itself when it is an endpoint folder (task folders with a manifest, or one task), else its endpoint subfolders."""

    def holds_tasks(p: Path) -> bool:
        return (p / MANIFEST).exists() or any((t / MANIFEST).exists() for t in p.iterdir() if t.is_dir())

    if holds_tasks(folder):
        return [folder]
    endpoints = sorted(p for p in folder.iterdir() if p.is_dir() and holds_tasks(p))
    if not endpoints:
        raise UsageError(f"{folder}: no run here (expected task folders holding {MANIFEST}, or endpoint folders of them)")
    return endpoints


def cmd_import(args: argparse.Namespace) -> int:
    from evals.report import domain_table, run_table, summarise
    from evals.runners.tau2_bench import import_results

    check_name(args.endpoint, "--endpoint")
    out = given_out(args.out) if args.out else new_run_folder("import-")
    with writing(out):
        manifest, records = import_results([Path(p) for p in args.results], args.endpoint, out / args.endpoint / "tau2")
    print(run_table([summarise(manifest, records)]))
    print()
    print(domain_table(records, len(manifest.repeats)))
    print(f"\nrecords in {out / args.endpoint / 'tau2'}")
    return EXIT_OK


def _hub_answers() -> bool:
    """Whether the Hugging Face hub can be asked for GSM8K within a few seconds."""
    from evals.tasks.gsm8k import HF_DATASET, HF_REVISION

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        from huggingface_hub import HfApi

        HfApi().dataset_info(HF_DATASET, revision=HF_REVISION, timeout=5)
        return True
    except Exception:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from evals.config import Config, EndpointConfig
    from evals.sim import Gsm8kCatalog, Simulator, start
    from evals.simmodel import SimModel
    from evals.synthetic import write_gsm8k_like
    from evals.tasks.gsm8k import load_split

    config = _load(args)
    out = given_out(args.out) if args.out else new_run_folder("demo-")
    data_dir = config.resolved_data_dir()
    if data_dir is not None and (data_dir / "gsm8k" / "test.jsonl").exists():
        source = f"GSM8K test set from {data_dir}"
    elif _hub_answers():
        data_dir, source = None, "GSM8K test set from the Hugging Face hub"
    else:
        data_dir = write_gsm8k_like(out / "synthetic-data").resolve()
        source = "SYNTHETIC word problems made by the demo (GSM8K not found: set EVALS_DATA_DIR to use it); these numbers say nothing about GSM8K"
    print(f"data: {source}")
    rows = load_split(data_dir, "test")

    async def go() -> tuple[list[TaskVerdict], dict[str, dict[str, Run]]]:
        sims = []
        for profile in ("reference", "quantized"):
            model = SimModel(accuracy=args.accuracy, delta=args.delta if profile == "quantized" else 0.0, seed=args.seed)
            sims.append(await start(Simulator(catalogs=[Gsm8kCatalog(rows)], model=model, profile=profile, model_name=f"sim-{profile}")))
        print(f"simulators: reference at {sims[0][1]}, quantized (true Δ = {args.delta:+g}) at {sims[1][1]}", file=sys.stderr)
        demo = Config(
            data_dir=data_dir,
            endpoints={"reference": EndpointConfig(base_url=sims[0][1], max_concurrency=32), "quantized": EndpointConfig(base_url=sims[1][1], max_concurrency=32)},
            gate=config.gate,
        )
        try:
            return await compare(demo, "reference", "quantized", ["gsm8k"], out, {"limit": args.limit} if args.limit else {})
        finally:
            for runner, _ in sims:
                await runner.cleanup()

    with writing(out):
        verdicts, runs = asyncio.run(go())
        page = comparison_page("reference", "quantized", verdicts, runs["reference"], runs["quantized"], data_dir)
        code = _finish_gate("reference", "quantized", verdicts, out, args, page)
    print(f"records in {out}")
    return code


def positive_int(text: str) -> int:
    """`--limit`'s type: a whole number ≥ 1 (0 used to mean "everything", a negative one blamed the config)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evals", description="Did the quantized model lose accuracy? Paired evals with a non-inferiority gate.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate one endpoint")
    run.add_argument("endpoint", help="an endpoint name from evals.toml, or a base URL such as http://127.0.0.1:8000/v1")
    run.add_argument("--tasks", help="comma-separated task names (default: gsm8k)")
    run.add_argument("--config", help="config file (default: ./evals.toml if present)")
    run.add_argument("--limit", type=positive_int, help="evaluate the first N items of each task")
    run.add_argument("--out", help="output folder: a new one, or one holding this run to resume it (default: a new folder under outputs/)")
    run.add_argument("--resume", action="store_true", help="continue the newest unfinished run of this endpoint and these tasks under outputs/")
    run.add_argument("--sequential", action="store_true", help="send the items in the sequential design's order and record it: a reference for sequential baselines")
    run.add_argument("--looks", type=positive_int, help="with --sequential: how many looks (default 4, [gate] looks)")
    run.set_defaults(func=cmd_run)

    cmp = sub.add_parser("compare", help="evaluate a reference and a candidate endpoint at once, then gate")
    cmp.add_argument("reference")
    cmp.add_argument("candidate")
    cmp.add_argument("--tasks", help="comma-separated task names (default: gsm8k)")
    cmp.add_argument("--config")
    cmp.add_argument("--limit", type=positive_int)
    cmp.add_argument("--out", help="output folder: a new one, or one holding this comparison to resume it (default: a new folder under outputs/)")
    cmp.add_argument("--resume", action="store_true", help="continue the newest unfinished comparison of these endpoints and tasks under outputs/")
    cmp.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    cmp.add_argument("--markdown", help="write the comparison as markdown")
    cmp.add_argument("--sequential", action="store_true", help="look at the evidence during the run and stop each task once it is decided ([gate] sequential)")
    cmp.add_argument("--looks", type=positive_int, help="with --sequential: how many looks (default 4, [gate] looks)")
    cmp.add_argument("--html", help="write the HTML report (verdicts, plots, every changed answer) to this file (report.html is also written in the output folder)")
    cmp.add_argument("--same-server", action="store_true", help="compare two endpoints that send the same requests to the same server on purpose (an A/A run); refused otherwise")
    cmp.set_defaults(func=cmd_compare)

    gate = sub.add_parser("gate", help="gate two saved runs, or a published summary table")
    gate.add_argument("runs", nargs="*", help="reference and candidate run folders")
    gate.add_argument("--summary", help="CSV: task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]")
    gate.add_argument("--config", help="for [gate] margins, alpha, power")
    gate.add_argument("--baseline", help="a committed baseline folder (baselines/NAME) as the reference")
    gate.add_argument("--candidate", help="with --baseline: an endpoint to run now on the baseline's items, seeds and task configuration")
    gate.add_argument("--out", help="with --candidate: output folder, new or to resume (default: a new folder under outputs/)")
    gate.add_argument("--resume", action="store_true", help="with --candidate: continue the newest unfinished gate run of this candidate")
    gate.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    gate.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    gate.add_argument("--markdown", help="write the comparison as markdown")
    gate.add_argument("--html", help="write the HTML report (verdicts, plots, every changed answer) to this file")
    gate.set_defaults(func=cmd_gate)

    baseline = sub.add_parser("baseline", help="committed reference runs")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True)
    save = baseline_sub.add_parser("save", help="copy a finished run into baselines/NAME")
    save.add_argument("run", help="the reference run's endpoint folder (outputs/<run>/<endpoint>)")
    save.add_argument("name", help="a simple name (letters, digits, -_.): the folder baselines/NAME")
    save.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
    save.add_argument("--root", default="baselines", help="where baselines live (default: baselines)")
    save.add_argument("--config", help="for [gate] max_error_rate")
    save.set_defaults(func=cmd_baseline_save)
    check = baseline_sub.add_parser("verify", help="check a baseline's files against the sha256 digests in its baseline.json")
    check.add_argument("dir", help="the baseline folder (baselines/NAME)")
    check.set_defaults(func=cmd_baseline_verify)

    report = sub.add_parser("report", help="the numbers of a saved run or comparison")
    report.add_argument("dir")
    report.add_argument("--config")
    report.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    report.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    report.add_argument("--markdown", help="write the comparison as markdown")
    report.add_argument("--html", help="write the HTML report (verdicts, plots, every changed answer) to this file")
    report.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="compare two simulators offline: the whole product in a minute")
    demo.add_argument("--delta", type=float, default=-0.005, help="the quantized simulator's true paired delta")
    demo.add_argument("--accuracy", type=float, default=0.8)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--limit", type=positive_int)
    demo.add_argument("--config")
    demo.add_argument("--out")
    demo.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    demo.add_argument("--markdown", help="write the comparison as markdown")
    demo.add_argument("--html", help="write the HTML report (verdicts, plots, every changed answer) to this file (report.html is also written in the output folder)")
    demo.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="turn another engine's results into records")
    imp.add_argument("engine", choices=["tau2"])
    imp.add_argument("results", nargs="+", help="tau2-bench results files (one per domain)")
    imp.add_argument("--endpoint", required=True, help="the name to file these records under")
    imp.add_argument("--out", help="output folder (default: a new folder under outputs/)")
    imp.set_defaults(func=cmd_import)

    tasks = sub.add_parser("tasks", help="list task adapters")
    tasks.add_argument("--inspect-evals", action="store_true", help="list the inspect_evals tasks installed, as inspect:inspect_evals/NAME")
    tasks.set_defaults(func=cmd_tasks)

    sim = sub.add_parser("sim", help="serve a simulated OpenAI-compatible model")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    sim.add_argument("--profile", choices=["reference", "quantized"], default="reference")
    sim.add_argument("--accuracy", type=float, default=0.8, help="the reference's mean accuracy")
    sim.add_argument("--delta", type=float, default=-0.005, help="the quantized profile's true paired delta")
    sim.add_argument("--discordance", type=float, default=0.03, help="answers that change either way between profiles, beyond |delta|")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--model", help="the model id to serve (default: sim-PROFILE)")
    sim.add_argument("--also-list", action="append", metavar="ID", help="list another model id at /v1/models (repeatable)")
    sim.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests answered 429 or 503")
    sim.add_argument("--fail-first", type=int, default=0, help="answer the first N generation requests 429")
    sim.add_argument("--retry-after", type=float, default=0.0, help="the Retry-After seconds sent with each 429")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="mean added latency per request")
    sim.add_argument("--fault", action="append", metavar="KIND:RATE", help="break a fraction RATE of generation requests: malformed, empty, null, abort, hang, close, echo-auth or nologprobs (repeatable)")
    sim.add_argument("--persistent-faults", action="store_true", help="a prompt --fault strikes is struck on every attempt (default: each retry draws again)")
    sim.add_argument("--hang-s", type=float, default=3600.0, help="how long a `hang` fault holds a request (default 3600)")
    sim.add_argument("--ttft-ms", type=float, default=0.0, help="server model: time to first token of each generation")
    sim.add_argument("--tokens-per-s", type=float, default=0.0, help="server model: decode speed of one generation, in tokens (words) per second")
    sim.add_argument("--max-batch", type=int, default=0, help="server model: generations served at once; more queue (default 0: no limit)")
    sim.add_argument("--tokenizer", help="serve prompt logprobs (echo + logprobs) tokenized by this Hugging Face tokenizer (folder or hub id); without it they are refused, HTTP 400")
    sim.add_argument("--config", help="config file, for data_dir")
    sim.add_argument("--data-dir", help="folder with gsm8k/test.jsonl and/or gpqa/gpqa_diamond.csv (default: data_dir, EVALS_DATA_DIR, else the hub)")
    sim.set_defaults(func=cmd_sim)
    for leaf in _leaves(p):
        leaf.add_argument("--debug", action="store_true", help="on an unexpected failure, print the traceback (also EVALS_DEBUG=1)")
    return p


def _leaves(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    return [leaf for action in subs for child in dict.fromkeys(action.choices.values()) for leaf in _leaves(child)]


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    print(f"evals: warning: {_one_line(str(message))}", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is as SIGINT's KeyboardInterrupt is, so that it unwinds the
    same way (the engines' subprocesses killed, the lock released) and says how to resume."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _resume_hint(args: argparse.Namespace) -> str:
    """"; to resume: CMD" when a run, comparison or gate had started writing its folder, else nothing."""

    out = _State.out
    if out is None or args.command not in ("run", "compare", "gate") or not any(out.glob(f"*/*/{MANIFEST}")):
        return ""
    return f"; to resume: {resume_command(out)}"


def entry() -> int:
    """The `evals` command (and `python -m evals`): main, then an exit that skips the interpreter's
    last garbage collections. Those walk every object the command imported (numpy, pydantic,
    aiohttp) and took about 0.1 s of every command's wall time (docs/performance.md); nothing
    here needs them: every file is closed by the block that opened it, and every connection by
    its client. main() itself, which tests call in one process many times, freezes nothing."""
    import gc

    code = main()
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    _State.argv = list(sys.argv[1:] if argv is None else argv)
    _State.out = None
    args = parser().parse_args(_State.argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("EVALS_DEBUG", "") not in ("", "0")
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    terminate = signal.getsignal(signal.SIGTERM)
    if terminate == signal.SIG_DFL and threading.current_thread() is threading.main_thread():  # a cancelled CI job: stop as Ctrl-C does
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"evals: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        print(f"evals: {'terminated' if isinstance(e, Terminated) else 'interrupted'}{_resume_hint(args)}", file=sys.stderr)
        return 128 + signal.SIGTERM.value if isinstance(e, Terminated) else 130
    except SystemExit as e:  # a task's or a library's code calling sys.exit: its code must not pass for a verdict's
        print(f"evals: error: code run by evals called sys.exit({e.code!r}){_resume_hint(args)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the one place where anything unexpected becomes exit 4, never 1
        if debug:
            import traceback  # only on a failure: every command would pay for it at start

            traceback.print_exc()
        if isinstance(e, (OutputError, EngineError)):
            what = str(e)
        elif isinstance(e, OSError) and e.filename:
            what = f"{e.filename}: {e.strerror or e}"
        elif isinstance(e, OSError):  # a write that failed mid-run (a full disk): say where it was writing
            what = f"{e.strerror or e}" + (f" (writing under {_State.out})" if _State.out is not None else "")
        else:
            what = f"unexpected {type(e).__name__}: {e}"
        more = "" if debug or isinstance(e, (OutputError, EngineError)) else " (--debug or EVALS_DEBUG=1 for the traceback)"
        print(f"evals: error: {_one_line(what)}{_resume_hint(args)}{more}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        warnings.showwarning = shown
        if signal.getsignal(signal.SIGTERM) is _terminate:  # a caller in this process keeps its own
            signal.signal(signal.SIGTERM, terminate)
