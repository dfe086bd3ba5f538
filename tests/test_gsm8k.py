"""GSM8K prompts and answer extraction, against the references they must match."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lm_eval
import pytest
import yaml
from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.api.task import ConfigurableTask
from lm_eval.filters.extraction import RegexFilter

from evals.tasks import gsm8k
from evals.tasks.base import Response
from evals.tasks.gsm8k import (
    Gsm8k,
    Gsm8kOptions,
    score_lm_eval,
    score_sglang,
    sglang_answer_value,
)

INVALID = gsm8k.SGLANG_INVALID

# (response, what sglang's get_answer_value returns), worked out by hand from
# python/sglang/test/few_shot_gsm8k.py: drop commas, take the last run of digits, ast.literal_eval it.
SGLANG_CASES = [
    ("The answer is 18.", 18),
    ("#### 1,234", 1234),
    ("$1,000.00", 0),  # the last run of digits is "00"
    ("The answer is -5.", 5),  # the sign is ignored
    ("It costs 5.00 dollars", 0),
    ("3.5 hours", 5),
    ("no number here", INVALID),
    ("", INVALID),
    ("#### 18\n#### 20", 20),
    ("The code is 007", INVALID),  # a leading zero is a SyntaxError for literal_eval
    ("answer: 08", INVALID),
    ("1 000", 0),  # "000" is a valid literal
    ("1,2,3", 123),
    ("12 apples and 7 oranges", 7),
    ("x = 10%", 10),
    ("The answer is 0.", 0),
    ("2e5", 5),
    ("1/2 of them", 2),
    ("$18", 18),
    ("the 18th", 18),
    ("#### 18.", 18),
    ("0.5", 5),
    ("The total is 1,000,000.", 1000000),
    ("\u22127 degrees", 7),  # a Unicode minus is not a digit either
    ("12-3", 3),
    ("answer 5, not 6", 6),
    ("Total: 3 + 4 = 7 dollars", 7),
    (" 100", 100),
    ("She has 16 - 3 - 4 = <<16-3-4=9>>9 eggs\n#### 9", 9),
    ("The answer is 1,234,567.89", 89),
    ("-0", 0),
    ("0042", INVALID),
]

# Responses for lm-eval parity: commas, $, negatives, decimals, several ####, none, trailing period.
LM_EVAL_RESPONSES = [
    "#### 18",
    " She makes 9 * 2 = $18.\n#### 18",
    "#### 1,234",
    "#### $18",
    "#### -5",
    "#### 5.00",
    "#### 18.",
    "#### 18\n#### 20",
    "The answer is 18.",
    "The answer is $18.00",
    "no number here",
    "",
    "#### ",
    "####18",
    "#### 1,000,000",
    "The answer is -3.",
    "It is 3.5 hours",
    "#### 3.5",
    "$1,000.00 in total",
    "1, 2, 3",
    "#### 72\nQuestion: next",
    "A\n#### 0",
    "#### 007",
    "So 5 + 7 = 12.\nThe answer is 12",
    "#### twelve",
    "The answer is 12. I think.",
    "#### -1,200",
    "#### 12.0",
    "... = <<3*4=12>>12\n#### 12",
    "$5",
    "5",
    "#### 18 dollars",
    "Answer: -.5",
]

LM_EVAL_YAML = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"


def lm_eval_config() -> dict:
    config = yaml.safe_load(LM_EVAL_YAML.read_text())
    return config


def test_constants_match_lm_eval_yaml() -> None:
    config = lm_eval_config()
    assert config["doc_to_text"] == gsm8k.QUESTION_TEMPLATE.replace("{question}", "{{question}}")
    assert config["generation_kwargs"]["until"] == gsm8k.LM_EVAL_STOP
    assert config["num_fewshot"] == 5
    (metric,) = config["metric_list"]
    assert metric["regexes_to_ignore"] == gsm8k.LM_EVAL_IGNORE and metric["ignore_case"] is True
    filters = {f["name"]: f["filter"][0] for f in config["filter_list"]}
    assert filters["strict-match"]["regex_pattern"] == gsm8k.STRICT_PATTERN.pattern
    assert filters["flexible-extract"]["regex_pattern"] == gsm8k.FLEXIBLE_PATTERN.pattern
    assert filters["flexible-extract"]["group_select"] == -1


@pytest.mark.parametrize(("text", "expected"), SGLANG_CASES)
def test_sglang_extraction(text: str, expected: int) -> None:
    assert sglang_answer_value(text) == expected


def test_sglang_scoring_uses_the_same_rule_on_the_label() -> None:
    gold = "She pays 5 - 8 = <<5-8=-3>>-3\n#### -3"
    assert score_sglang("#### 3", gold).score == 1.0  # both read as 3: sglang ignores the sign
    assert score_sglang("#### -3", gold).score == 1.0
    assert score_sglang("#### 4", gold).score == 0.0
    blank = score_sglang("I am not sure", gold)
    assert blank.invalid and blank.score == 0.0 and blank.extracted is None


@pytest.mark.parametrize("gold_answer", ["Adding up\n#### 18", "So\n#### 1,234", "#### -5", "#### 5"])
def test_lm_eval_parity(gold_answer: str) -> None:
    """Our strict and flexible scores equal lm-eval's own filters and metric on every response."""
    config = lm_eval_config()
    filters = {f["name"]: f["filter"][0] for f in config["filter_list"]}
    (metric,) = config["metric_list"]
    for text in LM_EVAL_RESPONSES:
        ours = score_lm_eval(text, gold_answer)
        for name, our_score in (("strict-match", ours.score), ("flexible-extract", ours.details["flexible_score"])):
            spec = filters[name]
            regex = RegexFilter(regex_pattern=spec["regex_pattern"], group_select=spec.get("group_select", 0))
            (extracted,) = next(iter(regex.apply([[text]], [{}])))
            assert ours.details[name] == extracted, (name, text)
            theirs = exact_match_hf_evaluate(
                predictions=[extracted],
                references=[gold_answer],
                regexes_to_ignore=metric["regexes_to_ignore"],
                ignore_case=metric["ignore_case"],
                ignore_punctuation=metric["ignore_punctuation"],
            )["exact_match"]
            assert our_score == theirs, (name, text, gold_answer)


