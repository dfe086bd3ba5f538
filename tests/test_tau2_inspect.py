"""tau2 through inspect_evals, end to end over HTTP against simulators, for both arms.

What this shows: the engine runs offline against OpenAI-compatible endpoints, the agent role
goes to each arm's endpoint and the user role to the shared user-simulator endpoint, every
(task, epoch) becomes a record, and the macro, the per-domain rows, pass^k and a verdict come
out. What it does not show: anything about tau2 scores. The simulator only chats (no tool
calls), so the agent does nothing; tasks that need no action pass and the rest fail, the same
on both arms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_evals

pytest.importorskip("inspect_evals.tau2")


def test_compare_tau2_through_inspect(sim, tmp_path: Path) -> None:
    fp8, mxfp4 = sim(), sim("--profile", "quantized")
    user = sim("--model", "user-sim")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.fp8]\nbase_url = "{fp8.url}"\n[endpoints.mxfp4]\nbase_url = "{mxfp4.url}"\n'
        f'[endpoints.user]\nbase_url = "{user.url}"\n\n'
        '[tasks.tau2]\ndomains = ["airline", "retail"]\ntrials = 2\nlimit = 2\nmessage_limit = 4\nuser_model = "user"\n'
    )
    out = tmp_path / "out"
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", "tau2", "--config", str(config), "--out", str(out), timeout=400)
    assert result.returncode in (0, 3), result.stdout + result.stderr

    for arm in ("fp8", "mxfp4"):
        lines = [json.loads(line) for line in (out / arm / "tau2" / "records.jsonl").read_text().splitlines()]
        assert len(lines) == 2 * 2 * 2  # domains × tasks × trials
        assert {(r["item_id"], r["repeat"]) for r in lines} == {(f"{d}/{i}", t) for d in ("airline", "retail") for i in (0, 1) for t in (0, 1)}
        manifest = json.loads((out / arm / "tau2" / "manifest.json").read_text())
        assert manifest["extra"]["user_simulator"]["model"] == "user-sim"
        assert manifest["extra"]["user_simulator"]["base_url"] == user.url
    # Each arm's agent went to its own endpoint; the user turns all went to the user simulator.
    assert fp8.stats()["requests"]["/v1/chat/completions"] > 0 and mxfp4.stats()["requests"]["/v1/chat/completions"] > 0
    assert user.stats()["requests"]["/v1/chat/completions"] >= 2 * 8

    gate = json.loads((out / "gate.json").read_text())
    (task,) = gate["tasks"]
    assert task["task"] == "tau2" and set(task["groups"]) == {"airline", "retail"}
    assert task["delta"] == pytest.approx(sum(g["delta"] for g in task["groups"].values()) / 2)
    assert set(task["pass_k"]["reference"]) == {"1", "2"}  # pass^k for k ≤ trials, macro over domains
    assert "pass^2" in result.stdout and "airline" in result.stdout

    # The gate refuses arms that used different user simulators.
    manifest_path = out / "mxfp4" / "tau2" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["extra"]["user_simulator"]["model"] = "another-user"
    manifest_path.write_text(json.dumps(manifest))
    refused = run_evals("gate", str(out / "fp8"), str(out / "mxfp4"))
    assert refused.returncode == 4 and "user_simulator" in refused.stdout

    # A rerun with another configuration into the same folder is refused before anything is
    # sent, and the run that is there keeps its records and logs.
    held = {p: p.read_bytes() for p in (out / "fp8").rglob("*") if p.is_file()}
    changed = tmp_path / "changed.toml"
    changed.write_text(config.read_text().replace("trials = 2", "trials = 3"))
    sent = fp8.stats()["requests"]["/v1/chat/completions"]
    rerun = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(changed), "--out", str(out), timeout=120)
    assert rerun.returncode == 2 and "different task_config" in rerun.stderr, rerun.stdout + rerun.stderr
    assert {p: p.read_bytes() for p in (out / "fp8").rglob("*") if p.is_file()} == held
    assert fp8.stats()["requests"]["/v1/chat/completions"] == sent


def test_tau2_without_a_user_simulator_is_a_config_error(tmp_path: Path, sim) -> None:
    server = sim()
    config = tmp_path / "evals.toml"
    config.write_text(f'[endpoints.fp8]\nbase_url = "{server.url}"\n[tasks.tau2]\ntrials = 1\n')
    result = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "tasks.tau2.user_model" in result.stderr


def test_failed_model_calls_are_errors_not_scores(sim, tmp_path: Path) -> None:
    """The port swallows failed model calls and scores the sample anyway; we must not."""
    broken, user = sim("--fault-rate", "1.0"), sim("--model", "user-sim")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.broken]\nbase_url = "{broken.url}"\nmax_retries = 0\ntimeout_s = 10\n'
        f'[endpoints.user]\nbase_url = "{user.url}"\n\n'
        '[tasks.tau2]\ndomains = ["airline", "retail"]\ntrials = 1\nmessage_limit = 2\nuser_model = "user"\n'
        'task_ids = ["airline/0", "airline/1"]\ntemperature = 0.7\n'
    )
    result = run_evals("run", "broken", "--tasks", "tau2", "--config", str(config), "--out", str(tmp_path / "o"), timeout=300)
    assert result.returncode == 4, result.stdout + result.stderr
    records = [json.loads(line) for line in (tmp_path / "o" / "broken" / "tau2" / "records.jsonl").read_text().splitlines()]
    assert sorted(r["item_id"] for r in records) == ["airline/0", "airline/1"]  # only the tasks asked for
    assert all(r["error"] and "model call(s) failed" in r["error"] and r["score"] == 0.0 for r in records)
    manifest = json.loads((tmp_path / "o" / "broken" / "tau2" / "manifest.json").read_text())
    assert manifest["sampling"] == {"temperature": 0.7} and manifest["errors"] == 2


@pytest.mark.parametrize("lost", ["agent", "user"])
def test_an_answer_the_server_lost_is_an_error_not_a_score(sim, tmp_path: Path, lost: str) -> None:
    """An independent review: the agent's server (or the user simulator's) nulled every answer's content;
    inspect made each "" and the port went on, so the run was complete with 0 errors, exit 0, and two of four
    trials scored 1.0. A null answer nothing explains is an error, as the native client takes it."""
    agent = sim("--fault", "null:1.0") if lost == "agent" else sim()
    user = sim("--model", "user-sim", *(("--fault", "null:1.0") if lost == "user" else ()))
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.fp8]\nbase_url = "{agent.url}"\nmax_retries = 0\n[endpoints.user]\nbase_url = "{user.url}"\nmax_retries = 0\n\n'
        '[tasks.tau2]\ndomains = ["airline"]\ntrials = 1\nlimit = 2\nmessage_limit = 4\nuser_model = "user"\n'
    )
    result = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", str(tmp_path / "o"), timeout=300)
    assert result.returncode == 4, result.stdout + result.stderr
    records = [json.loads(line) for line in (tmp_path / "o" / "fp8" / "tau2" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] and "null message.content" in r["error"] and r["score"] == 0.0 for r in records), records


def test_killed_midway_the_folder_says_what_ran_there(sim, tmp_path: Path) -> None:
    """kill -9 while the agent is talking: the manifest already names the configuration and the
    tasks owed, so a rerun with another configuration is refused without touching the folder,
    and the same configuration finishes it with each (task, trial) once."""
    agent, user = sim("--latency-ms", "150"), sim("--model", "user-sim")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.fp8]\nbase_url = "{agent.url}"\nmax_concurrency = 1\n[endpoints.user]\nbase_url = "{user.url}"\n\n'
        '[tasks.tau2]\ndomains = ["airline"]\ntrials = 2\nlimit = 3\nmessage_limit = 4\nuser_model = "user"\n'
    )
    out = tmp_path / "o"
    command = [sys.executable, "-m", "evals", "run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while agent.stats()["requests"].get("/v1/chat/completions", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.kill()
    assert proc.wait(timeout=10) == -9, "the run finished before it was killed"
    time.sleep(2)  # the inspect subprocess notices that evals is gone
    folder = out / "fp8" / "tau2"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["items"] == 3 and manifest["extra"]["user_simulator"]["model"] == "user-sim"

    held = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    changed = tmp_path / "changed.toml"
    changed.write_text(config.read_text().replace("message_limit = 4", "message_limit = 6"))
    refused = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(changed), "--out", str(out), timeout=120)
    assert refused.returncode == 2 and "different task_config" in refused.stderr, refused.stdout + refused.stderr
    other_user = tmp_path / "other-user.toml"  # the same model, served elsewhere: another user simulator
    other_user.write_text(config.read_text().replace(user.url, sim("--model", "user-sim").url))
    refused = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(other_user), "--out", str(out), timeout=120)
    assert refused.returncode == 2 and "different user simulator" in refused.stderr, refused.stdout + refused.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == held

    rerun = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", str(out), timeout=300)
    assert rerun.returncode in (0, 4), rerun.stdout + rerun.stderr
    assert "of 6 done" in rerun.stderr, rerun.stderr  # 3 tasks × 2 trials owed, as the killed run's manifest says
    lines = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    keys = [(r["item_id"], r["repeat"]) for r in lines]
    assert len(keys) == len(set(keys)) == 6
    assert json.loads((folder / "manifest.json").read_text())["status"] in ("complete", "incomplete")
