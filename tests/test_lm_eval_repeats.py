"""`repeats` for sampled lm-eval generate_until tasks: K seeds, one record per (document, seed),
each request carrying its seed, so a sampled answer is drawn afresh per repeat (the simulator
draws per seed, as a sampling server does) and the gate clusters the repeats by document."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_evals

REPO = Path(__file__).resolve().parents[1]
TASK = "lm-eval:examples/lm-eval-task/arith.yaml"


def test_repeats_send_one_request_per_seed_and_keep_one_record_each(sim, tmp_path: Path) -> None:
    server = sim()
    config = tmp_path / "evals.toml"
    config.write_text(f'[endpoints.sim]\nbase_url = "{server.url}"\nmax_concurrency = 8\n\n'
                      f'[tasks."{TASK}"]\nlimit = 10\nrepeats = 3\ngen_kwargs = {{ temperature = 0.7, do_sample = true }}\n')
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "sim" / "lm-eval_examples_lm-eval-task_arith.yaml"
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["repeats"] == [1234, 1235, 1236] and len(records) == 20 * 3
    assert manifest["sampling"]["temperature"] == 0.7 and "do_sample" not in manifest["sampling"]  # dropped, as local-completions drops it
    by_doc: dict[str, dict[int, float]] = {}
    for r in records:
        by_doc.setdefault(r["item_id"], {})[r["repeat"]] = r["score"]
    assert all(sorted(seeds) == [1234, 1235, 1236] for seeds in by_doc.values())
    assert any(len(set(scores.values())) > 1 for scores in by_doc.values())  # the seeds draw different answers
    assert {b["seed"] for b in server.stats()["last_bodies"]} <= {1234, 1235, 1236}


def test_seeds_and_repeats_together_are_one_line() -> None:
    import pytest
    from pydantic import ValidationError

    from evals.tasks.lm_eval_harness import LmEvalOptions

    assert LmEvalOptions(repeats=2).seeds == [1234, 1235] and LmEvalOptions().seeds == [1234]
    with pytest.raises(ValidationError, match="give either seeds or repeats, not both"):
        LmEvalOptions(repeats=2, seeds=[1, 2])
