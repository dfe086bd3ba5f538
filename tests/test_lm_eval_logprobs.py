"""`loglikelihood` and `multiple_choice` lm-eval tasks, scored from prompt logprobs (echo + logprobs).

The project's own group `examples/lm-eval-mc/arith_mc.yaml` (two multiple_choice subtasks with
acc and acc_norm, one loglikelihood subtask with acc and perplexity, size-weighted) runs through
lm-eval's own `simple_evaluate` with its `local-completions` model and through `evals run`,
against one simulator that serves prompt logprobs as vLLM does, tokenized by the example's tiny
BPE tokenizer (the same folder is lm-eval's `tokenizer` model arg and the task's `tokenizer`).
Every document's log-likelihoods and metrics must agree. Then the gate over HTTP, and the two
ways an endpoint fails these tasks: no prompt logprobs at all (one line, before any request),
and an answer without them (an error record, never a score).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lm_eval
import pytest
from conftest import run_evals

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "examples" / "lm-eval-mc"
TOKENIZER = FOLDER / "tokenizer"
TASK = "lm-eval:examples/lm-eval-mc/arith_mc.yaml"
SUBTASKS = {"arith_mc_add": 40, "arith_mc_mul": 24, "arith_ll_add": 16}
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def write_config(path: Path, urls: dict[str, str], tokenized: bool = True, margin: float | None = None, retries: int = 2) -> Path:
    text = "".join(f'[endpoints.{name}]\nbase_url = "{url}"\nmax_concurrency = 8\nmax_retries = {retries}\nretry_backoff_s = 0.01\n\n' for name, url in urls.items())
    text += f'[tasks."{TASK}"]\ntokenizer = "{TOKENIZER}"\ntokenized_requests = {str(tokenized).lower()}\n'
    if margin is not None:
        text += f'\n[gate]\nmargins = {{ "{TASK}" = {margin} }}\n'
    path.write_text(text)
    return path


def lm_eval_samples(url: str, tokenized: bool) -> dict[str, list[dict[str, Any]]]:
    """lm-eval's own run of the group, through its local-completions model."""
    from lm_eval.tasks import TaskManager

    results = lm_eval.simple_evaluate(
        model="local-completions",
        model_args={"base_url": f"{url}/completions", "model": "sim-reference", "tokenizer": str(TOKENIZER), "tokenizer_backend": "huggingface",
                    "tokenized_requests": tokenized, "max_retries": 1},
        tasks=["arith_mc"],
        task_manager=TaskManager(include_defaults=False, include_path=str(FOLDER)),
        log_samples=True,
        bootstrap_iters=0,
    )
    assert results is not None
    return results["samples"]


def read_records(folder: Path) -> dict[tuple[str, int], dict[str, Any]]:
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    return {(r["item_id"].split(":")[0], int(r["item_id"].split(":")[1])): r for r in records}


@pytest.mark.parametrize("tokenized", [True, False], ids=["token-ids", "text"])
def test_every_document_agrees_with_lm_evals_local_completions(sim, tmp_path: Path, tokenized: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the YAMLs name their data files from the repository's root, as lm-eval reads them
    server = sim("--tokenizer", str(TOKENIZER))
    config = write_config(tmp_path / "evals.toml", {"sim": server.url}, tokenized)
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO, env=OFFLINE)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "sim" / "lm-eval_examples_lm-eval-mc_arith_mc.yaml"
    ours = read_records(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(ours) == sum(SUBTASKS.values()) and all(r["error"] is None for r in ours.values())
    assert not any(r["invalid"] for r in ours.values())  # a log-likelihood is always an answer (and the text of these answers is empty)
    assert manifest["sampling"] == {"temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": True}  # local-completions' body

    theirs = lm_eval_samples(server.url, tokenized)
    assert {name: len(samples) for name, samples in theirs.items()} == SUBTASKS
    for name, samples in theirs.items():
        metrics = ["acc", "perplexity"] if name == "arith_ll_add" else ["acc", "acc_norm"]
        for sample in samples:
            record = ours[(name, sample["doc_id"])]
            answers = [resp[0] for resp in sample["resps"]]  # one (log-likelihood, is_greedy) per request
            assert record["details"]["loglikelihoods"] == [a[0] for a in answers], (name, sample["doc_id"])
            assert record["details"]["is_greedy"] == [a[1] for a in answers]
            assert record["details"]["metrics"]["none"] == {m: sample[m] for m in metrics}, (name, sample["doc_id"])
            assert record["score"] == sample["acc"]
    # the simulator knows some items and not others: the comparison above can fail
    for name in SUBTASKS:
        scores = [r["score"] for (subtask, _), r in ours.items() if subtask == name]
        assert 0 < sum(scores) < len(scores), name
    # token ids or text on the wire, as lm-eval sends them
    prompts = server.stats()["last_bodies"][-1]["prompt"]
    assert all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompts) if tokenized else all(isinstance(p, str) for p in prompts)