@pytest.fixture(scope="module")
def lm_eval_task(data_dir: Path) -> ConfigurableTask:
    config = lm_eval_config()
    config.pop("tag", None)
    config.pop("dataset_name")
    config["dataset_path"] = "json"
    config["dataset_kwargs"] = {"data_files": {s: str(data_dir / "gsm8k" / f"{s}.jsonl") for s in ("train", "test")}}
    return ConfigurableTask(config=config)  # each test seeds it with 1234, lm_eval.evaluator's default


def test_lm_eval_prompts_are_lm_evals_own(lm_eval_task: ConfigurableTask, data_dir: Path) -> None:
    """lm-eval builds the same 40 prompts from the same files, shots drawn in the same order."""
    lm_eval_task.set_fewshot_seed(seed=1234)
    lm_eval_task.build_all_requests(limit=40, rank=0, world_size=1)
    theirs = [inst.args[0] for inst in sorted(lm_eval_task.instances, key=lambda i: i.doc_id)]
    ours = Gsm8k(Gsm8kOptions(format="lm-eval", limit=40), data_dir)
    requests = [ours.build_request(item, 0) for item in ours.load_items()]
    assert [r.prompt for r in requests] == theirs
    assert all(r.params["stop"] == gsm8k.LM_EVAL_STOP and r.params["max_tokens"] == 256 for r in requests)


def test_lm_eval_multiturn_chat_is_lm_evals_own(lm_eval_task: ConfigurableTask, data_dir: Path) -> None:
    lm_eval_task.set_fewshot_seed(seed=1234)
    lm_eval_task.build_all_requests(
        limit=10, rank=0, world_size=1, apply_chat_template=True, fewshot_as_multiturn=True,
        chat_template=lambda messages, **_: json.dumps(messages), rewrite_requests_cache=True,
    )
    theirs = [json.loads(inst.args[0]) for inst in sorted(lm_eval_task.instances, key=lambda i: i.doc_id)]
    ours = Gsm8k(Gsm8kOptions(format="lm-eval", chat=True, limit=10), data_dir)
    assert [ours.build_request(item, 0).messages for item in ours.load_items()] == theirs


def test_sglang_prompt_layout(data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()]
    task = Gsm8k(Gsm8kOptions(limit=200), data_dir)
    items = task.load_items()
    assert len(items) == 200 and [i.input["question"] for i in items] == [r["question"] for r in rows[:200]]
    shots = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in rows[:5])
    request = task.build_request(items[7], 0)
    assert request.kind == "completion"
    assert request.prompt == shots + f"Question: {rows[7]['question']}\nAnswer:"
    assert request.params == {"max_tokens": 512, "temperature": 0.0, "stop": ["Question", "Assistant:", "<|separator|>"]}
    # the quirk we keep: the first five questions are evaluated with their own solution among the shots
    assert rows[0]["answer"] in task.build_request(items[0], 0).prompt


def test_reasoning_is_not_scored(data_dir: Path) -> None:
    task = Gsm8k(Gsm8kOptions(format="lm-eval", limit=1), data_dir)
    (item,) = task.load_items()
    gold = item.gold.split("#### ")[-1]
    response = Response(text="I could not finish.", reasoning=f"#### {gold}")
    assert task.score(item, 0, response).score == 0.0
    assert task.score(item, 0, Response(text=f"#### {gold}")).score == 1.0


def test_items_have_unique_stable_ids(data_dir: Path) -> None:
    items = Gsm8k(Gsm8kOptions(), data_dir).load_items()
    assert len(items) == 1319 and len({i.item_id for i in items}) == 1319
    assert items[0].item_id == gsm8k.item_id(items[0].input["question"])


def test_hub_failure_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without data_dir the hub is asked; offline and uncached, that is one clear error."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    from evals.errors import UsageError

    with pytest.raises(UsageError, match="openai/gsm8k.*data_dir"):
        gsm8k.load_split(None, "test")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
