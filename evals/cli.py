"""The `evals` command (design §11). The CLI owns printing and exit codes; nothing below it prints."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from evals.client import Endpoint
from evals.config import Config, load_config
from evals.errors import UsageError
from evals.records import read_manifest
from evals.report import run_table, summarise
from evals.runners.native import Job, run_jobs
from evals.tasks import make_task, registry, validate_tasks

OUTPUTS = Path("outputs")
EXIT_OK, EXIT_USAGE, EXIT_ERROR = 0, 2, 4


def _task_names(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "gsm8k").split(",") if t.strip()]


def _load(args: argparse.Namespace) -> Config:
    config = load_config(Path(args.config) if args.config else None)
    validate_tasks(config)
    return config


def default_out(endpoint: str, tasks: list[str], config: Config) -> Path:
    """The newest unfinished run of this endpoint and these tasks under outputs/, else a new folder."""
    if OUTPUTS.is_dir():
        for run in sorted((p for p in OUTPUTS.iterdir() if p.is_dir()), reverse=True):
            manifests = [read_manifest(run / endpoint / t) for t in tasks]
            if all(m is not None for m in manifests) and any(m.status != "complete" for m in manifests if m):
                return run
    return OUTPUTS / datetime.now().strftime("%Y%m%d-%H%M%S")


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    name, endpoint_config = config.endpoint(args.endpoint)
    tasks = _task_names(args.tasks)
    overrides = {"limit": args.limit} if args.limit else {}
    adapters = [make_task(t, config, overrides) for t in tasks]
    out = Path(args.out) if args.out else default_out(name, tasks, config)

    async def go() -> list[Job]:
        endpoint = Endpoint(name, endpoint_config)
        try:
            return await run_jobs([Job(endpoint, task, out / name / task.name) for task in adapters])
        finally:
            await endpoint.aclose()

    jobs = asyncio.run(go())
    summaries = [summarise(j.manifest, j.records, j.wall_s) for j in jobs if j.manifest]
    print(run_table(summaries))
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
    from evals.sim import Gsm8kCatalog, Simulator, start
    from evals.simmodel import SimModel
    from evals.tasks.gsm8k import load_split

    config = load_config(Path(args.config) if args.config else None)
    data_dir = Path(args.data_dir).resolve() if args.data_dir else config.resolved_data_dir()
    try:
        model = SimModel(accuracy=args.accuracy, delta=args.delta if args.profile == "quantized" else 0.0, discordance=args.discordance, seed=args.seed)
    except ValueError as e:
        raise UsageError(f"evals sim: {e}") from None
    sim = Simulator(
        catalogs=[Gsm8kCatalog(load_split(data_dir, "test"))],
        model=model,
        profile=args.profile,
        model_name=args.model or f"sim-{args.profile}",
        fault_rate=args.fault_rate,
        latency_ms=args.latency_ms,
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evals", description="Did the quantized model lose accuracy? Paired evals with a non-inferiority gate.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate one endpoint")
    run.add_argument("endpoint", help="an endpoint name from evals.toml, or a base URL such as http://127.0.0.1:8000/v1")
    run.add_argument("--tasks", help="comma-separated task names (default: gsm8k)")
    run.add_argument("--config", help="config file (default: ./evals.toml if present)")
    run.add_argument("--limit", type=int, help="evaluate the first N items of each task")
    run.add_argument("--out", help="output folder (default: a new folder under outputs/, or the unfinished run to resume)")
    run.set_defaults(func=cmd_run)

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
    sim.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests answered 429 or 503")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="mean added latency per request")
    sim.add_argument("--config", help="config file, for data_dir")
    sim.add_argument("--data-dir", help="folder with gsm8k/test.jsonl (default: data_dir, EVALS_DATA_DIR, else the hub)")
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
