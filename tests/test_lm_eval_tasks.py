"""`--tasks lm-eval:NAME`: per-document parity with lm-eval's own `simple_evaluate` on the same simulator.

lm-eval runs its stock `gsm8k` (completions) and `gsm8k_cot_llama` (chat, few-shot as
multi-turn) configs against a simulator through its own `local-completions` and
`local-chat-completions` models; `evals run` runs the same tasks against the same simulator.
Every document's prompt (or messages), and its score under every filter, must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lm_eval
import pytest
import yaml
from conftest import run_evals

LIMIT = 30
GSM8K_DIR = Path(lm_eval.__file__).parent / "tasks" / "gsm8k"
TASKS = {"gsm8k": ("gsm8k.yaml", False), "gsm8k_cot_llama": ("gsm8k-cot-llama.yaml", True)}
SYSTEM = "You are a careful grade-school math tutor."  # chat only: lm-eval's --system_instruction


def data_files(data_dir: Path) -> dict[str, str]:
    return {s: str(data_dir / "gsm8k" / f"{s}.jsonl") for s in ("train", "test")}


def write_config(path: Path, url: str, data_dir: Path) -> Path:
    files = ", ".join(f'{k} = "{v}"' for k, v in data_files(data_dir).items())
    text = f'[endpoints.sim]\nbase_url = "{url}"\nmax_concurrency = 8\n'
    for name, (_, chat) in TASKS.items():
        text += f'\n[tasks."lm-eval:{name}"]\nlimit = {LIMIT}\nchat = {str(chat).lower()}\ndata_files = {{ {files} }}\n'
        text += f'system_instruction = "{SYSTEM}"\n' if chat else ""
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Any:
    """One simulator; `evals run` on both tasks; then lm-eval's own run of each, on demand."""
    from conftest import start_sim

    sim = start_sim(data_dir=data_dir)
    tmp = tmp_path_factory.mktemp("lm-eval")
    config = write_config(tmp / "evals.toml", sim.url, data_dir)
    result = run_evals("run", "sim", "--tasks", ",".join(f"lm-eval:{t}" for t in TASKS), "--config", str(config), "--out", str(tmp / "out"),
                       env={"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    try:
        assert result.returncode == 0, result.stderr
        yield sim, tmp / "out" / "sim"
    finally:
        sim.stop()


def lm_eval_samples(name: str, url: str, data_dir: Path) -> list[dict[str, Any]]:
    """lm-eval's `simple_evaluate` on its stock config, data redirected to the local files."""
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    filename, chat = TASKS[name]
    config = yaml.safe_load((GSM8K_DIR / filename).read_text())
    config.pop("tag", None)
    config.pop("dataset_name")
    config["dataset_path"] = "json"
    config["dataset_kwargs"] = {"data_files": data_files(data_dir)}
    model = "local-chat-completions" if chat else "local-completions"
    results = lm_eval.simple_evaluate(
        model=model,
        model_args={"base_url": f"{url}/{'chat/completions' if chat else 'completions'}", "model": "sim-reference", "tokenizer_backend": None,
                    "tokenized_requests": False, "max_retries": 1},
        tasks=[ConfigurableTask(config=config)],
        task_manager=TaskManager(include_defaults=False, include_path=str(GSM8K_DIR)),
        limit=LIMIT,
        apply_chat_template=chat,
        fewshot_as_multiturn=chat,
        system_instruction=SYSTEM if chat else None,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert results is not None
    return results["samples"][name]


def read_records(folder: Path) -> dict[int, dict[str, Any]]:
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    return {int(r["item_id"].split(":")[1]): r for r in records}


@pytest.mark.parametrize("name", list(TASKS))
def test_every_document_agrees_with_lm_evals_own_run(both: Any, name: str, data_dir: Path) -> None:
    sim, out = both
    theirs = lm_eval_samples(name, sim.url, data_dir)
    ours = read_records(out / f"lm-eval_{name}")
    manifest = json.loads((out / f"lm-eval_{name}" / "manifest.json").read_text())
    chat = TASKS[name][1]
    filters = {s["filter"] for s in theirs}
    assert filters == {"strict-match", "flexible-extract"} and len(ours) == LIMIT
    assert len(theirs) == LIMIT * len(filters)
    scores = {f: [] for f in filters}
    for sample in theirs:
        record = ours[sample["doc_id"]]
        assert record["error"] is None
        context = sample["arguments"][0][0]
        while isinstance(context, (list, tuple)):  # chat: lm-eval's JsonChatStr, a one-field tuple (maybe nested)
            context = context[0]
        request = json.loads(context) if chat else context
        if chat:
            assert request[0] == {"role": "system", "content": SYSTEM} and len(request) == 2 * 8 + 2  # system, 8 shots as turns, the question
        # what our runner sent is what lm-eval built: the manifest's fingerprint of this request
        sent = {"kind": "chat" if chat else "completion", "prompt": None if chat else request, "messages": request if chat else None}
        assert _fingerprint_matches(manifest, record, sent)
        assert record["response"].strip() == sample["resps"][0][0].strip()
        assert record["details"]["metrics"][sample["filter"]] == {"exact_match": sample["exact_match"]}, (sample["doc_id"], sample["filter"])
        assert record["details"]["filtered"][sample["filter"]] == sample["filtered_resps"][0]
        scores[sample["filter"]].append(sample["exact_match"])
    # the primary score is lm-eval's first metric under its first filter
    assert [ours[i]["score"] for i in range(LIMIT)] == [next(s["exact_match"] for s in theirs if s["doc_id"] == i and s["filter"] == "strict-match") for i in range(LIMIT)]
    assert 0 < sum(scores["strict-match"]) < LIMIT  # the simulator answers some wrong: the comparison can fail
    assert manifest["extra"]["lm_eval_version"] == lm_eval.__version__ and manifest["extra"]["binary_scores"] is True


def _fingerprint_matches(manifest: dict[str, Any], record: dict[str, Any], sent: dict[str, Any]) -> bool:
    from evals.tasks.base import Request

    params = manifest["sampling"]
    request = Request(kind=sent["kind"], prompt=sent["prompt"], messages=sent["messages"], params=params)
    return request.fingerprint() == record["request_hash"] == manifest["extra"]["request_fingerprints"][f"{record['item_id']}@{record['repeat']}"]


# ---------------------------------------------------------------- the example YAML, options, the gate

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = "lm-eval:examples/lm-eval-task/arith.yaml"


def example_task(monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    """The README's user-written YAML group, as the CLI builds it (data paths relative to the repository)."""
    from evals.tasks.lm_eval_harness import LmEvalOptions, LmEvalTask

    monkeypatch.chdir(REPO)
    return LmEvalTask(LmEvalOptions(**options), None, EXAMPLE.split(":", 1)[1])


def test_example_yaml_every_filter_and_metric_and_its_macro(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.tasks.base import Response

    task = example_task(monkeypatch)
    items = task.load_items()
    assert {i.input["task"] for i in items} == {"arith_add", "arith_mul"} and len(items) == 80
    item = next(i for i in items if i.input["task"] == "arith_mul")
    request = task.build_request(item, 1234)
    assert request.kind == "completion" and request.prompt.count("Question: ") == 3  # two shots, lm-eval's sampler
    assert request.params == {"max_tokens": 64, "temperature": 0, "stop": ["Question:", "\n\n"], "seed": 1234}
    gold = int(item.gold)
    scored = task.score(item, 1234, Response(text=f" It is {gold + 1}, so the answer is {gold}."))
    assert scored.score == 0.0  # strict-match wants "The answer is N": capital T
    assert scored.details["metrics"]["flexible-extract"] == {"exact_match": 1.0, "closeness": 1.0}
    assert scored.details["group"] == "arith_mul"  # weight_by_size: false, a macro over the subtasks
    assert task.item_details(item) == {"group": "arith_mul"}  # an error record of the item says it too
    assert task.binary() and task.manifest_extra()["binary_scores"] is True

    partial = example_task(monkeypatch, metric="closeness,strict-match")
    near = partial.score(item, 1234, Response(text=f"The answer is {gold + 1}"))
    assert 0 < near.score < 1 and not partial.binary()  # partial credit: the gate's paired t, not a proportion


def test_a_metric_the_task_does_not_have_is_one_line_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.errors import UsageError

    with pytest.raises(UsageError, match=r'metric = "accuracy,strict-match" is not one of exact_match,strict-match, closeness,strict-match'):
        example_task(monkeypatch, metric="accuracy,strict-match").load_items()


def test_the_gate_refuses_runs_of_different_lm_eval_configs() -> None:
    from evals.gate import mismatch
    from evals.records import Manifest

    base = dict(task=EXAMPLE, task_version="1", task_config={}, dataset_fingerprint="d", prompt_fingerprint="p", sampling={}, endpoint="a",
                base_url="http://x/v1", model="m", tool_version="0", items=1, repeats=[0], started_at="now")
    ref = Manifest(**base, extra={"lm_eval_version": "0.4.13", "lm_eval_config_hash": "aaa", "request_fingerprints": {"x@0": "1"}})
    cand = Manifest(**base, extra={"lm_eval_version": "0.4.13", "lm_eval_config_hash": "bbb", "request_fingerprints": {"x@0": "2"}})
    problem = mismatch(ref, cand)
    assert problem is not None and "lm_eval_config_hash" in problem and "request_fingerprints (x@0" in problem
    assert mismatch(ref, ref) is None


# ---------------------------------------------------------------- compare over HTTP, and a kill -9

COT = "lm-eval:gsm8k_cot_llama"
COMPARE_ITEMS = 200
MARGIN = 0.04  # 200 items decide Δ = 0 and Δ = −0.1 against it (the simulator's seed is fixed)


def compare_config(path: Path, ref: str, cand: str, data_dir: Path, concurrency: int = 16) -> Path:
    files = ", ".join(f'{k} = "{v}"' for k, v in data_files(data_dir).items())
    path.write_text(
        f'[endpoints.fp8]\nbase_url = "{ref}"\nmax_concurrency = {concurrency}\nmax_retries = 0\n\n'
        f'[endpoints.mxfp4]\nbase_url = "{cand}"\nmax_concurrency = {concurrency}\nmax_retries = 0\n\n'
        f'[tasks."{COT}"]\nlimit = {COMPARE_ITEMS}\nchat = true\ndata_files = {{ {files} }}\n\n'
        f'[gate]\nmargins = {{ "{COT}" = {MARGIN} }}\n'
    )
    return path


def chat_served(server: Any) -> int:
    return server.stats()["requests"].get("/v1/chat/completions", 0)


def compare_in_process(config: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`evals compare` in this process: lm-eval's prompts, once built, are shared with the next test."""
    from evals import cli

    code = cli.main(["compare", "fp8", "mxfp4", "--tasks", COT, "--config", str(config), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_compare_true_delta_zero_is_lossless(sim, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ref, cand = sim("--seed", "3"), sim("--seed", "3", "--profile", "quantized", "--delta", "0")
    config = compare_config(tmp_path / "evals.toml", ref.url, cand.url, data_dir)
    code, output = compare_in_process(config, tmp_path / "out", capsys)
    gate = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert code == 0 and gate["verdict"] == "LOSSLESS", output
    (task,) = gate["tasks"]
    assert task["n"] == COMPARE_ITEMS and task["margin"] == MARGIN


def test_compare_killed_midway_resumes_with_only_the_missing_requests_then_finds_the_regression(
    sim, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """True Δ = −0.1: kill -9 of `evals compare` while both arms are sending, rerun, REGRESSION;
    the rerun (in this process) sends each missing request once."""
    import subprocess
    import sys
    import time

    from evals.records import read_records

    servers = {"fp8": sim("--seed", "3", "--latency-ms", "40"), "mxfp4": sim("--seed", "3", "--latency-ms", "40", "--profile", "quantized", "--delta", "-0.1")}
    config = compare_config(tmp_path / "evals.toml", servers["fp8"].url, servers["mxfp4"].url, data_dir, concurrency=4)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "evals", "compare", "fp8", "mxfp4", "--tasks", COT, "--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while min(chat_served(s) for s in servers.values()) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    assert proc.wait(timeout=10) == -9, "the run finished before it was killed"
    time.sleep(0.3)

    def done(arm: str) -> int:
        return sum(r.error is None for r in read_records(out / arm / "lm-eval_gsm8k_cot_llama" / "records.jsonl"))

    missing = {arm: COMPARE_ITEMS - done(arm) for arm in servers}
    assert all(0 < m < COMPARE_ITEMS for m in missing.values()), missing
    before = {arm: chat_served(s) for arm, s in servers.items()}
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    code, output = compare_in_process(config, out, capsys)
    assert code == 1, output
    assert f"resuming {out} (fp8/{COT}): {COMPARE_ITEMS - missing['fp8']:,} of {COMPARE_ITEMS:,} done" in output
    assert json.loads((out / "gate.json").read_text())["verdict"] == "REGRESSION"
    for arm, server in servers.items():
        assert chat_served(server) - before[arm] == missing[arm]  # only the missing ones were sent again
        assert done(arm) == COMPARE_ITEMS


def test_a_multiple_choice_task_without_a_tokenizer_is_refused_in_one_line_before_any_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """(tests/test_lm_eval_logprobs.py runs such tasks.)"""
    from evals.errors import UsageError
    from evals.tasks.lm_eval_harness import LmEvalOptions, LmEvalTask

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UsageError, match=r"^task lm-eval:arc_easy is a multiple_choice task, scored from prompt logprobs per token: set tokenizer"):
        LmEvalTask(LmEvalOptions(), None, "arc_easy").load_items()


def test_options_reach_lm_eval_and_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """num_fewshot, gen_kwargs, seeds, chat and system_instruction, on the example YAML."""
    task = example_task(monkeypatch, num_fewshot=0, gen_kwargs={"max_gen_toks": 16, "temperature": 0.7}, seeds=[1, 2], limit=3)
    items = task.load_items()
    assert len(items) == 6 and task.repeats() == [1, 2]  # limit per subtask, as lm-eval's --limit
    request = task.build_request(items[0], 2)
    assert request.prompt.count("Question: ") == 1  # no shots
    assert request.params == {"max_tokens": 16, "temperature": 0.7, "stop": ["Question:", "\n\n"], "seed": 2}
    chat = example_task(monkeypatch, chat=True, system_instruction="Be brief.", limit=1)
    messages = chat.build_request(chat.load_items()[0], 1234).messages
    assert messages[0] == {"role": "system", "content": "Be brief."} and [m["role"] for m in messages[1:]] == ["user", "assistant"] * 2 + ["user"]