def compare(config: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from evals import cli

    code = cli.main(["compare", "fp8", "mxfp4", "--tasks", TASK, "--config", str(config), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(("delta", "verdict", "code"), [("0", "LOSSLESS", 0), ("-0.4", "REGRESSION", 1)])
def test_compare_over_http(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], delta: str, verdict: str, code: int) -> None:
    monkeypatch.chdir(REPO)
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    ref = sim("--seed", "5", "--tokenizer", str(TOKENIZER))
    cand = sim("--seed", "5", "--tokenizer", str(TOKENIZER), "--profile", "quantized", "--delta", delta)
    config = write_config(tmp_path / "evals.toml", {"fp8": ref.url, "mxfp4": cand.url}, margin=0.1)
    got, output = compare(config, tmp_path / "out", capsys)
    gate = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert got == code and gate["verdict"] == verdict, output
    (task,) = gate["tasks"]
    assert task["n"] == sum(SUBTASKS.values())
    # the group weights by size: the verdict pools the documents, each subtask is a row beside it
    assert task["groups"] == {} and {name: row["n"] for name, row in task["subtasks"].items()} == SUBTASKS
    pooled = sum(row["delta"] * row["n"] for row in task["subtasks"].values()) / task["n"]
    assert abs(pooled - task["delta"]) < 1e-9
    assert f"{TASK} subtask (pooled by size)" in output and all(f"\n{name} " in output for name in SUBTASKS)


def test_an_endpoint_without_prompt_logprobs_is_one_line_before_any_request(sim, tmp_path: Path) -> None:
    """OpenAI's answer to echo + logprobs (HTTP 400): one probe, one line, exit 2, no records."""
    server = sim()  # no --tokenizer: it refuses prompt logprobs
    config = write_config(tmp_path / "evals.toml", {"sim": server.url})
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO, env=OFFLINE)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"evals: error: endpoint sim cannot serve {TASK}, a loglikelihood and multiple_choice task: it needs prompt logprobs from ")
    assert "/completions (echo + logprobs, as vLLM and sglang serve them); the probe got HTTP 400: " in lines[0]
    assert server.stats()["requests"].get("/v1/completions") == 1  # the probe, and nothing else
    assert not list((tmp_path / "out").rglob("records.jsonl")) or all(not p.read_text() for p in (tmp_path / "out").rglob("records.jsonl"))


def test_an_answer_without_logprobs_is_an_error_record_not_a_score(sim, tmp_path: Path) -> None:
    """A server that drops `logprobs` from some answers: those documents are errors, never scored."""
    server = sim("--tokenizer", str(TOKENIZER), "--fault", "nologprobs:0.3")
    config = write_config(tmp_path / "evals.toml", {"sim": server.url}, retries=0)
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO, env=OFFLINE)
    records = list(read_records(tmp_path / "out" / "sim" / "lm-eval_examples_lm-eval-mc_arith_mc.yaml").values())
    errors = [r for r in records if r["error"] is not None]
    assert 0 < len(errors) < len(records), result.stderr
    assert all(r["extracted"] is None and r["details"] == {} and "no prompt logprobs in choice 0 (the request asked for echo + logprobs)" in r["error"] for r in errors)
    assert server.stats()["requests"]["fault:nologprobs"] == len(errors)  # the probe was not struck, every struck answer is an error


# ---------------------------------------------------------------- without a server


def make_task(monkeypatch: pytest.MonkeyPatch, spec: str = TASK.split(":", 1)[1], **options: Any) -> Any:
    from evals.tasks.lm_eval_harness import LmEvalOptions, LmEvalTask

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return LmEvalTask(LmEvalOptions(**options), None, spec)


def test_the_request_is_lm_evals_tokens_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """One request per document holding each choice's context + continuation tokens, as lm-eval
    tokenizes them (the space before the answer moved into the continuation)."""
    from transformers import AutoTokenizer

    task = make_task(monkeypatch, tokenizer=str(TOKENIZER))
    item = next(i for i in task.load_items() if i.item_id.startswith("arith_mc_mul:0:"))
    request = task.build_request(item, 1234)
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    context = item.input["context"]
    assert context.endswith("Answer:") and context.count("Question: ") == 3  # two shots
    assert request.kind == "completion" and len(request.prompt) == 4 == len(item.input["continuations"])
    for prompt, continuation in zip(request.prompt, item.input["continuations"]):
        assert continuation.startswith(" ") and prompt == tokenizer(context + continuation, add_special_tokens=False).input_ids
    assert request.params == {"temperature": 0, "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": True}
    assert task.binary()  # acc: 0 or 1 per document


