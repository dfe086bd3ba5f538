"""Third-party tasks through the `evals.tasks` entry-point group (issue 10): a plugin that fails
to import is reported once, on one line, and disables only itself; every command still works.

The plugins are real distributions: a `*.dist-info` folder with `entry_points.txt` on the
PYTHONPATH of an `evals` subprocess, exactly what `pip install` leaves behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_evals

README_TABLE = "task,n_items,repeats,score_ref,score_cand\ngsm8k,200,1,0.965,0.955\n"


def install(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evals.tasks]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)


@pytest.fixture
def plugins(tmp_path: Path) -> dict[str, str]:
    """Three plugins: one raises on import, one is not a task, one works (a renamed GSM8K)."""
    site = tmp_path / "site"
    install(site, "brokenplug", {"broken": "brokenplug:Task"}, {"brokenplug": 'raise RuntimeError("boom at import")\n'})
    install(site, "notatask", {"notatask": "notatask:helper"}, {"notatask": "def helper():\n    pass\n"})
    good = "from evals.tasks.gsm8k import Gsm8k\n\nclass Mine(Gsm8k):\n    name = 'mytask'\n    description = 'a plugin task'\n"
    install(site, "goodplug", {"mytask": "goodplug:Mine"}, {"goodplug": good})
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_tasks_lists_the_rest_and_reports_each_broken_plugin_once(plugins: dict[str, str], tmp_path: Path) -> None:
    result = run_evals("tasks", cwd=tmp_path, env=plugins, timeout=60)
    assert result.returncode == 0
    adapters, _, prefixes = result.stdout.partition("\n\n")  # the adapters, then the lm-eval: prefix
    listed = [line.split()[0] for line in adapters.splitlines()]
    assert listed == ["gpqa_diamond", "gsm8k", "mytask", "tau2"] and prefixes.startswith("lm-eval:NAME")
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    (broken,) = [line for line in lines if "'broken'" in line]
    assert "task plugin 'broken' is disabled: brokenplug:Task failed to import: RuntimeError: boom at import" in broken
    (notatask,) = [line for line in lines if "'notatask'" in line]
    assert "notatask:helper is not a task (no name, version, description, Options)" in notatask


def test_other_commands_work_and_the_broken_task_is_named(plugins: dict[str, str], tmp_path: Path) -> None:
    summary = tmp_path / "glm.csv"
    summary.write_text(README_TABLE)
    # a config that touches the registry everywhere: task options and margins are checked against it
    config = tmp_path / "evals.toml"
    config.write_text("[tasks.gsm8k]\nlimit = 200\n[gate]\nmargins = {gsm8k = 0.02}\n")
    result = run_evals("gate", "--summary", str(summary), "--config", str(config), cwd=tmp_path, env=plugins, timeout=60)
    assert result.returncode == 3 and "verdict: INCONCLUSIVE" in result.stdout
    assert result.stderr.count("'broken'") == 1 and "Traceback" not in result.stderr

    result = run_evals("run", "http://127.0.0.1:9/v1", "--tasks", "broken", cwd=tmp_path, env=plugins, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "evals: error: task 'broken' is a plugin that failed to load (brokenplug:Task failed to import: RuntimeError: boom at import)"
    )
    assert result.stderr.count("boom at import") == 2  # the warning, once, and the error

    config.write_text("[gate]\nmargins = {broken = 0.02}\n")
    result = run_evals("gate", "--summary", str(summary), "--config", str(config), cwd=tmp_path, env=plugins, timeout=60)
    assert result.returncode == 2 and f"{config}: gate.margins.broken: task 'broken' is a plugin that failed to load" in result.stderr


def test_a_working_plugin_runs(plugins: dict[str, str], sim, tmp_path: Path) -> None:
    """The good plugin beside the broken one runs end to end over HTTP."""
    server = sim()
    result = run_evals("run", server.url, "--tasks", "mytask", "--limit", "10", "--out", str(tmp_path / "out"), cwd=tmp_path, env=plugins, timeout=120)
    assert result.returncode == 0, result.stderr
    (records,) = (tmp_path / "out").glob("*/mytask/records.jsonl")
    assert records.read_text().count("\n") == 10
    assert server.stats()["requests"]["/v1/completions"] == 10


def test_a_scorer_that_raises_on_one_answer_costs_that_draw_not_the_run(sim, tmp_path: Path) -> None:
    """An independent review: one answer the scorer could not take (a lone surrogate then) ended both
    arms' runs, and every resume again on the same item. It is that draw's error record now."""
    site = tmp_path / "site"
    picky = ("from evals.tasks.gsm8k import Gsm8k\n\nclass Picky(Gsm8k):\n    name = 'picky'\n    description = 'raises on some items'\n\n"
             "    def item_details(self, item):\n        return {'group': 'g' + item.item_id[-1]}\n\n"
             "    def score(self, item, repeat, response):\n        if item.item_id.endswith(('1', '4')):\n"
             "            raise ValueError('cannot read this one')\n        return super().score(item, repeat, response)\n")
    install(site, "pickyplug", {"picky": "pickyplug:Picky"}, {"pickyplug": picky})
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    server = sim()
    result = run_evals("run", server.url, "--tasks", "picky", "--limit", "10", "--out", str(tmp_path / "out"), cwd=tmp_path, env=env, timeout=120)
    (records,) = (tmp_path / "out").glob("*/picky/records.jsonl")
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    failed = [r for r in lines if r["error"]]
    assert len(lines) == 10 and failed and len(failed) < 10, result.stderr
    assert all(r["error"] == "ScoringFailed: the task could not score the answer: ValueError: cannot read this one" and r["response"] for r in failed)
    assert all(r["details"] == {"group": "g" + r["item_id"][-1]} for r in failed)  # an error record says what the item is (its group), for the gate
    assert result.returncode == 4 and "unexpected" not in result.stderr
