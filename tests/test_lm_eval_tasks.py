"""`--tasks lm-eval:NAME`: per-document parity with lm-eval's own `simple_evaluate` on the same simulator.

lm-eval runs its stock `gsm8k` (completions) and `gsm8k_cot_llama` (chat, few-shot as
multi-turn) configs against a simulator through its own `local-completions` and
`local-chat-completions` models; `evals run` runs the same tasks against the same simulator.
Every document's prompt (or messages), and its score under every filter, must agree.
"""

from __future__ import annotations

import json
import shutil
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
        if sample["filter"] == "strict-match":  # the score's filter: unreadable where lm-eval's own run found nothing
            assert record["invalid"] == (sample["filtered_resps"][0] == "[invalid]"), sample["doc_id"]
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


# ---------------------------------------------------------------- answers lm-eval's filters could not read

UNREAD_YAML = """\
# the example's questions, answered "The answer is N" by the simulator: "ANSWER: N" is never found
task: arith_unread
output_type: generate_until
dataset_path: json
dataset_kwargs:
  data_files:
    train: {repo}/examples/lm-eval-task/add_train.jsonl
    test: {repo}/examples/lm-eval-task/add_test.jsonl
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["Question:", "\\n\\n"]
  do_sample: false
  max_gen_toks: 64
filter_list:
  - name: answer-line           # a fallback of the task's own
    filter:
      - function: regex
        regex_pattern: "ANSWER: (\\\\-?[0-9]+)"
        fallback: "NONE"
      - function: take_first
  - name: whole                 # no regex: any answer is read as it is
    filter:
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def unread_yaml(folder: Path) -> Path:
    path = folder / "arith_unread.yaml"
    path.write_text(UNREAD_YAML.format(repo=REPO))
    return path


def test_an_answer_the_scored_filter_could_not_read_is_invalid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """lm-eval's `regex` filter hands back its fallback ("[invalid]", or the task's own) when it finds
    nothing: such a record is `invalid`, by the filter that is the score and no other, and so is an
    empty answer (a reasoning parser that filed it under reasoning_content) whatever the filter.
    These records said `invalid` false, so an lm-eval task whose every answer was unreadable gave
    0 against 0 and the gate could not see it."""
    from evals.tasks.base import Response
    from evals.tasks.lm_eval_harness import LmEvalOptions, LmEvalTask

    def unread(task: Any, text: str) -> bool:
        scored = task.score(item, 1234, Response(text=text))
        assert not scored.invalid or scored.score == 0.0  # a scored failure, as the native tasks' are
        return scored.invalid

    strict = example_task(monkeypatch)  # strict-match: "The answer is N", else "[invalid]"
    item = strict.load_items()[0]
    gold = int(item.gold)
    flexible = example_task(monkeypatch, metric="exact_match,flexible-extract")  # the last number anywhere
    assert flexible.load_items()[0].item_id == item.item_id
    assert [unread(strict, t) for t in (f"The answer is {gold}", f"The answer is {gold + 1}", f"so the answer is {gold}", "no idea", "", " \n")] == [
        False, False, True, True, True, True]
    assert [unread(flexible, t) for t in (f"so the answer is {gold}", "no idea", "")] == [False, True, True]

    own = unread_yaml(tmp_path)
    answer_line = LmEvalTask(LmEvalOptions(), None, str(own))  # the first filter: answer-line, fallback "NONE"
    item = answer_line.load_items()[0]
    scored = answer_line.score(item, 1234, Response(text="The answer is 5."))
    assert scored.extracted == "NONE" and scored.invalid
    assert not unread(answer_line, f"ANSWER: {item.gold}")
    whole = LmEvalTask(LmEvalOptions(metric="exact_match,whole"), None, str(own))
    whole.load_items()
    assert [unread(whole, t) for t in ("The answer is 5.", "no idea", "")] == [False, False, True]

    # a fallback that is a real answer, and right: a scored success, never unreadable (an independent review)
    right = tmp_path / "arith_fallback_right.yaml"
    right.write_text(own.read_text().replace("task: arith_unread", "task: arith_fallback_right").replace('fallback: "NONE"', f'fallback: "{item.gold}"'))
    fallback_right = LmEvalTask(LmEvalOptions(), None, str(right))
    scored = fallback_right.score(fallback_right.load_items()[0], 1234, Response(text="no idea"))
    assert scored.extracted == str(item.gold) and scored.score == 1.0 and not scored.invalid

    # a `map` after the regex carries the fallback to its default: that is what an unread answer looks like
    mapped = tmp_path / "arith_mapped.yaml"
    mapped.write_text(own.read_text().replace("task: arith_unread", "task: arith_mapped").replace(
        '        fallback: "NONE"\n      - function: take_first\n',
        f'        fallback: "NONE"\n      - function: map\n        mapping_dict: {{"{item.gold}": "{item.gold}"}}\n        default_value: "unmapped"\n      - function: take_first\n'))
    map_task = LmEvalTask(LmEvalOptions(), None, str(mapped))
    item = map_task.load_items()[0]
    scored = map_task.score(item, 1234, Response(text="no idea"))
    assert scored.extracted == "unmapped" and scored.invalid
    assert not unread(map_task, f"ANSWER: {item.gold}")


def test_lm_evals_stock_gsm8k_reads_what_the_native_gsm8k_reads(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stock `gsm8k` task (strict-match scored, flexible-extract beside it) marks the answers the
    native `gsm8k` in lm-eval format marks (its strict-match fallback): one rule, two paths."""
    from evals.tasks.base import Response
    from evals.tasks.gsm8k import score_lm_eval
    from evals.tasks.lm_eval_harness import LmEvalOptions, LmEvalTask

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    task = LmEvalTask(LmEvalOptions(limit=2, data_files=data_files(data_dir)), None, "gsm8k")
    item = task.load_items()[0]
    texts = ["Half of 10 is 5.\n#### 5", "Half of 10 is 5. The answer is 5.", "I do not know.", ""]
    assert [task.score(item, 1234, Response(text=t)).invalid for t in texts] == [score_lm_eval(t, item.gold).invalid for t in texts] == [False, True, True, True]