@pytest.mark.parametrize(("options", "message"), [
    ({}, r'^task lm-eval:arc_easy is a multiple_choice task, scored from prompt logprobs per token: set tokenizer = "HF_ID_OR_FOLDER"'),
    ({"tokenizer": str(TOKENIZER), "chat": True}, r"^task lm-eval:arc_easy is a multiple_choice task, scored from prompt logprobs on /v1/completions: chat = true"),
    # lm-eval's local-chat-completions has no loglikelihood either: chat = true is refused for it too
    ({"tokenizer": str(TOKENIZER), "chat": True, "task": "lambada_openai"},
     r"^task lm-eval:lambada_openai is a loglikelihood task, scored from prompt logprobs on /v1/completions: chat = true does not apply to it$"),
    # perplexity over rolling windows (wikitext) is not run here: the one line names the task type and those that run
    ({"tokenizer": str(TOKENIZER), "task": "wikitext"},
     r"^task lm-eval:wikitext is a loglikelihood_rolling task; the task types that run here are generate_until, loglikelihood, multiple_choice$"),
])
def test_what_a_logprob_task_lacks_is_one_line_before_any_download(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], message: str) -> None:
    from evals.errors import UsageError

    task = options.pop("task", "arc_easy")
    with pytest.raises(UsageError, match=message):
        make_task(monkeypatch, task, **options).load_items()


def test_a_tokenizer_that_does_not_load_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from evals.errors import UsageError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = make_task(monkeypatch, tokenizer=str(tmp_path / "nothing-here"))
    with pytest.raises(UsageError, match=r"^task lm-eval:examples/lm-eval-mc/arith_mc.yaml: cannot load tokenizer = "):
        task.build_request(task.load_items()[0], 1234)


@pytest.mark.parametrize("broken", [
    {"logprobs": None},
    {"logprobs": {"tokens": ["x"], "token_logprobs": [-0.1], "top_logprobs": [{"x": -0.1}]}},  # only the generated token's
    {"logprobs": {"tokens": ["a", "b", "c"], "token_logprobs": [None, None, -0.1], "top_logprobs": [None, {"b": -1.0}, {"c": -0.1}]}},
])
def test_the_client_refuses_an_answer_without_prompt_logprobs(broken: dict[str, Any]) -> None:
    from evals.client import MalformedResponse, parse_completion

    good = {"index": 0, "text": "abc", "finish_reason": "length",
            "logprobs": {"tokens": ["a", "b", "c"], "token_logprobs": [None, -1.0, -0.1], "top_logprobs": [None, {"b": -1.0}, {"c": -0.1}]}}
    assert parse_completion("completion", "application/json", json.dumps({"choices": [good]}), [2]).logprobs == [good["logprobs"]]
    assert parse_completion("completion", "application/json", json.dumps({"choices": [good]}), [None]).logprobs == [good["logprobs"]]  # text
    with pytest.raises(MalformedResponse, match="prompt logprobs|token logprob"):
        parse_completion("completion", "application/json", json.dumps({"choices": [{**good, **broken}]}), [None])
    with pytest.raises(MalformedResponse, match="1 choices for 2 prompts"):
        parse_completion("completion", "application/json", json.dumps({"choices": [good]}), [2, 2])
    with pytest.raises(MalformedResponse, match="3 token logprobs in choice 0 for a prompt of 1 tokens and one generated"):
        parse_completion("completion", "application/json", json.dumps({"choices": [good]}), [1])  # two generated: the slice would take one


def test_an_endpoint_config_that_would_change_the_body_is_refused_before_any_request(sim, tmp_path: Path) -> None:
    """extra_body max_tokens: two generated tokens, and lm-eval's slice would score one as the answer's."""
    server = sim("--tokenizer", str(TOKENIZER))
    config = write_config(tmp_path / "evals.toml", {"sim": server.url})
    config.write_text(config.read_text().replace("retry_backoff_s = 0.01\n", "retry_backoff_s = 0.01\nextra_body = { max_tokens = 2 }\n", 1))
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO, env=OFFLINE)
    assert result.returncode == 2, result.stderr
    assert "the endpoint's config sets max_tokens, which these requests need as lm-eval sends them" in result.stderr
    assert server.stats()["requests"].get("/v1/completions", 0) == 0


def test_an_endpoint_with_another_tokenizer_is_refused_when_text_is_sent(sim, tmp_path: Path) -> None:
    """Text prompts: the server tokenizes them, and lm-eval's context length (from our tokenizer)
    would cut its logprobs in the wrong place; the probe's token count tells."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tokenizer", FOLDER / "make_tokenizer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    other = module.build(tmp_path / "other-tokenizer", vocab_size=270)  # fewer merges: more tokens for the same text
    server = sim("--tokenizer", str(other))
    config = write_config(tmp_path / "evals.toml", {"sim": server.url}, tokenized=False)
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(config), "--out", str(tmp_path / "out"), cwd=REPO, env=OFFLINE)
    assert result.returncode == 2, result.stderr
    assert f"its tokenizer is not tokenizer = '{TOKENIZER}' (the probe's prompt is " in result.stderr
    assert server.stats()["requests"]["/v1/completions"] == 1
