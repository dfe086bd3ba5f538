"""The `evals` command (design §11). The CLI owns printing and exit codes; nothing below it prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from evals.baseline import baseline_manifests, save_baseline
from evals.client import Endpoint
from evals.config import Config, EndpointConfig, load_config
from evals.errors import UsageError
from evals.gate import (
    EXIT_CODES,
    TaskVerdict,
    gate_saved,
    gate_summary,
    overall,
    read_summary,
)
from evals.records import MANIFEST, Run, load_run, read_manifest, write_atomic
from evals.report import (
    domain_table,
    dumps,
    gate_json,
    junit_xml,
    render_gate,
    run_table,
    summarise,
)
from evals.runners import Job, run_any, run_endpoints
from evals.tasks import registry, task_from_manifest, validate_tasks
from evals.tasks.gsm8k import HF_DATASET, HF_REVISION

OUTPUTS = Path("outputs")
COMPARE_JSON = "compare.json"
GATE_JSON = "gate.json"
EXIT_OK, EXIT_USAGE, EXIT_ERROR = 0, 2, 4


def _task_names(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "gsm8k").split(",") if t.strip()]


def _load(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config) if args.config else None)
    validate_tasks(config)
    return config


def default_out(endpoints: list[str], tasks: list[str]) -> Path:
    """The newest unfinished run of these endpoints and tasks under outputs/, else a new folder."""
    if OUTPUTS.is_dir():
        for run in sorted((p for p in OUTPUTS.iterdir() if p.is_dir()), reverse=True):
            manifests = [read_manifest(run / e / t) for e in endpoints for t in tasks]
            if all(m is not None for m in manifests) and any(m.status != "complete" for m in manifests if m):
                return run
    return OUTPUTS / datetime.now().strftime("%Y%m%d-%H%M%S")


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    name, _ = config.endpoint(args.endpoint)
    tasks = _task_names(args.tasks)
    overrides = {"limit": args.limit} if args.limit else {}
    out = Path(args.out) if args.out else default_out([name], tasks)
    jobs = asyncio.run(run_endpoints(config, [args.endpoint], tasks, out, overrides))
    summaries = [summarise(j.manifest, j.records, j.wall_s) for j in jobs if j.manifest]
    print(run_table(summaries))
    for job in jobs:
        if job.manifest and any("group" in r.details for r in job.records):
            print("\n" + domain_table(job.records, len(job.manifest.repeats)))
    print(f"\nrecords in {out}")
    errors = sum(s.errors for s in summaries)
    if errors:
        print(f"{errors} requests failed after retries; run the same command again to retry them", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_tasks(args: argparse.Namespace) -> int:
    for name, cls in sorted(registry().items()):
        print(f"{name:<16} v{cls.version:<4} {cls.description}")
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    from evals.sim import Fault, Simulator, load_catalogs, start
    from evals.simmodel import SimModel

    config = load_config(Path(args.config) if args.config else None)
    data_dir = Path(args.data_dir).resolve() if args.data_dir else config.resolved_data_dir()
    try:
        model = SimModel(accuracy=args.accuracy, delta=args.delta if args.profile == "quantized" else 0.0, discordance=args.discordance, seed=args.seed)
        faults = [Fault.parse(spec) for spec in args.fault or []]
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
    )

    async def serve() -> None:
        runner, url = await start(sim, args.host, args.port)
        print(f"evals sim ({args.profile}, accuracy {args.accuracy}, seed {args.seed}) serving on {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    return EXIT_OK


def _finish_gate(reference: str, candidate: str, verdicts: list[TaskVerdict], out: Path | None, args: argparse.Namespace | None = None) -> int:
    """Print the verdict, write the CI outputs asked for, and return the exit code."""
    fmt = getattr(args, "format", "table")
    print(render_gate(reference, candidate, verdicts, fmt))
    if out is not None:
        write_atomic(out / GATE_JSON, dumps(gate_json(reference, candidate, verdicts)) + "\n")
    junit, markdown_file = getattr(args, "junit", None), getattr(args, "markdown", None)
    if junit:
        Path(junit).write_text(junit_xml(verdicts))
    markdown = render_gate(reference, candidate, verdicts, "markdown") + "\n"
    if markdown_file:
        Path(markdown_file).write_text(markdown)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as f:
            f.write("## evals gate\n\n" + markdown + "\n")
    return EXIT_CODES[overall(verdicts)]


async def compare(config: Config, reference: str, candidate: str, tasks: list[str], out: Path, overrides: dict[str, Any]) -> list[TaskVerdict]:
    """Run both endpoints at once, then gate every task."""
    out.mkdir(parents=True, exist_ok=True)
    ref_name, cand_name = config.endpoint(reference)[0], config.endpoint(candidate)[0]
    if ref_name == cand_name:
        raise UsageError(f"reference and candidate are the same endpoint ({ref_name})")
    write_atomic(out / COMPARE_JSON, json.dumps({"reference": ref_name, "candidate": cand_name, "tasks": tasks}) + "\n")
    jobs = await run_endpoints(config, [reference, candidate], tasks, out, overrides)
    runs: dict[str, dict[str, Run]] = {ref_name: {}, cand_name: {}}
    for job in jobs:
        assert job.manifest is not None
        runs[job.endpoint.name][job.task.name] = (job.manifest, job.records)
    return gate_saved(runs[ref_name], runs[cand_name], config.gate)


def cmd_compare(args: argparse.Namespace) -> int:
    config = _load(args)
    tasks = _task_names(args.tasks)
    names = [config.endpoint(args.reference)[0], config.endpoint(args.candidate)[0]]
    out = Path(args.out) if args.out else default_out(names, tasks)
    overrides = {"limit": args.limit} if args.limit else {}
    verdicts = asyncio.run(compare(config, args.reference, args.candidate, tasks, out, overrides))
    code = _finish_gate(names[0], names[1], verdicts, out, args)
    print(f"records in {out}")
    return code


async def run_against_baseline(config: Config, baseline: Path, candidate: str, out: Path) -> list[TaskVerdict]:
    """Run only the candidate, on the baseline's own task configurations, then gate the pair."""
    manifests = baseline_manifests(baseline)
    name, endpoint_config = config.endpoint(candidate)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / COMPARE_JSON, json.dumps({"reference": "baseline", "reference_dir": str(baseline.resolve()), "candidate": name}) + "\n")
    endpoint = Endpoint(name, endpoint_config)
    try:
        await run_any([Job(endpoint, task_from_manifest(m, config.resolved_data_dir()), out / name / task) for task, m in manifests.items()], config)
    finally:
        await endpoint.aclose()
    return gate_saved(load_run(baseline), load_run(out / name), config.gate)


