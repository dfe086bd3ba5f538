"""GSM8K, 5-shot, greedy: grade-school math word problems (Cobbe et al. 2021, arXiv:2110.14168).

Two formats, each matching the numbers people publish with it:

- `sglang` (default): sglang's few-shot benchmark, `python/sglang/test/few_shot_gsm8k.py`
  (`python3 -m sglang.test.few_shot_gsm8k --num-questions 200`), the source of the usual
  "GSM8K 200q, 5-shot, greedy" figures. Reproduced on purpose, quirks included:
  the 5 shots are the first 5 rows of the *test* set, and those same rows are evaluated
  (with their own solution in the prompt); the answer is the last run of digits after
  removing commas, so a sign or a decimal point is ignored (`-3` reads as 3, `5.00` as 0)
  and a number with a leading zero (`007`) is invalid, because the script parses it with
  `ast.literal_eval`.
- `lm-eval`: lm-evaluation-harness 0.4.13, task `gsm8k` (`lm_eval/tasks/gsm8k/gsm8k.yaml`):
  5 shots drawn from `train` by one `random.Random(1234)` shared across the test
  questions in order (lm-eval's default fewshot seed), `strict-match` as the primary
  score and `flexible-extract` kept beside it.

Both send `/v1/completions`; `chat = true` sends the shots as alternating user/assistant
turns to `/v1/chat/completions` (lm-eval's `--apply_chat_template --fewshot_as_multiturn`).

    evals run fp8 --tasks gsm8k --limit 200
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from evals.errors import UsageError
from evals.records import sha256_json
from evals.tasks.base import Item, Request, Response, Scored, Task, TaskOptions, refuse_duplicates

HF_DATASET = "openai/gsm8k"
HF_CONFIG = "main"
HF_REVISION = "cc7b047b6e5bb11b4f1af84efc572db110a51b3c"

QUESTION_TEMPLATE = "Question: {question}\nAnswer:"

# sglang/test/few_shot_gsm8k.py
SGLANG_STOP = ["Question", "Assistant:", "<|separator|>"]
SGLANG_MAX_TOKENS = 512
SGLANG_INVALID = -9999999

# lm_eval/tasks/gsm8k/gsm8k.yaml (0.4.13) and lm_eval defaults
LM_EVAL_STOP = ["Question:", "</s>", "<|im_end|>"]
LM_EVAL_MAX_TOKENS = 256  # lm-eval's max_gen_toks default
LM_EVAL_FEWSHOT_SEED = 1234  # lm_eval.defaults.DEFAULT_OTHER_SEED
LM_EVAL_TARGET_DELIMITER = " "
LM_EVAL_FEWSHOT_DELIMITER = "\n\n"
STRICT_PATTERN = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE_PATTERN = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
LM_EVAL_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
LM_EVAL_FALLBACK = "[invalid]"


# 5 is what sglang's few_shot_gsm8k.py and lm-eval's gsm8k.yaml use, 8 the chain-of-thought
# exemplar count (Wei et al. 2022; lm-eval's gsm8k-cot): no published GSM8K setting uses more.
# In the sglang format each shot is one of the first test rows, so every extra shot puts one
# more evaluated item's own solution into every prompt; a cap keeps that a documented quirk.
MAX_SHOTS = 8
FINAL_ANSWER = re.compile(r"#### *[^\n]*\d")  # GSM8K's labels end in "#### N"; both scorers read N from it


class Gsm8kOptions(TaskOptions):
    format: Literal["sglang", "lm-eval"] = "sglang"
    num_shots: int = Field(default=5, ge=0, le=MAX_SHOTS)
    chat: bool = False
    max_tokens: int | None = Field(default=None, ge=1)


def check_rows(raw: list[tuple[int, Any]], source: str, unit: str) -> list[dict[str, str]]:
    """Rows with a non-empty `question` and an `answer` ending in `#### N`, or one error naming
    the row; a question that occurs twice (one item id, so it cannot be paired) is refused too."""
    rows: list[dict[str, str]] = []
    seen: dict[str, list[int]] = {}
    for number, row in raw:
        where = f"{source} {unit} {number}"
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected a JSON object with \"question\" and \"answer\", got {type(row).__name__}")
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise UsageError(f"{where}: {'no' if key not in row else 'an empty or non-text'} \"{key}\"")
        if not FINAL_ANSWER.search(row["answer"]):
            raise UsageError(f"{where}: \"answer\" has no final \"#### N\" line (GSM8K's label format, which both scorers read)")
        seen.setdefault(item_id(row["question"]), []).append(number)
        rows.append({"question": row["question"], "answer": row["answer"]})
    refuse_duplicates({f"item {i}": n for i, n in seen.items()}, source, unit, "question(s)", "an item's id is a hash of its question")
    return rows


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; a line that is not JSON is one error naming it."""
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as e:
            raise UsageError(f"{path} line {number}: not JSON ({e.msg}, column {e.colno})") from None
    return out


