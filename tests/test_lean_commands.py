"""What commands leave out, and what they reuse instead of reading again (issue 12).

Not timings (those live in benchmarks/run.py): which modules a command imports, checked in a
subprocess by `sys.modules` at its end, and that what `evals compare` gives its report from
memory is what a later `evals report` reads from disk.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, run_evals


def modules_after(*argv: str, cwd: Path = REPO) -> tuple[int, set[str]]:
    """Run `evals ARGV` in a fresh interpreter; its exit code and every module it imported."""
    code = (
        "import json, sys\nfrom evals.cli import main\n"
        f"code = main({list(argv)!r})\n"
        "print('MODULES ' + json.dumps(sorted(sys.modules)))\nsys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=240)
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    return done.returncode, set(json.loads(line.removeprefix("MODULES ")))


def test_tasks_builds_no_configuration_and_no_statistics() -> None:
    code, modules = modules_after("tasks")
    assert code == 0
    assert "evals.config" not in modules and "numpy" not in modules and "rich" not in modules


def write_config(path: Path, **urls: str) -> Path:
    path.write_text("".join(f'[endpoints.{name}]\nbase_url = "{url}"\nmax_concurrency = 16\n' for name, url in urls.items()))
    return path


def test_rerun_of_a_finished_run_needs_no_server_no_client_and_no_numpy(sim, tmp_path: Path) -> None:
    """Nothing left to send: the folder is read and summarised, the endpoint is not asked (it is
    down here), and neither the HTTP client, the progress bar nor numpy is imported."""
    server = sim()
    config = write_config(tmp_path / "evals.toml", sim=server.url)
    out = tmp_path / "out"
    first = run_evals("run", "sim", "--config", str(config), "--limit", "30", "--out", str(out))
    assert first.returncode == 0, first.stderr
    path = out / "sim" / "gsm8k" / "records.jsonl"
    records = path.read_text()
    assert server.stats()["requests"]["/v1/completions"] == 30
    server.stop()

    code, modules = modules_after("run", "sim", "--config", str(config), "--limit", "30", "--out", str(out))
    assert code == 0
    assert not {"aiohttp", "rich", "evals.plots", "numpy"} & modules
    assert path.read_text() == records  # nothing sent, nothing appended
    manifest = json.loads((out / "sim" / "gsm8k" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["records"] == 30 and manifest["errors"] == 0
    assert manifest["model"] == "sim-reference"  # the run's own, not asked of the server again

    again = run_evals("run", "sim", "--config", str(config), "--limit", "30", "--out", str(out))
    assert again.returncode == 0 and "30 of 30 done" in again.stderr
    table = [line for line in first.stdout.splitlines() if "gsm8k" in line]
    assert [re.sub(r"\s+\S+s$", "", line) for line in table] == [re.sub(r"\s+\S+s$", "", line) for line in again.stdout.splitlines() if "gsm8k" in line]

    # a single run's report is the same table: no gate, so no numpy either
    code, modules = modules_after("report", str(out))
    assert code == 0
    assert not {"numpy", "evals.gate", "evals.plots"} & modules

    # with something left to send, the endpoint is asked first, and its being down stops the run before any request
    path.write_text("".join(records.splitlines(keepends=True)[:20]))
    resumed = run_evals("run", "sim", "--config", str(config), "--limit", "30", "--out", str(out))
    assert resumed.returncode == 2 and "cannot reach" in resumed.stderr
    assert path.read_text().count("\n") == 20


def test_compare_report_from_memory_is_the_report_from_disk(sim, tmp_path: Path) -> None:
    reference, candidate = sim("--seed", "2"), sim("--profile", "quantized", "--seed", "2")
    config = write_config(tmp_path / "evals.toml", fp8=reference.url, mxfp4=candidate.url)
    out = tmp_path / "out"
    done = run_evals("compare", "fp8", "mxfp4", "--config", str(config), "--limit", "150", "--out", str(out))
    assert done.returncode in (0, 1, 3), done.stderr
    again = run_evals("report", str(out), "--config", str(config), "--html", str(tmp_path / "again.html"))
    assert again.returncode == done.returncode, again.stderr

    def page(path: Path) -> str:
        return re.sub(r"written \S+ by evals", "written … by evals", path.read_text())

    first = page(out / "report.html")
    assert first.count("<svg") >= 4  # forest, discordance, tokens, latency
    assert first == page(tmp_path / "again.html")

    # a report without --html, its config naming no task: no adapter, no plotting
    code, modules = modules_after("report", str(out), "--config", str(config))
    assert code == done.returncode
    assert "evals.tasks" not in modules and "evals.plots" not in modules and "aiohttp" not in modules

    # gating the saved runs sends nothing: no event loop, no client, no plotting
    code, modules = modules_after("gate", str(out / "fp8"), str(out / "mxfp4"), "--config", str(config))
    assert code == done.returncode
    assert not {"asyncio", "aiohttp", "evals.plots"} & modules