def cmd_gate(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.summary:
        if args.runs or args.baseline:
            raise UsageError("evals gate --summary FILE takes no run folders and no --baseline")
        verdicts = gate_summary(read_summary(Path(args.summary)), config.gate)
        return _finish_gate("published reference", "published candidate", verdicts, None, args)
    if args.baseline:
        baseline = Path(args.baseline)
        if args.candidate and not args.runs:
            out = Path(args.out) if args.out else OUTPUTS / datetime.now().strftime("gate-%Y%m%d-%H%M%S")
            verdicts = asyncio.run(run_against_baseline(config, baseline, args.candidate, out))
            code = _finish_gate(f"baseline {baseline}", args.candidate, verdicts, out, args)
            print(f"records in {out}")
            return code
        if len(args.runs) != 1 or args.candidate:
            raise UsageError("evals gate --baseline DIR needs either --candidate ENDPOINT or one saved candidate run folder")
        verdicts = gate_saved(load_run(baseline), load_run(Path(args.runs[0])), config.gate)
        return _finish_gate(f"baseline {baseline}", args.runs[0], verdicts, None, args)
    if len(args.runs) != 2 or args.candidate:
        raise UsageError("evals gate needs two run folders (reference, candidate), --baseline DIR, or --summary FILE")
    ref, cand = (Path(r) for r in args.runs)
    verdicts = gate_saved(load_run(ref), load_run(cand), config.gate)
    return _finish_gate(str(ref), str(cand), verdicts, None, args)


def cmd_baseline_save(args: argparse.Namespace) -> int:
    config = _load(args)
    target = save_baseline(Path(args.run), args.name, Path(args.root), config.gate.max_error_rate)
    print(f"saved baseline {args.name} in {target}: commit it, then gate candidates with `evals gate --baseline {target} --candidate ENDPOINT`")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    config = _load(args)
    folder = Path(args.dir)
    if (folder / COMPARE_JSON).exists():
        pair = json.loads((folder / COMPARE_JSON).read_text())
        reference = Path(pair["reference_dir"]) if "reference_dir" in pair else folder / pair["reference"]
        verdicts = gate_saved(load_run(reference), load_run(folder / pair["candidate"]), config.gate)
        return _finish_gate(pair["reference"], pair["candidate"], verdicts, None, args)
    endpoints = [folder] if any(p.glob("*/" + MANIFEST) for p in [folder]) or (folder / MANIFEST).exists() else sorted(p for p in folder.iterdir() if p.is_dir())
    summaries = [summarise(m, r) for e in endpoints for m, r in load_run(e).values()]
    if args.format == "json":
        print(dumps([s.model_dump() for s in summaries]))
    else:
        print(run_table(summaries, "github" if args.format == "markdown" else "simple"))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from evals.runners.tau2_bench import import_results

    out = Path(args.out) if args.out else OUTPUTS / datetime.now().strftime("import-%Y%m%d-%H%M%S")
    manifest, records = import_results([Path(p) for p in args.results], args.endpoint, out / args.endpoint / "tau2")
    print(run_table([summarise(manifest, records)]))
    print()
    print(domain_table(records, len(manifest.repeats)))
    print(f"\nrecords in {out / args.endpoint / 'tau2'}")
    return EXIT_OK


def _hub_answers() -> bool:
    """Whether the Hugging Face hub can be asked for GSM8K within a few seconds."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        from huggingface_hub import HfApi

        HfApi().dataset_info(HF_DATASET, revision=HF_REVISION, timeout=5)
        return True
    except Exception:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    from evals.sim import Gsm8kCatalog, Simulator, start
    from evals.simmodel import SimModel
    from evals.synthetic import write_gsm8k_like
    from evals.tasks.gsm8k import load_split

    config = load_config(Path(args.config) if args.config else None)
    out = Path(args.out) if args.out else OUTPUTS / datetime.now().strftime("demo-%Y%m%d-%H%M%S")
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

    async def go() -> list[TaskVerdict]:
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

    verdicts = asyncio.run(go())
    code = _finish_gate("reference", "quantized", verdicts, out, args)
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
    run.add_argument("--out", help="output folder (default: a new folder under outputs/, or the unfinished run to resume)")
    run.set_defaults(func=cmd_run)

    cmp = sub.add_parser("compare", help="evaluate a reference and a candidate endpoint at once, then gate")
    cmp.add_argument("reference")
    cmp.add_argument("candidate")
    cmp.add_argument("--tasks", help="comma-separated task names (default: gsm8k)")
    cmp.add_argument("--config")
    cmp.add_argument("--limit", type=positive_int)
    cmp.add_argument("--out")
    cmp.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    cmp.add_argument("--markdown", help="write the comparison as markdown")
    cmp.set_defaults(func=cmd_compare)

    gate = sub.add_parser("gate", help="gate two saved runs, or a published summary table")
    gate.add_argument("runs", nargs="*", help="reference and candidate run folders")
    gate.add_argument("--summary", help="CSV: task,n_items,repeats,score_ref,score_cand[,se_ref,se_cand]")
    gate.add_argument("--config", help="for [gate] margins, alpha, power")
    gate.add_argument("--baseline", help="a committed baseline folder (baselines/NAME) as the reference")
    gate.add_argument("--candidate", help="with --baseline: an endpoint to run now on the baseline's items, seeds and task configuration")
    gate.add_argument("--out", help="with --candidate: output folder (default: a new folder under outputs/)")
    gate.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    gate.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    gate.add_argument("--markdown", help="write the comparison as markdown")
    gate.set_defaults(func=cmd_gate)

    baseline = sub.add_parser("baseline", help="committed reference runs")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True)
    save = baseline_sub.add_parser("save", help="copy a finished run into baselines/NAME")
    save.add_argument("run", help="the reference run's endpoint folder (outputs/<run>/<endpoint>)")
    save.add_argument("name")
    save.add_argument("--root", default="baselines", help="where baselines live (default: baselines)")
    save.add_argument("--config", help="for [gate] max_error_rate")
    save.set_defaults(func=cmd_baseline_save)

    report = sub.add_parser("report", help="the numbers of a saved run or comparison")
    report.add_argument("dir")
    report.add_argument("--config")
    report.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    report.add_argument("--junit", help="write a JUnit XML file: one testcase per task")
    report.add_argument("--markdown", help="write the comparison as markdown")
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
    demo.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="turn another engine's results into records")
    imp.add_argument("engine", choices=["tau2"])
    imp.add_argument("results", nargs="+", help="tau2-bench results files (one per domain)")
    imp.add_argument("--endpoint", required=True, help="the name to file these records under")
    imp.add_argument("--out", help="output folder (default: a new folder under outputs/)")
    imp.set_defaults(func=cmd_import)

    tasks = sub.add_parser("tasks", help="list task adapters")
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
    sim.add_argument("--fault", action="append", metavar="KIND:RATE", help="break a fraction RATE of generation requests: malformed, empty, null, abort, hang, close or echo-auth (repeatable)")
    sim.add_argument("--hang-s", type=float, default=3600.0, help="how long a `hang` fault holds a request (default 3600)")
    sim.add_argument("--config", help="config file, for data_dir")
    sim.add_argument("--data-dir", help="folder with gsm8k/test.jsonl and/or gpqa/gpqa_diamond.csv (default: data_dir, EVALS_DATA_DIR, else the hub)")
    sim.set_defaults(func=cmd_sim)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"evals: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("evals: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