def load_split(data_dir: Path | None, split: str) -> list[dict[str, str]]:
    """Rows of `split` from `<data_dir>/gsm8k/<split>.jsonl`, or from the hub at a pinned revision, checked."""
    if data_dir is not None:
        path = data_dir / "gsm8k" / f"{split}.jsonl"
        if not path.exists():
            raise UsageError(f"data_dir {data_dir}: no {path.relative_to(data_dir)} (expected the openai/grade-school-math files)")
        return check_rows(read_jsonl(path), str(path), "line")
    try:
        import datasets

        rows = datasets.load_dataset(HF_DATASET, HF_CONFIG, revision=HF_REVISION, split=split)
    except Exception as e:  # the hub's errors vary by version; all of them mean "not reachable here"
        raise UsageError(
            f"cannot load {HF_DATASET} ({split}) from the Hugging Face hub: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "set data_dir in evals.toml or EVALS_DATA_DIR to a folder holding gsm8k/{train,test}.jsonl"
        ) from None
    return check_rows([(n, dict(r)) for n, r in enumerate(rows, start=1)], f"{HF_DATASET} {split}", "row")


def item_id(question: str) -> str:
    """GSM8K has no ids of its own: a hash of the question, stable across orderings."""
    return hashlib.sha256(question.encode()).hexdigest()[:16]


def sglang_answer_value(text: str) -> int | float:
    """`get_answer_value` of sglang's few_shot_gsm8k.py, verbatim in behaviour."""
    text = text.replace(",", "")
    numbers = re.findall(r"\d+", text)
    if len(numbers) < 1:
        return SGLANG_INVALID
    try:
        return ast.literal_eval(numbers[-1])
    except SyntaxError:
        return SGLANG_INVALID


def lm_eval_filter(text: str, pattern: re.Pattern[str], group_select: int) -> str:
    """lm-eval's `regex` filter followed by `take_first`."""
    matches = pattern.findall(text)
    if not matches:
        return LM_EVAL_FALLBACK
    match = matches[group_select]
    if isinstance(match, tuple):
        groups = [m for m in match if m]
        match = groups[0] if groups else LM_EVAL_FALLBACK
    return match.strip()


def lm_eval_normalise(text: str) -> str:
    """lm-eval's exact_match with the task's regexes_to_ignore and ignore_case."""
    for pattern in LM_EVAL_IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower()


def score_sglang(text: str, gold_answer: str) -> Scored:
    pred = sglang_answer_value(text)
    gold = sglang_answer_value(gold_answer)
    return Scored(score=float(pred == gold), extracted=None if pred == SGLANG_INVALID else str(pred), invalid=pred == SGLANG_INVALID)


def score_lm_eval(text: str, gold_answer: str) -> Scored:
    gold = lm_eval_normalise(gold_answer)
    strict = lm_eval_filter(text, STRICT_PATTERN, 0)
    flexible = lm_eval_filter(text, FLEXIBLE_PATTERN, -1)
    flexible_score = float(lm_eval_normalise(flexible) == gold)
    return Scored(
        score=float(lm_eval_normalise(strict) == gold),
        extracted=strict,
        invalid=strict == LM_EVAL_FALLBACK,
        details={"strict-match": strict, "flexible-extract": flexible, "flexible_score": flexible_score},
    )


