"""docs/tasks.md: the ways to add a benchmark, each example run end to end against the simulator.

In-process (`evals.cli.main`), so the examples cost seconds: the lm-eval YAML group of
examples/lm-eval-task (the README's command) and the native adapter of examples/native-task,
found through its `evals.tasks` entry point exactly as `pip install` would leave it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evals import cli
from evals.records import read_records
from evals.tasks import _plugins

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_lm_eval_yaml_runs_end_to_end(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = sim()
    monkeypatch.chdir(REPO)  # the README runs it from the repository's root
    code = cli.main(["run", server.url, "--tasks", "lm-eval:examples/lm-eval-task/arith.yaml", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    (folder,) = (tmp_path / "out").glob("*/lm-eval_examples_lm-eval-task_arith.yaml")
    records = read_records(folder / "records.jsonl")
    assert len(records) == 80 and {r.details["group"] for r in records} == {"arith_add", "arith_mul"}
    assert "arith_add" in out and "arith_mul" in out and "macro" in out
    assert server.stats()["requests"]["recognised"] == 80  # the simulator answered every question

    # a baseline of it, and the gate of a candidate run against that baseline (here: the same run)
    endpoint = folder.parent
    assert cli.main(["baseline", "save", str(endpoint), "arith", "--root", str(tmp_path / "baselines")]) == 0
    assert (tmp_path / "baselines" / "arith" / folder.name / "records.jsonl.gz").is_file()
    code = cli.main(["gate", "--baseline", str(tmp_path / "baselines" / "arith"), str(endpoint), "--format", "json"])
    out = capsys.readouterr().out
    assert code in (0, 3), out  # identical runs: never REGRESSION, never ERROR
    assert "lm-eval:examples/lm-eval-task/arith.yaml" in out and "arith_mul" in out  # the verdict, with a row per subtask


def test_the_native_adapter_runs_through_its_entry_point(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    info = site / "evals_arith-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evals-arith\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evals.tasks]\narith_native = evals_arith:ArithNative\n")  # as pyproject.toml declares it
    assert 'arith_native = "evals_arith:ArithNative"' in (REPO / "examples" / "native-task" / "pyproject.toml").read_text()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(REPO / "examples" / "native-task"))
    _plugins.cache_clear()
    try:
        server = sim()
        code = cli.main(["run", server.url, "--tasks", "arith_native", "--limit", "20", "--out", str(tmp_path / "out")])
        out = capsys.readouterr().out
    finally:
        _plugins.cache_clear()
        sys.modules.pop("evals_arith", None)
    assert code == 0, out
    (records,) = (tmp_path / "out").glob("*/arith_native/records.jsonl")
    scores = [json.loads(line)["score"] for line in records.read_text().splitlines()]
    assert len(scores) == 20 and 0 < sum(scores) < 20  # right and wrong answers, each scored
