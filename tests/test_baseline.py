"""Committed baselines and the CI release gate, over real HTTP against simulators."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO, run_evals

from evals.baseline import task_digest
from evals.synthetic import write_gpqa_like


@pytest.fixture
def data(tmp_path: Path, data_dir: Path) -> Path:
    """GSM8K from ../shared and synthetic GPQA, side by side."""
    folder = write_gpqa_like(tmp_path / "data")
    os.symlink(data_dir / "gsm8k", folder / "gsm8k")
    return folder


def config(path: Path, **endpoints: str) -> Path:
    body = "".join(f'[endpoints.{name}]\nbase_url = "{url}"\n\n' for name, url in endpoints.items())
    path.write_text(body + "[tasks.gpqa_diamond]\nrepeats = 2\nmax_tokens = 1024\n")
    return path


def restamp(baseline: Path) -> None:
    """Record the digests of the baseline's files as they are now: as if it had been saved from an altered run,
    so that what is tested is the gate's own comparability check, not the integrity check before it."""
    info = json.loads((baseline / "baseline.json").read_text())
    for task in info["tasks"]:
        info["tasks"][task].update(task_digest(baseline / task))
    (baseline / "baseline.json").write_text(json.dumps(info))


def save_reference(sim, tmp_path: Path, data: Path, tasks: str = "gsm8k") -> Path:
    reference = sim("--data-dir", str(data))
    cfg = config(tmp_path / "ref.toml", reference=reference.url)
    env = {"EVALS_DATA_DIR": str(data)}
    run = run_evals("run", "reference", "--tasks", tasks, "--config", str(cfg), "--out", str(tmp_path / "ref"), env=env)
    assert run.returncode == 0, run.stderr
    saved = run_evals("baseline", "save", str(tmp_path / "ref" / "reference"), "ref", "--root", str(tmp_path / "baselines"), env=env)
    assert saved.returncode == 0, saved.stderr
    return tmp_path / "baselines" / "ref"


def gate_candidate(sim, tmp_path: Path, data: Path, baseline: Path, delta: float, *extra: str):
    candidate = sim("--data-dir", str(data), "--profile", "quantized", "--delta", str(delta))
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = config(tmp_path / "cand.toml", candidate=candidate.url)
    result = run_evals(
        "gate", "--baseline", str(baseline), "--candidate", "candidate", "--config", str(cfg), "--out", str(tmp_path / "cand"), *extra,
        env={"EVALS_DATA_DIR": str(data)},
    )
    return result, candidate


def test_save_then_gate_a_lossless_and_a_worse_candidate(sim, tmp_path: Path, data: Path) -> None:
    baseline = save_reference(sim, tmp_path, data)
    assert (baseline / "gsm8k" / "records.jsonl.gz").exists() and (baseline / "gsm8k" / "manifest.json").exists()
    assert json.loads((baseline / "baseline.json").read_text())["tasks"]["gsm8k"]["items"] == 1319

    same, server = gate_candidate(sim, tmp_path / "a", data, baseline, 0.0)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "gsm8k: LOSSLESS" in same.stdout
    assert server.stats()["requests"]["/v1/completions"] == 1319  # only the candidate ran, on the baseline's items

    worse, _ = gate_candidate(sim, tmp_path / "b", data, baseline, -0.10)
    assert worse.returncode == 1 and "gsm8k: REGRESSION" in worse.stdout


def test_baseline_task_configuration_is_used_not_the_candidates_config(sim, tmp_path: Path, data: Path) -> None:
    reference = sim("--data-dir", str(data))
    cfg = config(tmp_path / "ref.toml", reference=reference.url)
    env = {"EVALS_DATA_DIR": str(data)}
    run_evals("run", "reference", "--tasks", "gpqa_diamond", "--limit", "40", "--config", str(cfg), "--out", str(tmp_path / "ref"), env=env)
    run_evals("baseline", "save", str(tmp_path / "ref" / "reference"), "gp", "--root", str(tmp_path / "bl"), env=env)
    result, server = gate_candidate(sim, tmp_path, data, tmp_path / "bl" / "gp", 0.0)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    assert server.stats()["requests"]["/v1/chat/completions"] == 40 * 2  # the baseline's 40 items × 2 seeds
    manifest = json.loads((tmp_path / "cand" / "candidate" / "gpqa_diamond" / "manifest.json").read_text())
    assert manifest["task_config"]["limit"] == 40 and manifest["repeats"] == [0, 1]


