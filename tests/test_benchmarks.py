"""benchmarks/run.py runs end to end on small sizes: a proof that it works, not a timing (nothing is asserted about speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_benchmark_script_runs_on_small_sizes(data_dir: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    env = {**os.environ, "EVALS_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    # lm-eval is left out: importing it alone takes longer than this test may; the full run measures it.
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--small", "--skip-lm-eval", "--repeats", "1", "--big", "300", "--json", str(figures)],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(figures.read_text())
    assert "evals run, GSM8K 32 q, concurrency 32" in result.stdout and "compare wall / service time" in result.stdout
    assert set(data["startup"]) == {"--help", "tasks", "report (saved compare)", "gate (saved runs)", "rerun of a finished run"}
    assert data["compare"]["slower_arm_service_s"] > 0 and data["compare"]["wall_s"] > 0
    assert set(data["memory"]) == {"30", "300"} and all(m["max_rss_mb"] > 0 for m in data["memory"].values())
