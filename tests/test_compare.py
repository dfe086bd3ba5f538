"""`evals compare`, `evals gate`, `evals report` and `evals demo` end to end, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_evals


def two_sims(sim, delta: float, seed: int = 1):
    reference = sim("--profile", "reference", "--seed", str(seed))
    candidate = sim("--profile", "quantized", "--delta", str(delta), "--seed", str(seed))
    return reference, candidate


def write_config(path: Path, reference: str, candidate: str) -> Path:
    path.write_text(
        f'[endpoints.fp8]\nbase_url = "{reference}"\nmax_concurrency = 32\n\n'
        f'[endpoints.mxfp4]\nbase_url = "{candidate}"\nmax_concurrency = 32\n'
    )
    return path


def compare(sim, tmp_path: Path, delta: float, *extra: str) -> tuple[int, dict, str]:
    ref, cand = two_sims(sim, delta)
    config = write_config(tmp_path / "evals.toml", ref.url, cand.url)
    out = tmp_path / "out"
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", "gsm8k", "--config", str(config), "--out", str(out), *extra)
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads((out / "gate.json").read_text()), result.stdout


def test_true_delta_zero_full_set_is_lossless(sim, tmp_path: Path) -> None:
    code, gate, stdout = compare(sim, tmp_path, 0.0)
    (task,) = gate["tasks"]
    assert code == 0 and gate["verdict"] == "LOSSLESS" and task["n"] == 1319
    assert task["ci"][0] > -0.02
    assert "gsm8k: LOSSLESS" in stdout and "margin -0.02" in stdout
    for arm in ("fp8", "mxfp4"):
        lines = (tmp_path / "out" / arm / "gsm8k" / "records.jsonl").read_text().splitlines()
        assert len(lines) == 1319


def test_eight_points_worse_is_a_regression(sim, tmp_path: Path) -> None:
    code, gate, stdout = compare(sim, tmp_path, -0.08)
    (task,) = gate["tasks"]
    assert code == 1 and gate["verdict"] == "REGRESSION"
    assert task["ci"][1] < -0.02 and -0.11 < task["delta"] < -0.05
    assert task["mcnemar_p"] < 0.001


def test_delta_at_the_margin_on_200_items_is_inconclusive_and_says_how_many_items(sim, tmp_path: Path) -> None:
    """At the true Δ = −m the gate should, by design, mostly say it cannot tell (fixed seed)."""
    code, gate, stdout = compare(sim, tmp_path, -0.02, "--limit", "200")
    (task,) = gate["tasks"]
    assert code == 3 and gate["verdict"] == "INCONCLUSIVE" and task["n"] == 200
    assert task["ci"][0] <= -0.02 <= task["ci"][1]
    assert task["items_needed"] > 200
    assert f"about {task['items_needed']:,} items" in stdout


def test_gate_on_saved_runs_sends_nothing_and_agrees(sim, tmp_path: Path) -> None:
    ref, cand = two_sims(sim, -0.08)
    config = write_config(tmp_path / "evals.toml", ref.url, cand.url)
    out = tmp_path / "out"
    first = run_evals("compare", "fp8", "mxfp4", "--config", str(config), "--out", str(out), "--limit", "300")
    sent = (ref.stats()["requests"].get("/v1/completions"), cand.stats()["requests"].get("/v1/completions"))
    assert sent == (300, 300)

    gate = run_evals("gate", str(out / "fp8"), str(out / "mxfp4"), "--format", "json")
    assert gate.returncode == first.returncode == 1
    assert json.loads(gate.stdout)["tasks"][0]["delta"] == json.loads((out / "gate.json").read_text())["tasks"][0]["delta"]

    report = run_evals("report", str(out), "--format", "json")
    assert report.returncode == 1 and json.loads(report.stdout)["verdict"] == "REGRESSION"
    markdown = run_evals("report", str(out), "--format", "markdown", "--junit", str(tmp_path / "j.xml"))
    assert "| task" in markdown.stdout and "REGRESSION" in markdown.stdout
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()

    # A rerun of the same comparison resumes: nothing more is sent.
    again = run_evals("compare", "fp8", "mxfp4", "--config", str(config), "--out", str(out), "--limit", "300")
    assert again.returncode == 1
    assert (ref.stats()["requests"]["/v1/completions"], cand.stats()["requests"]["/v1/completions"]) == sent


def test_gate_refuses_runs_of_different_configurations(sim, tmp_path: Path) -> None:
    server = sim()
    a = run_evals("run", server.url, "--limit", "50", "--out", str(tmp_path / "a"))
    b = run_evals("run", server.url, "--limit", "60", "--out", str(tmp_path / "b"))
    assert a.returncode == b.returncode == 0
    (endpoint,) = [p.name for p in (tmp_path / "a").iterdir() if p.is_dir()]
    gate = run_evals("gate", str(tmp_path / "a" / endpoint), str(tmp_path / "b" / endpoint))
    assert gate.returncode == 4
    assert "ERROR" in gate.stdout and "task_config (limit: 50 vs 60)" in gate.stdout and "dataset_fingerprint" in gate.stdout


PUBLISHED = "task,n_items,repeats,score_ref,score_cand\ngsm8k,200,1,0.965,0.955\ngpqa_diamond,198,2,0.9217,0.9026\n"


def test_gate_summary_on_the_published_glm_table_is_inconclusive(tmp_path: Path) -> None:
    table = tmp_path / "glm.csv"
    table.write_text(PUBLISHED)
    result = run_evals("gate", "--summary", str(table), "--format", "json")
    assert result.returncode == 3
    verdict = json.loads(result.stdout)
    assert [(t["task"], t["verdict"], t["paired"]) for t in verdict["tasks"]] == [
        ("gsm8k", "INCONCLUSIVE", False),
        ("gpqa_diamond", "INCONCLUSIVE", False),
    ]
    text = run_evals("gate", "--summary", str(table)).stdout
    assert "unpaired" in text and "can only widen" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [("task,n,score_ref,score_cand\n", "missing column"), ("task,n_items,repeats,score_ref,score_cand\ngsm8k,lots,1,0.9,0.9\n", "line 2"),
     # an independent review's: not UTF-8 (exit 4, "unexpected UnicodeDecodeError"), an infinite SE (accepted), a task twice (both in Holm's family)
     ("task,n_items,repeats,score_ref,score_cand\ngsm8k,200,1,0.9,0.9,\xe9\n".encode("latin-1"), "not UTF-8"),
     ("task,n_items,repeats,score_ref,score_cand,se_ref,se_cand\ngsm8k,200,1,0.9,0.9,inf,0.01\n", "se_ref"),
     ("task,n_items,repeats,score_ref,score_cand\ngsm8k,200,1,0.9,0.9\ngsm8k,200,1,0.5,0.1\n", "again")],
)
def test_gate_summary_bad_table(tmp_path: Path, content: str | bytes, message: str) -> None:
    table = tmp_path / "t.csv"
    table.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_evals("gate", "--summary", str(table))
    assert result.returncode == 2 and message in result.stderr and str(table) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_gate_summary_advice_at_scores_of_0_and_1_does_not_say_nothing_would_decide_it(tmp_path: Path) -> None:
    """1 item, 1 against 0 (an independent review): the advice said no amount of unpaired data would decide it,
    which is not what a score of 0 or 1 means; it is that the normal approximation gives no number of items."""
    table = tmp_path / "t.csv"
    table.write_text("task,n_items,repeats,score_ref,score_cand\ngsm8k,1,1,1.0,0.0\n")
    result = run_evals("gate", "--summary", str(table), "--format", "json")
    advice = json.loads(result.stdout)["tasks"][0]["advice"]
    assert result.returncode == 3 and "no amount" not in advice and "0 or 1" in advice


def test_gate_summary_reads_a_spreadsheets_csv_utf8(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a byte-order mark, which made the first column "missing" (an independent review)."""
    table = tmp_path / "t.csv"
    table.write_bytes(b"\xef\xbb\xbftask,n_items,repeats,score_ref,score_cand\ngsm8k,200,1,0.9,0.9\n")
    result = run_evals("gate", "--summary", str(table))
    assert result.returncode == 3 and "gsm8k" in result.stdout, result.stderr


def test_demo_offline_on_synthetic_data(tmp_path: Path) -> None:
    """No data_dir and no hub: the demo makes its own word problems and says so."""
    env = {"EVALS_DATA_DIR": "", "HF_HUB_OFFLINE": "1"}
    result = run_evals("demo", "--out", str(tmp_path / "demo"), env=env, cwd=tmp_path, timeout=120)
    assert result.returncode in (0, 3), result.stderr
    assert "SYNTHETIC" in result.stdout and "verdict:" in result.stdout
    gate = json.loads((tmp_path / "demo" / "gate.json").read_text())
    assert gate["tasks"][0]["n"] == 1319


def test_demo_on_real_gsm8k(tmp_path: Path, data_dir: Path) -> None:
    result = run_evals("demo", "--delta", "-0.1", "--out", str(tmp_path / "demo"), env={"EVALS_DATA_DIR": str(data_dir)}, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "GSM8K test set from" in result.stdout and "REGRESSION" in result.stdout