def test_compare_where_no_answer_could_be_read_is_error(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Over HTTP: both arms answer every question in a form the task's filter cannot read. 0 against 0
    on every item is no evidence; the reference's unreadable answers are past max_invalid_rate: ERROR."""
    from evals import cli

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    ref, cand = sim("--seed", "3"), sim("--seed", "3", "--profile", "quantized", "--delta", "0")
    task = f"lm-eval:{unread_yaml(tmp_path)}"
    config = tmp_path / "evals.toml"
    config.write_text(f'[endpoints.fp8]\nbase_url = "{ref.url}"\nmax_retries = 0\n\n[endpoints.mxfp4]\nbase_url = "{cand.url}"\nmax_retries = 0\n\n'
                      f'[gate]\nmargins = {{ "{task}" = 0.05 }}\n')
    code = cli.main(["compare", "fp8", "mxfp4", "--tasks", task, "--config", str(config), "--out", str(tmp_path / "out")])
    output = "".join(capsys.readouterr())
    gate = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert code == 4 and gate["verdict"] == "ERROR", output
    assert "the reference gave no answer the task could read on 100% of its draws (40" in output, output
    assert 'metric = "exact_match,flexible-extract"' in output  # what to do: score a filter that reads more
    (folder,) = (tmp_path / "out" / "fp8").iterdir()
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert len(records) == 40 and all(r["invalid"] and r["extracted"] == "NONE" and r["response"].strip() for r in records)


@pytest.mark.parametrize("code", ["1", ""])
def test_task_code_calling_sys_exit_is_an_error_never_a_verdicts_exit_code(sim, tmp_path: Path, code: str) -> None:
    """An independent review: a task's process_results that calls sys.exit (lm-eval's own tasks/score
    utilities do, with no argument) ended `evals compare` with exit 1 (or 0) and no verdict, both runs left
    "running". Now each answer it cannot score is an error record, and the comparison exits 4."""
    ref, cand = sim("--seed", "3"), sim("--seed", "3", "--profile", "quantized", "--delta", "0")
    task = tmp_path / "task"
    task.mkdir()
    for name in ("_arith_template.yaml", "add_train.jsonl", "add_test.jsonl"):
        shutil.copy(REPO / "examples" / "lm-eval-task" / name, task / name)
    (task / "arith_add.yaml").write_text((REPO / "examples" / "lm-eval-task" / "arith_add.yaml").read_text().replace("examples/lm-eval-task/", f"{task}/"))
    (task / "utils.py").write_text(f"import sys\n\n\ndef process_results(doc, results):\n    sys.exit({code})\n")
    config = tmp_path / "evals.toml"
    config.write_text(f'[endpoints.fp8]\nbase_url = "{ref.url}"\n[endpoints.mxfp4]\nbase_url = "{cand.url}"\n')
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", f"lm-eval:{task / 'arith_add.yaml'}", "--limit", "10", "--config", str(config),
                       "--out", str(tmp_path / "out"), cwd=tmp_path, env={"HF_DATASETS_OFFLINE": "1"})
    assert result.returncode == 4, result.stdout + result.stderr
    for arm in ("fp8", "mxfp4"):
        (folder,) = (tmp_path / "out" / arm).iterdir()
        lines = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
        assert len(lines) == 10 and all("SystemExit" in r["error"] for r in lines), lines[:2]
        assert json.loads((folder / "manifest.json").read_text())["status"] == "incomplete"  # ended, its errors to retry (a crash leaves "running")


def test_task_code_calling_sys_exit_while_building_is_one_line_naming_the_task(tmp_path: Path) -> None:
    """lm-eval's own tasks/score/utils.py calls sys.exit() at import when its templates are missing: the
    task cannot be built, which is said in one line (exit 2), not exit 0 with nothing run."""
    task = tmp_path / "task"
    task.mkdir()
    for name in ("_arith_template.yaml", "add_train.jsonl", "add_test.jsonl"):
        shutil.copy(REPO / "examples" / "lm-eval-task" / name, task / name)
    (task / "arith_add.yaml").write_text((REPO / "examples" / "lm-eval-task" / "arith_add.yaml").read_text().replace("examples/lm-eval-task/", f"{task}/"))
    (task / "utils.py").write_text("import sys\n\nsys.exit()\n")
    result = run_evals("run", "http://127.0.0.1:9/v1", "--tasks", f"lm-eval:{task / 'arith_add.yaml'}", "--out", str(tmp_path / "out"),
                       cwd=tmp_path, env={"HF_DATASETS_OFFLINE": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "called sys.exit(None) while building it" in result.stderr, result.stderr