@pytest.mark.parametrize("field", ["prompt_fingerprint", "dataset_fingerprint"])
def test_an_altered_baseline_is_refused_naming_the_field(sim, tmp_path: Path, data: Path, field: str) -> None:
    reference = sim("--data-dir", str(data))
    cfg = config(tmp_path / "ref.toml", reference=reference.url)
    env = {"EVALS_DATA_DIR": str(data)}
    for name in ("ref", "cand"):
        out = run_evals("run", "reference", "--limit", "100", "--config", str(cfg), "--out", str(tmp_path / name), env=env)
        assert out.returncode == 0
    run_evals("baseline", "save", str(tmp_path / "ref" / "reference"), "ref", "--root", str(tmp_path / "bl"), env=env)
    manifest_path = tmp_path / "bl" / "ref" / "gsm8k" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[field] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    restamp(tmp_path / "bl" / "ref")

    result = run_evals("gate", "--baseline", str(tmp_path / "bl" / "ref"), str(tmp_path / "cand" / "reference"))
    assert result.returncode == 4
    assert "ERROR" in result.stdout and field in result.stdout

    fresh, _ = gate_candidate(sim, tmp_path / "fresh", data, tmp_path / "bl" / "ref", 0.0)
    assert fresh.returncode == 4 and field in fresh.stdout


def test_junit_markdown_and_step_summary(sim, tmp_path: Path, data: Path) -> None:
    baseline = save_reference(sim, tmp_path, data, tasks="gsm8k,gpqa_diamond")
    # Break one task's comparability: gsm8k will be ERROR, gpqa_diamond decided on its numbers.
    manifest_path = baseline / "gsm8k" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["task_config"]["num_shots"] = 4
    manifest_path.write_text(json.dumps(manifest))
    restamp(baseline)

    junit, markdown = tmp_path / "gate.xml", tmp_path / "gate.md"
    result, _ = gate_candidate(sim, tmp_path, data, baseline, -0.3, "--junit", str(junit), "--markdown", str(markdown))
    assert result.returncode == 1, result.stdout + result.stderr  # gpqa regresses; REGRESSION outranks ERROR

    suite = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"gsm8k", "gpqa_diamond"} and suite.get("failures") == "2"
    assert cases["gpqa_diamond"].find("failure").get("type") == "REGRESSION"
    assert cases["gsm8k"].find("failure").get("message").startswith("gsm8k: ERROR: runs are not comparable")
    assert "| task" in markdown.read_text() and "REGRESSION" in markdown.read_text()


