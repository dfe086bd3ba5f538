"""An inspect_evals registry task (`inspect:inspect_evals/cybermetric_80`), run by inspect_evals' own
code, fully offline on local data.

inspect_evals reads CyberMetric from its cache when the converted file is there
(`INSPECT_EVALS_CACHE_DIR/cybermetric/CyberMetric-80.jsonl`, in `cybermetric.load_dataset`:
downloaded and checked against its sha256 only when it is not): `INSPECT_EVALS_CACHE_DIR` is
inspect_evals' documented way to "point it at a pre-populated directory". The test fills that
cache with questions of its own, and gives the same questions to the simulator in GPQA's CSV
layout (its GPQA catalog answers a lettered multiple-choice prompt right or wrong per item), so
that each record's score can be checked against the answer the simulator gave. Nothing is
faked on inspect_evals' side: its task, `multiple_choice()` solver and `choice()` scorer run.
gpqa_diamond and mgsm cannot be run this way: they check their cached CSV's sha256 against the
real file's, which may not be published in plain text here.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from conftest import REPO, run_evals

from evals.synthetic import GPQA_COLUMNS

pytest.importorskip("inspect_evals.cybermetric")

TASK = "inspect:inspect_evals/cybermetric_80"
N = 24


def questions(seed: int = 0) -> list[dict[str, object]]:
    """CyberMetric records (`question`, `answers` by letter, `solution`), the right letter varying."""
    rng = random.Random(seed)
    out = []
    for i in range(N):
        values = rng.sample(range(2, 99), 4)
        letters = "ABCD"
        right = letters[i % 4]
        answers = {letter: f"port {v}" for letter, v in zip(letters, values)}
        out.append({"question": f"Offline question {i}: which port does service {i} listen on?", "answers": answers, "solution": right})
    return out


def simulator_rows(records: list[dict[str, object]]) -> list[dict[str, str]]:
    """The same questions as the simulator's GPQA catalog knows them: the prompt's question as
    cybermetric's `record_to_sample` writes it (the options in the question, the choices are
    their letters), the right letter as the right choice."""
    rows = []
    for i, r in enumerate(records):
        answers: dict[str, str] = r["answers"]  # type: ignore[assignment]
        options = ", ".join(f"{k}) {v}" for k, v in answers.items())
        wrong = [k for k in answers if k != r["solution"]]
        question = f"Question: {r['question']}\nOptions: {options}\n\n"
        rows.append({"Pre-Revision Question": question, "Question": question, "Correct Answer": str(r["solution"]),
                     "Incorrect Answer 1": wrong[0], "Incorrect Answer 2": wrong[1], "Incorrect Answer 3": wrong[2],
                     "Explanation": "", "Record ID": f"rec{i}", "High-level domain": "Security", "Subdomain": "Networks"})
    return rows


def test_a_registry_task_runs_offline_from_inspect_evals_own_cache(sim, tmp_path: Path) -> None:
    records = questions()
    cache = tmp_path / "inspect-evals-cache"
    (cache / "cybermetric").mkdir(parents=True)
    (cache / "cybermetric" / "CyberMetric-80.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    data = tmp_path / "sim-data"
    (data / "gpqa").mkdir(parents=True)
    with (data / "gpqa" / "gpqa_diamond.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=GPQA_COLUMNS)
        writer.writeheader()
        writer.writerows(simulator_rows(records))
    server = sim("--data-dir", str(data))
    cfg = tmp_path / "evals.toml"
    cfg.write_text(f'[endpoints.sim]\nbase_url = "{server.url}"\nmax_retries = 0\n')
    # no network: a proxy that refuses, the hub offline; inspect_evals must find its data in the cache
    env = {"INSPECT_EVALS_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": "127.0.0.1,localhost"}
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(cfg), "--out", str(tmp_path / "out"), cwd=REPO, env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    folder = tmp_path / "out" / "sim" / "inspect_inspect_evals_cybermetric_80"
    lines = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert len(lines) == N and all(r["error"] is None and r["details"]["scorer"] == "choice" for r in lines)
    # the sample ids are inspect's (cybermetric loads with auto_id: 1, 2, ... in file order), and each
    # score is whether the letter the simulator answered is the record's solution
    solution = {str(i + 1): r["solution"] for i, r in enumerate(records)}
    assert {r["item_id"] for r in lines} == set(solution)
    assert all(r["score"] == float(r["extracted"] == solution[r["item_id"]]) for r in lines)
    assert 0 < sum(r["score"] for r in lines) < N  # the simulator answers some wrong
    assert not any(r["invalid"] for r in lines)  # a letter on every answer: choice() read them all, wrong ones too
    assert server.stats()["requests"]["/v1/chat/completions"] == N
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["items"] == N and manifest["status"] == "complete" and manifest["extra"]["binary_scores"] is True
    assert manifest["extra"]["inspect_evals"] and manifest["task_config"]["epochs"] == 1
