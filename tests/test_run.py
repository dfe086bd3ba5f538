"""`evals run` end to end over real HTTP against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, run_evals

from evals.records import read_records
from evals.simmodel import SimModel
from evals.tasks.gsm8k import Gsm8k, Gsm8kOptions


def write_config(path: Path, url: str, **endpoint: object) -> Path:
    lines = ["[endpoints.sim]", f'base_url = "{url}"'] + [f"{k} = {json.dumps(v)}" for k, v in endpoint.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def raw_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_test_set(sim, tmp_path: Path, data_dir: Path) -> None:
    server = sim("--accuracy", "0.8", "--seed", "3")
    config = write_config(tmp_path / "evals.toml", server.url, max_concurrency=64)
    result = run_evals("run", "sim", "--tasks", "gsm8k", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "gsm8k" in result.stdout and "accuracy" in result.stdout

    path = tmp_path / "out" / "sim" / "gsm8k" / "records.jsonl"
    lines = raw_lines(path)
    assert len(lines) == 1319 and len({(r["item_id"], r["repeat"]) for r in lines}) == 1319
    records = read_records(path)
    assert all(r.error is None for r in records)

    # What the simulator meant to answer, item by item, and what we scored, agree.
    model = SimModel(accuracy=0.8, seed=3)
    intended = {i.item_id: model.correct(i.item_id, 0, "reference") for i in Gsm8k(Gsm8kOptions(), data_dir).load_items()}
    realised = sum(intended.values()) / len(intended)
    scored = sum(r.score for r in records) / len(records)
    se = math.sqrt(scored * (1 - scored) / len(records))
    assert abs(scored - realised) < 3 * se
    assert all(r.score == float(intended[r.item_id]) for r in records)

    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["model"] == "sim-reference"  # asked of /v1/models, since the config has no model
    assert manifest["status"] == "complete" and manifest["records"] == 1319
    assert len(manifest["dataset_fingerprint"]) == 64 and len(manifest["prompt_fingerprint"]) == 64
    assert server.stats()["requests"]["/v1/completions"] == 1319


def test_resume_after_sigkill(sim, tmp_path: Path) -> None:
    server = sim("--latency-ms", "25")
    config = write_config(tmp_path / "evals.toml", server.url, max_concurrency=8)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "evals", "run", "sim", "--config", str(config), "--out", str(out)]
    records = out / "sim" / "gsm8k" / "records.jsonl"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not records.exists() or records.read_text().count("\n") < 300):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5)  # let the simulator finish counting what was in flight

    kept = len(read_records(records))
    assert 300 <= kept < 1319
    sent_before = server.stats()["requests"]["/v1/completions"]

    result = run_evals("run", "sim", "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    final = read_records(records)
    assert len(final) == 1319 and all(r.error is None for r in final)
    assert len({r.key for r in final}) == 1319
    assert server.stats()["requests"]["/v1/completions"] - sent_before == 1319 - kept


def test_progress_lines_when_stderr_is_not_a_terminal(sim, tmp_path: Path) -> None:
    server = sim()
    config = write_config(tmp_path / "evals.toml", server.url, max_concurrency=1)
    result = run_evals("run", "sim", "--config", str(config), "--limit", "5", "--out", str(tmp_path / "o"), env={"EVALS_PROGRESS_EVERY_S": "0"})
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("sim/gsm8k: ")]
    assert lines[-1].startswith("sim/gsm8k: 5/5 done, 0 errors") and len(lines) == 5


def test_retries_hide_transient_faults(sim, tmp_path: Path) -> None:
    server = sim("--fault-rate", "0.3")
    config = write_config(tmp_path / "evals.toml", server.url, max_retries=8)
    result = run_evals("run", "sim", "--config", str(config), "--limit", "60", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path / "out" / "sim" / "gsm8k" / "records.jsonl")
    assert len(records) == 60 and all(r.error is None for r in records)
    stats = server.stats()["requests"]
    assert stats["faults"] > 0 and stats["/v1/completions"] == 60 + stats["faults"]


def test_retry_after_is_honoured(sim, tmp_path: Path) -> None:
    """Two 429s asking for 1.5 s each: the client waits that long before each retry, then succeeds."""
    server = sim("--fail-first", "2", "--retry-after", "1.5")
    config = write_config(tmp_path / "evals.toml", server.url, max_retries=3)
    result = run_evals("run", "sim", "--config", str(config), "--limit", "1", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    stats = server.stats()
    assert stats["requests"]["/v1/completions"] == 3 and stats["requests"]["faults"] == 2
    assert all(gap >= 1.45 for gap in stats["gaps_s"])  # exponential backoff alone would wait 0.5 s, then 1 s


def test_exhausted_retries_become_error_records_and_a_rerun_retries_only_them(sim, tmp_path: Path) -> None:
    server = sim("--fault-rate", "0.5")
    config = write_config(tmp_path / "evals.toml", server.url, max_retries=0)
    out = tmp_path / "out"
    first = run_evals("run", "sim", "--config", str(config), "--limit", "80", "--out", str(out))
    assert first.returncode == 4, first.stderr
    path = out / "sim" / "gsm8k" / "records.jsonl"
    records = read_records(path)
    failed = [r for r in records if r.error is not None]
    assert len(records) == 80 and failed
    assert all(r.score == 0 and r.extracted is None and r.error for r in failed)
    assert all("503" in r.error or "429" in r.error or "RateLimit" in r.error or "InternalServer" in r.error for r in failed)

    before = server.stats()["requests"]["/v1/completions"]
    run_evals("run", "sim", "--config", str(config), "--limit", "80", "--out", str(out))
    assert server.stats()["requests"]["/v1/completions"] - before == len(failed)
    assert len(read_records(path)) == 80
    assert sum(r.error is None for r in read_records(path)) > 80 - len(failed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_one_line_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = write_config(tmp_path / "evals.toml", url, max_retries=1, timeout_s=5)
    result = run_evals("run", "sim", "--config", str(config), "--out", str(tmp_path / "out"), timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "cannot reach" in lines[0]


def test_malformed_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "evals.toml"
    config.write_text('[endpoints.fp8]\nbase_url = "http://127.0.0.1:1/v1"\nmax_concurency = 8\n')
    result = run_evals("run", "fp8", "--config", str(config))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert str(config) in line and "endpoints.fp8.max_concurency" in line and "unknown field" in line

    config.write_text('[endpoints.fp8]\nbase_url = "http://127.0.0.1:1/v1"\nmax_concurrency = "lots"\n')
    result = run_evals("run", "fp8", "--config", str(config))
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "endpoints.fp8.max_concurrency" in line and "integer" in line

    config.write_text('[tasks.gsm8k]\nformat = "lm_eval"\n')
    result = run_evals("run", "http://127.0.0.1:1/v1", "--config", str(config))
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "tasks.gsm8k.format" in line and "'sglang' or 'lm-eval'" in line

    config.write_text("[endpoints.fp8\nbase_url = 1\n")
    result = run_evals("run", "fp8", "--config", str(config))
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and str(config) in line and "TOML" in line


def test_a_server_with_several_models_needs_one_named(sim, tmp_path: Path) -> None:
    server = sim("--model", "glm-fp8", "--also-list", "glm-mxfp4")
    config = write_config(tmp_path / "evals.toml", server.url)
    result = run_evals("run", "sim", "--config", str(config), "--limit", "5", "--out", str(tmp_path / "a"))
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "glm-fp8" in line and "glm-mxfp4" in line and "set `model`" in line
    named = write_config(tmp_path / "named.toml", server.url, model="glm-fp8")
    assert run_evals("run", "sim", "--config", str(named), "--limit", "5", "--out", str(tmp_path / "b")).returncode == 0


def test_every_replica_is_asked_what_it_serves(sim, tmp_path: Path) -> None:
    """An independent review: a server that answers whatever name it is sent (sglang's OpenAI layer,
    the simulator) let both arms run on one server, their manifests naming FP8 and MXFP4, and the gate
    said LOSSLESS, silently; with replicas, only the first was asked what it serves."""
    fp8, mxfp4 = sim("--model", "glm-fp8"), sim("--model", "glm-mxfp4")
    wrong = write_config(tmp_path / "wrong.toml", fp8.url, model="glm-mxfp4")
    # said, not refused: many servers accept names they do not list (Azure's deployments, Ollama's tags)
    result = run_evals("run", "sim", "--config", str(wrong), "--limit", "5", "--out", str(tmp_path / "a"))
    assert result.returncode == 0 and f"evals: warning: endpoint sim: {fp8.url} lists glm-fp8, not the configured model 'glm-mxfp4'" in result.stderr
    sent = fp8.stats()["requests"].get("/v1/completions", 0)
    mixed = tmp_path / "mixed.toml"
    mixed.write_text(f'[endpoints.sim]\nbase_url = ["{fp8.url}", "{mxfp4.url}"]\n')
    result = run_evals("run", "sim", "--config", str(mixed), "--limit", "5", "--out", str(tmp_path / "b"))
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "replicas serve different models (glm-fp8, glm-mxfp4)" in line
    mixed.write_text(f'[endpoints.sim]\nbase_url = ["{fp8.url}", "{mxfp4.url}"]\nmodel = "glm-fp8"\n')
    result = run_evals("run", "sim", "--config", str(mixed), "--limit", "5", "--out", str(tmp_path / "c"))
    (line,) = [line for line in result.stderr.strip().splitlines() if "warning" not in line]
    assert result.returncode == 2 and "replicas serve different models (glm-fp8, glm-mxfp4)" in line
    assert fp8.stats()["requests"].get("/v1/completions", 0) == sent and mxfp4.stats()["requests"].get("/v1/completions", 0) == 0


def test_unknown_endpoint_names_the_known_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path / "evals.toml", "http://127.0.0.1:1/v1")
    result = run_evals("run", "fp4", "--config", str(config))
    assert result.returncode == 2 and "'fp4'" in result.stderr and "sim" in result.stderr


def test_tasks_lists_the_adapters() -> None:
    result = run_evals("tasks", cwd=REPO)
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0 and {"gsm8k", "gpqa_diamond", "lm-eval:NAME"} <= set(names)
