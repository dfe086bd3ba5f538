"""What the harness costs next to the endpoint (issue 12): every measurement side by side, one table.

    python benchmarks/run.py            # the full sizes (about 10 minutes on 2 cores)
    python benchmarks/run.py --small    # every measurement on small sizes, to prove the script works
    python benchmarks/run.py --evals-src DIR   # measure another checkout's `evals` (e.g. before a change)

Against `evals sim` on 127.0.0.1 (always this checkout's simulator), it measures:

- GSM8K (its 1,319 test questions, sglang's 5-shot prompt; lm-eval's own 5-shot prompt for
  lm-eval) at concurrency 32: lm-eval 0.4.13's `local-completions` and `evals run`, wall and
  CPU time of the client process;
- startup: `evals --help`, `evals tasks`, `evals report` and `evals gate` on a saved
  comparison, and a rerun of a finished run (nothing left to send);
- harness CPU per request: the CPU of `evals run` less that of the rerun that sends nothing,
  over the requests sent;
- `evals compare` against two simulators with a server model (`--ttft-ms`, `--tokens-per-s`,
  `--max-batch`) beside the slower arm's own service time (its summed generation time over
  its batch: the least wall time in which any client gets every answer), at a fast decode
  (a quarter of a second per answer) and a slow one (about 2 s per answer);
- peak RSS of `evals run` on a synthetic 100,000-item GSM8K-like task (and on a tenth of it,
  to show whether memory grows with the task).

The measured checkout's modules are compiled to bytecode first, as an installed package's are
(`--no-compile` measures it as found).

Each timing is the median of `--repeats` runs (wall and CPU from the child's own rusage). No
timing is asserted anywhere: these are measurements, not tests. Needs EVALS_DATA_DIR (the
GSM8K files) and lm-eval installed (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 32


@dataclass
class Usage:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 3600) -> Usage:
    """Run argv to completion; its wall time, CPU time (user + sys) and peak RSS, from wait4."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def cpu_name() -> str:
    """The CPU's model name, with its family and model numbers where the name alone ("AMD EPYC") does not
    tell two generations apart: these machines differ by two to three times in speed under one name."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return platform.processor()
    fields: dict[str, str] = {}
    for line in info.read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    numbers = ", ".join(f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields)
    return f"{fields.get('model name', platform.processor())} ({numbers})" if numbers else fields.get("model name", platform.processor())


def median_of(runs: list[Usage]) -> dict[str, float]:
    return {
        "wall_s": statistics.median(r.wall_s for r in runs),
        "cpu_s": statistics.median(r.cpu_s for r in runs),
        "max_rss_mb": statistics.median(r.max_rss_mb for r in runs),
        "runs": len(runs),
    }


class Sim:
    """`evals sim --port 0` from this checkout, in a subprocess."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evals", "sim", "--port", "0", "--data-dir", str(data_dir), *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "serving on" not in line:
            self.proc.kill()
            raise RuntimeError(f"simulator did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/sim/stats", timeout=30) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def lm_eval_task(folder: Path, data_dir: Path) -> Path:
    """lm-eval's own gsm8k task, read from the local files instead of the hub."""
    import lm_eval

    folder.mkdir(parents=True, exist_ok=True)
    upstream = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    (folder / "gsm8k_local.yaml").write_text(
        f"include: {upstream}\ntask: gsm8k_local\ntag: []\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    train: {data_dir / 'gsm8k' / 'train.jsonl'}\n    test: {data_dir / 'gsm8k' / 'test.jsonl'}\n"
    )
    return folder


def write_config(path: Path, endpoints: dict[str, str], data_dir: Path) -> Path:
    text = f'data_dir = "{data_dir}"\n'
    for name, url in endpoints.items():
        text += f'[endpoints.{name}]\nbase_url = "{url}"\nmax_concurrency = {CONCURRENCY}\n'
    path.write_text(text)
    return path