class Gsm8k(Task):
    name = "gsm8k"
    version = "1"
    description = "GSM8K 5-shot greedy (sglang few_shot_gsm8k or lm-eval gsm8k format)"
    Options = Gsm8kOptions
    options: Gsm8kOptions

    @cached_property
    def _test(self) -> list[dict[str, str]]:
        return load_split(self.data_dir, "test")

    @cached_property
    def _train(self) -> list[dict[str, str]]:
        return load_split(self.data_dir, "train")

    def load_items(self) -> list[Item]:
        """The items, after checking the shot pool holds `num_shots` rows (a custom file can be small)."""
        split = "test" if self.options.format == "sglang" else "train"
        pool = self._test if split == "test" else self._train
        if self.options.num_shots > len(pool):
            where = self.data_dir / "gsm8k" / f"{split}.jsonl" if self.data_dir else f"{HF_DATASET} {split}"
            raise UsageError(f"tasks.gsm8k.num_shots = {self.options.num_shots}, but the {self.options.format} format takes its shots from {where}, which has {len(pool)} rows")
        rows = self._test[: self.options.limit] if self.options.limit else self._test
        return [Item(item_id=item_id(r["question"]), index=i, input={"question": r["question"]}, gold=r["answer"]) for i, r in enumerate(rows)]

    @cached_property
    def _lm_eval_shots(self) -> list[list[int]]:
        """Train indices of each test question's shots, drawn as lm-eval draws them.

        lm-eval seeds one sampler with 1234 and calls `rnd.sample(train, k)` once per test
        document in order, so question i gets the (i+1)-th draw.
        """
        rnd = random.Random(LM_EVAL_FEWSHOT_SEED)
        population = range(len(self._train))
        return [rnd.sample(population, self.options.num_shots) for _ in range(len(self._test))]

    def _shots(self, item: Item) -> list[dict[str, str]]:
        if self.options.format == "sglang":
            return self._test[: self.options.num_shots]
        return [self._train[j] for j in self._lm_eval_shots[item.index]]

    def build_request(self, item: Item, repeat: int) -> Request:
        shots = self._shots(item)
        question = QUESTION_TEMPLATE.format(question=item.input["question"])
        sglang = self.options.format == "sglang"
        params: dict[str, Any] = {
            "max_tokens": (SGLANG_MAX_TOKENS if sglang else LM_EVAL_MAX_TOKENS) if self.options.max_tokens is None else self.options.max_tokens,
            "temperature": 0.0,
            "stop": SGLANG_STOP if sglang else LM_EVAL_STOP,
        }
        if self.options.chat:
            messages: list[dict[str, str]] = []
            for shot in shots:
                messages.append({"role": "user", "content": QUESTION_TEMPLATE.format(question=shot["question"])})
                messages.append({"role": "assistant", "content": shot["answer"]})
            messages.append({"role": "user", "content": question})
            return Request(kind="chat", messages=messages, params=params)
        # sglang: `get_one_example(..., True) + "\n\n"`; lm-eval: target delimiter " ", fewshot delimiter "\n\n"
        context = "".join(QUESTION_TEMPLATE.format(question=s["question"]) + " " + s["answer"] + "\n\n" for s in shots)
        return Request(kind="completion", prompt=context + question, params=params)

    def score(self, item: Item, repeat: int, response: Response) -> Scored:
        if self.options.format == "sglang":
            return score_sglang(response.text, item.gold)
        return score_lm_eval(response.text, item.gold)

    def prompt_spec(self) -> dict[str, Any]:
        sglang = self.options.format == "sglang"
        return {
            "format": self.options.format,
            "chat": self.options.chat,
            "template": QUESTION_TEMPLATE,
            "num_shots": self.options.num_shots,
            "shots": "first rows of test" if sglang else f"random.Random({LM_EVAL_FEWSHOT_SEED}).sample(train) per question",
            "shot_pool": sha256_json(self._test[: self.options.num_shots] if sglang else self._train),
            "stop": SGLANG_STOP if sglang else LM_EVAL_STOP,
        }