def test_step_summary_is_appended(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("task,n_items,repeats,score_ref,score_cand\ngsm8k,5000,1,0.9,0.9\n")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    junit = tmp_path / "j.xml"
    result = run_evals("gate", "--summary", str(table), "--junit", str(junit), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## evals gate" in text and "LOSSLESS" in text
    assert ET.parse(junit).getroot().get("failures") == "0"


def test_a_run_with_too_many_errors_is_not_saved(sim, tmp_path: Path, data: Path) -> None:
    flaky = sim("--data-dir", str(data), "--fault-rate", "0.5")
    cfg = tmp_path / "evals.toml"
    cfg.write_text(f'[endpoints.flaky]\nbase_url = "{flaky.url}"\nmax_retries = 0\n')
    run = run_evals("run", "flaky", "--limit", "50", "--config", str(cfg), "--out", str(tmp_path / "run"), env={"EVALS_DATA_DIR": str(data)})
    assert run.returncode == 4
    saved = run_evals("baseline", "save", str(tmp_path / "run" / "flaky"), "bad", "--root", str(tmp_path / "bl"))
    assert saved.returncode == 2 and "max_error_rate" in saved.stderr and not (tmp_path / "bl" / "bad").exists()


def test_the_shipped_baseline_gates_offline(sim, tmp_path: Path, data_dir: Path) -> None:
    """baselines/sim-gsm8k came from `evals sim` (reference, seed 0): the same profile passes, a damaged one does not."""
    shipped = REPO / "baselines" / "sim-gsm8k"
    same = sim()
    cfg = tmp_path / "evals.toml"
    cfg.write_text(f'[endpoints.candidate]\nbase_url = "{same.url}"\n')
    result = run_evals("gate", "--baseline", str(shipped), "--candidate", "candidate", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stdout + result.stderr
    damaged = sim("--profile", "quantized", "--delta", "-0.12")
    cfg.write_text(f'[endpoints.candidate]\nbase_url = "{damaged.url}"\n')
    result = run_evals("gate", "--baseline", str(shipped), "--candidate", "candidate", "--config", str(cfg), "--out", str(tmp_path / "p"))
    assert result.returncode == 1, result.stdout + result.stderr


def named_run(folder: Path, logs: list[str]) -> Path:
    """A finished one-record run whose manifest names `logs` as inspect's eval logs (written by hand: what is
    tested is which names save_baseline follows, not inspect)."""
    from evals.records import Manifest, Record, RunStore

    store = RunStore(folder / "t")
    store.open()
    store.append(Record(task="t", item_id="a", endpoint="e", request_hash="h", score=1.0))
    store.close()
    store.write_manifest(Manifest(task="t", task_version="1", task_config={}, dataset_fingerprint="d", prompt_fingerprint="p", sampling={},
                                  endpoint="e", base_url="", model="m", tool_version="", items=1, repeats=[0], started_at="",
                                  status="complete", records=1, extra={"inspect_logs": logs}))
    return folder


@pytest.mark.parametrize("name", ["../outside.eval", "{tmp}/outside.eval", "inspect-logs/link.eval", "inspect-logs/absent.eval", "manifest.json"])
def test_a_named_file_outside_the_run_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    from evals.baseline import save_baseline
    from evals.errors import UsageError

    (tmp_path / "outside.eval").write_text("not the run's")
    run = named_run(tmp_path / "run", [name.format(tmp=tmp_path)])
    (run / "t" / "inspect-logs").mkdir()
    (run / "t" / "inspect-logs" / "link.eval").symlink_to(tmp_path / "outside.eval")
    with pytest.raises(UsageError, match="not a file inside"):
        save_baseline(run, "b", tmp_path / "bl", max_error_rate=0.0)
    assert not (tmp_path / "bl").exists() and not (tmp_path / "run" / "outside.eval").exists()


def test_a_named_file_is_kept_at_its_name_and_verified(tmp_path: Path) -> None:
    from evals.baseline import save_baseline, verify

    run = named_run(tmp_path / "run", ["inspect-logs/a/x.eval"])
    (run / "t" / "inspect-logs" / "a").mkdir(parents=True)
    (run / "t" / "inspect-logs" / "a" / "x.eval").write_bytes(b"log")
    baseline = save_baseline(run, "b", tmp_path / "bl", max_error_rate=0.0)
    assert (baseline / "t" / "inspect-logs" / "a" / "x.eval").read_bytes() == b"log"
    assert verify(baseline) == (["t"], {})
    (baseline / "t" / "inspect-logs" / "a" / "x.eval").unlink()
    good, problems = verify(baseline)
    assert good == [] and problems["t"].endswith("x.eval missing from the baseline")
    # a baseline.json without the log's digest (an older evals's) is not taken for whole
    info = json.loads((baseline / "baseline.json").read_text())
    del info["tasks"]["t"]["files_sha256"]
    (baseline / "baseline.json").write_text(json.dumps(info))
    assert "holds no sha256 for" in verify(baseline)[1]["t"]