SERVER_FAST = {"ttft": "50", "reference_tps": "100", "candidate_tps": "80"}
SERVER_SLOW = {"ttft": "200", "reference_tps": "12", "candidate_tps": "10"}


def measure_compare(server: dict[str, str], out: Path, n: int, data_dir: Path, evals: list[str], env: dict[str, str], work: Path) -> tuple[dict[str, Any], Path]:
    """`evals compare` of two simulators with this server model; its wall time beside the slower arm's service time."""
    with Sim(data_dir, "--ttft-ms", server["ttft"], "--tokens-per-s", server["reference_tps"], "--max-batch", str(CONCURRENCY)) as ref, \
         Sim(data_dir, "--profile", "quantized", "--ttft-ms", server["ttft"], "--tokens-per-s", server["candidate_tps"], "--max-batch", str(CONCURRENCY)) as cand:  # fmt: skip
        config = write_config(work / f"{out.name}.toml", {"ref": ref.url, "cand": cand.url}, data_dir)
        r = measure([*evals, "compare", "ref", "cand", "--config", str(config), "--limit", str(n), "--out", str(out)], env, work)
        if r.returncode not in (0, 1, 3):
            raise RuntimeError(f"evals compare failed ({r.returncode}): {r.stderr[-2000:]}")
        arms = {name: s.stats() for name, s in (("ref", ref), ("cand", cand))}
    service = {name: a["service_s"] / a["max_batch"] for name, a in arms.items()}
    phase = max(json.loads((out / name / "gsm8k" / "manifest.json").read_text())["extra"]["wall_s"] for name in arms)
    slower = max(service.values())
    return {
        "server_model": f"ttft {server['ttft']} ms, {server['reference_tps']} (reference) / {server['candidate_tps']} (candidate) tokens/s, batch {CONCURRENCY}",
        "wall_s": r.wall_s, "cpu_s": r.cpu_s, "requests_wall_s": phase, "slower_arm_service_s": slower,
        "wall_over_service": r.wall_s / slower, "requests_over_service": phase / slower,
        "outside_requests_s": r.wall_s - phase,  # startup before the first request, the gate and report.html after the last
    }, config  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small sizes: proves the script works, measures little")
    parser.add_argument("--evals-src", help="the checkout whose `evals` is measured (default: this one); the simulator is always this one's")
    parser.add_argument("--repeats", type=int, help="runs per timing (default 3, 1 with --small)")
    parser.add_argument("--skip-lm-eval", action="store_true", help="leave lm-eval out (it alone takes minutes)")
    parser.add_argument("--big", type=int, help="items of the memory task (default 100,000; 1,000 with --small)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--no-compile", action="store_true", help="measure the checkout as found, without compiling its modules to bytecode first")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("EVALS_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    if not (data_dir / "gsm8k" / "test.jsonl").exists():
        print(f"no GSM8K files under {data_dir}: set EVALS_DATA_DIR", file=sys.stderr)
        return 2
    small = args.small
    repeats = args.repeats or (1 if small else 3)
    n_gsm8k = 32 if small else 1319
    n_big = args.big or (1_000 if small else 100_000)
    src = Path(args.evals_src).resolve() if args.evals_src else REPO
    env = {**os.environ, "PYTHONPATH": str(src), "EVALS_PROGRESS_EVERY_S": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env["EVALS_PROGRESS_EVERY_S"] = "3600"
    evals = [sys.executable, "-m", "evals"]
    results: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": cpu_name(),
            "python": platform.python_version(),
            "load_before": os.getloadavg()[0],
        },
        "sizes": {"gsm8k": n_gsm8k, "big": n_big, "concurrency": CONCURRENCY, "repeats": repeats},
        "evals_src": str(src),
    }
    if not args.no_compile:
        # As pip does when it installs a package. Where PYTHONDONTWRITEBYTECODE=1 is set (these 2-core
        # machines set it), a checkout whose modules were never compiled compiles every module of
        # `evals` it imports again on every command (~0.05 s of `evals tasks`); an installed one does not.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "evals")], check=True, stdout=subprocess.DEVNULL)
    results["machine"]["bytecode"] = "as found" if args.no_compile else "compiled first"
    work = Path(tempfile.mkdtemp(prefix="evals-bench-"))
    print(f"measuring {src} in {work} ({'small' if small else 'full'} sizes, {repeats} runs each)", file=sys.stderr)

    # 1. GSM8K at concurrency 32: lm-eval local-completions and evals run on one simulator.
    with Sim(data_dir) as sim:
        config = write_config(work / "evals.toml", {"sim": sim.url}, data_dir)
        runs = []
        for i in range(repeats):
            out = work / f"run-{i}"
            r = measure([*evals, "run", "sim", "--config", str(config), "--limit", str(n_gsm8k), "--out", str(out)], env, work)
            if r.returncode != 0:
                raise RuntimeError(f"evals run failed ({r.returncode}): {r.stderr[-2000:]}")
            runs.append(r)
        results["evals_run"] = median_of(runs)
        reruns = [measure([*evals, "run", "sim", "--config", str(config), "--limit", str(n_gsm8k), "--out", str(work / "run-0")], env, work) for _ in range(repeats if small else max(repeats, 3))]
        results["rerun_finished"] = median_of(reruns)
        results["cpu_per_request_ms"] = 1000 * (results["evals_run"]["cpu_s"] - results["rerun_finished"]["cpu_s"]) / n_gsm8k
        if not args.skip_lm_eval:
            tasks = lm_eval_task(work / "lm-eval-tasks", data_dir)
            model_args = f"model=sim-reference,base_url={sim.url}/completions,num_concurrent={CONCURRENCY},max_retries=3,tokenized_requests=False,tokenizer_backend=None"
            lm_runs = []
            for i in range(repeats):
                r = measure([sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", model_args, "--tasks", "gsm8k_local",
                             "--include_path", str(tasks), "--limit", str(n_gsm8k), "--batch_size", "1", "--output_path", str(work / f"lm-eval-{i}")], env, work)  # fmt: skip
                if r.returncode != 0:
                    raise RuntimeError(f"lm-eval failed ({r.returncode}): {r.stderr[-2000:]}")
                lm_runs.append(r)
            results["lm_eval"] = median_of(lm_runs)
            results["lm_eval_over_evals_wall"] = results["lm_eval"]["wall_s"] / results["evals_run"]["wall_s"]

    # 2. evals compare against a server model, beside the slower arm's own service time: a fast
    # decode (each answer a quarter of a second), where the harness's fixed costs weigh most,
    # and a slow one (each answer about 2 s, as a large model's GSM8K answers take), where they
    # are spread over a longer run.
    compare_dir = work / "compare"
    results["compare"], config = measure_compare(SERVER_FAST, compare_dir, n_gsm8k, data_dir, evals, env, work)
    if not small:  # the same measurement, slower: --small proves the script works in less time
        results["compare_slow_decode"], _ = measure_compare(SERVER_SLOW, work / "compare-slow", n_gsm8k, data_dir, evals, env, work)

    # 3. Startup: commands that should cost only their imports.
    startup: dict[str, dict[str, float]] = {}
    for name, argv in {
        "--help": ["--help"],
        "tasks": ["tasks"],
        "report (saved compare)": ["report", str(compare_dir), "--config", str(config)],
        "gate (saved runs)": ["gate", str(compare_dir / "ref"), str(compare_dir / "cand"), "--config", str(config)],
    }.items():
        startup[name] = median_of([measure([*evals, *argv], env, work) for _ in range(repeats if small else max(repeats, 5))])
    startup["rerun of a finished run"] = results["rerun_finished"]
    results["startup"] = startup

    # 4. Memory: peak RSS of `evals run` on a synthetic task of n_big items, and of a tenth of it.
    sys.path.insert(0, str(REPO))
    from evals.synthetic import write_gsm8k_like

    big = write_gsm8k_like(work / "big-data", n_test=n_big, n_train=50)
    memory = {}
    with Sim(big) as sim:
        config = write_config(work / "big.toml", {"sim": sim.url}, big)
        for n in (n_big // 10, n_big):
            r = measure([*evals, "run", "sim", "--config", str(config), "--limit", str(n), "--out", str(work / f"big-{n}")], env, work, timeout=7200)
            if r.returncode != 0:
                raise RuntimeError(f"evals run ({n} items) failed ({r.returncode}): {r.stderr[-2000:]}")
            memory[n] = {"max_rss_mb": r.max_rss_mb, "wall_s": r.wall_s, "cpu_s": r.cpu_s}
    results["memory"] = memory
    # The marginal CPU of one more request: what the fixed costs (imports, loading) do not blur.
    results["marginal_cpu_per_request_ms"] = 1000 * (memory[n_big]["cpu_s"] - memory[n_big // 10]["cpu_s"]) / (n_big - n_big // 10)
    results["machine"]["load_after"] = os.getloadavg()[0]

    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def render(res: dict[str, Any]) -> str:
    """The figures as one markdown table (the form docs/performance.md keeps them in)."""
    m, n = res["machine"], res["sizes"]
    rows = [("measurement", "figure")]
    run = res["evals_run"]
    if "lm_eval" in res:
        lm = res["lm_eval"]
        rows.append((f"lm-eval local-completions, GSM8K {n['gsm8k']} q, concurrency {n['concurrency']}", f"{lm['wall_s']:.2f} s wall, {lm['cpu_s']:.2f} s CPU"))
    rows.append((f"evals run, GSM8K {n['gsm8k']} q, concurrency {n['concurrency']}", f"{run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU"))
    if "lm_eval" in res:
        rows.append(("lm-eval wall / evals wall", f"{res['lm_eval_over_evals_wall']:.1f}×"))
    rows.append((f"harness CPU per request, GSM8K (run − rerun) / {n['gsm8k']}", f"{res['cpu_per_request_ms']:.2f} ms"))
    rows.append((f"harness CPU per request, marginal ({n['big'] // 10:,} → {n['big']:,} items)", f"{res['marginal_cpu_per_request_ms']:.2f} ms"))
    for name, s in res["startup"].items():
        rows.append((f"evals {name}", f"{s['wall_s']:.2f} s wall, {s['cpu_s']:.2f} s CPU"))
    for key in ("compare", "compare_slow_decode"):
        if key not in res:
            continue
        c = res[key]
        rows.append((f"evals compare ({c['server_model']})", f"{c['wall_s']:.2f} s wall ({c['requests_wall_s']:.2f} s sending requests)"))
        rows.append(("  slower arm's own service time (Σ generation time / batch)", f"{c['slower_arm_service_s']:.2f} s"))
        rows.append(("  compare wall / service time", f"{c['wall_over_service']:.3f} (requests alone: {c['requests_over_service']:.3f})"))
        if "outside_requests_s" in c:
            rows.append(("  compare wall − sending (startup, gate, report.html)", f"{c['outside_requests_s']:.2f} s"))
    for items, s in res["memory"].items():
        rows.append((f"evals run, {int(items):,} synthetic items: peak RSS", f"{s['max_rss_mb']:.0f} MB ({s['wall_s']:.0f} s wall)"))
    width = max(len(a) for a, _ in rows)
    lines = [f"| {a:<{width}} | {b} |" for a, b in rows]
    lines.insert(1, f"|{'-' * (width + 2)}|---|")
    head = (f"machine: {m['nproc']} × {m['cpu']}, Python {m['python']}, load average {m['load_before']:.1f} before / {m.get('load_after', 0):.1f} after; "
            f"medians of {n['repeats']} runs; bytecode {m.get('bytecode', 'as found')}")
    return head + "\n\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
