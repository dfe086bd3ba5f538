"""GPQA-Diamond: 198 graduate-level multiple-choice questions (Rein et al. 2023, arXiv:2311.12022),
run over several seeds at temperature 1.0, as published comparisons run it.

Follows openai/simple-evals (`gpqa_eval.py`, `common.py`): its multiple-choice template and
answer pattern, verbatim, on `/v1/chat/completions`. What differs, and why:
- Choice order is a permutation per (item, seed) from an RNG seeded by (Record ID, seed)
  alone, so both endpoints get byte-identical prompts for the same (item, seed) whatever
  else is run. `permutation = "simple-evals"` reproduces simple-evals' own scheme instead
  (one `random.Random(0)` drawn over examples × repeats in order), to match its numbers.
- Answer texts are read as text: simple-evals reads the CSV with pandas, which turns an
  answer such as `4` into `4.0` in the prompt.
- The request carries the repeat's seed, so servers that honour `seed` reproduce a sample.

    evals compare fp8 mxfp4 --tasks gpqa_diamond
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from evals.errors import UsageError
from evals.tasks.base import Item, Request, Response, Scored, Task, TaskOptions, refuse_duplicates

HF_DATASET = "Idavidrein/gpqa"
HF_CONFIG = "gpqa_diamond"
HF_SPLIT = "train"
LOCAL_FILE = Path("gpqa") / "gpqa_diamond.csv"

# simple-evals common.py, verbatim
QUERY_TEMPLATE_MULTICHOICE = """
Answer the following multiple choice question. The last line of your response should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering.

{Question}

A) {A}
B) {B}
C) {C}
D) {D}
""".strip()
ANSWER_PATTERN_MULTICHOICE = r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?"

# Only when asked for (`lenient = true`), and reported apart from the score.
LENIENT_PATTERNS = [
    re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?\(?([A-D])\)?\s*\}?\s*\}"),
    re.compile(r"(?i)answer\s+is\s*:?\s*\(?\**([A-D])\b"),
]

LETTERS = "ABCD"
COLUMNS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3", "Record ID"]


class GpqaOptions(TaskOptions):
    seeds: list[int] | None = None
    repeats: int | None = Field(default=None, gt=0)
    temperature: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    max_tokens: int = Field(default=32768, gt=0)
    permutation: Literal["per-item", "simple-evals"] = "per-item"
    extraction: Literal["first-match", "last-match"] = "first-match"
    lenient: bool = False

    @model_validator(mode="after")
    def _one_of_seeds_or_repeats(self) -> GpqaOptions:
        if self.seeds is not None and self.repeats is not None:
            raise ValueError("give either seeds or repeats, not both")
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise ValueError("seeds must be distinct and not empty")
        return self

    def seed_list(self) -> list[int]:
        if self.seeds is not None:
            return list(self.seeds)
        return list(range(self.repeats or 4))  # simple-evals' default n_repeats


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The header and (starting line, row) of each record: a question can span several lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = list(reader.fieldnames or [])
        rows, line = [], reader.line_num + 1
        for row in reader:
            rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as e:
        raise UsageError(f"{path} line {reader.line_num}: not CSV ({e})") from None
    return header, rows


def check_rows(header: list[str], raw: list[tuple[int, dict[str, Any]]], source: str, unit: str) -> list[dict[str, str]]:
    """Rows with every column the task reads filled in, or one error naming the row; a Record ID
    that occurs twice (items are paired by it) is refused with its rows."""
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UsageError(f"{source}: missing column(s) {', '.join(repr(c) for c in missing)} (the header has {', '.join(map(repr, header)) or 'nothing'})")
    rows: list[dict[str, str]] = []
    seen: dict[str, list[int]] = {}
    for number, row in raw:
        where = f"{source} {unit} {number}"
        if None in row:  # DictReader's restkey: more cells than the header has columns
            raise UsageError(f"{where}: {len(header) + len(row[None])} cells, but the header has {len(header)} columns")
        empty = [c for c in COLUMNS if row.get(c) is None or not str(row[c]).strip()]
        if empty:
            raise UsageError(f"{where}: empty {', '.join(repr(c) for c in empty)}")
        seen.setdefault(row["Record ID"], []).append(number)
        rows.append({c: "" if v is None else str(v) for c, v in row.items()})
    refuse_duplicates({repr(i): n for i, n in seen.items()}, source, unit, "Record ID(s)", "items are paired by it")
    return rows


def load_rows(data_dir: Path | None) -> list[dict[str, str]]:
    """Rows of GPQA-Diamond, every field as text, from `<data_dir>/gpqa/gpqa_diamond.csv` or the gated hub, checked."""
    if data_dir is not None:
        path = data_dir / LOCAL_FILE
        if not path.exists():
            raise UsageError(f"data_dir {data_dir}: no {LOCAL_FILE} (expected the GPQA CSV with Question, Correct Answer, ... Record ID)")
        header, raw = read_csv(path)
        return check_rows(header, raw, str(path), "line")
    try:
        import datasets

        # The hub's CSV loader would make numbers of numeric answers: ask for strings.
        features = datasets.Features({c: datasets.Value("string") for c in COLUMNS})
        table = datasets.load_dataset(HF_DATASET, HF_CONFIG, split=HF_SPLIT, token=os.environ.get("HF_TOKEN"))
        table = table.select_columns(COLUMNS).cast(features)
        rows = [dict(r) for r in table]
    except Exception as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        gated = "gated" in message.lower() or "401" in message or "403" in message
        hint = (
            f"{HF_DATASET} is gated: accept its terms on its Hugging Face page and set HF_TOKEN to a token of that account"
            if gated or not os.environ.get("HF_TOKEN")
            else "the hub did not answer"
        )
        raise UsageError(
            f"cannot load {HF_DATASET} ({HF_CONFIG}): {type(e).__name__}: {message}; {hint}, "
            f"or set data_dir to a folder holding {LOCAL_FILE}"
        ) from None
    return check_rows(list(COLUMNS), list(enumerate(rows, start=1)), HF_DATASET, "row")


def seeded_permutation(item_id: str, seed: int) -> list[int]:
    """The choice order for (item, seed), fixed by those two alone."""
    digest = hashlib.sha256(f"{item_id}\x00{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).sample(range(4), 4)


def simple_evals_permutations(n_items: int, repeats: int) -> list[list[int]]:
    """simple-evals' scheme: `random.Random(0)`, examples × repeats, one `sample(range(4), 4)` each, in order."""
    rng = random.Random(0)
    return [rng.sample(range(4), 4) for _ in range(n_items * repeats)]


def extract(text: str, rule: str = "first-match") -> str | None:
    """simple-evals' ANSWER_PATTERN_MULTICHOICE; `first-match` is its `re.search`."""
    if rule == "first-match":
        match = re.search(ANSWER_PATTERN_MULTICHOICE, text)
        return match.group(1) if match else None
    found = re.findall(ANSWER_PATTERN_MULTICHOICE, text)
    return found[-1] if found else None


def extract_lenient(text: str, rule: str = "first-match") -> str | None:
    """Also `**Answer: B**`, `\\boxed{B}` and `the answer is B`: only when asked for."""
    strict = extract(text.replace("**", "").replace("__", ""), rule)
    if strict is not None:
        return strict
    for pattern in LENIENT_PATTERNS:
        found = pattern.findall(text)
        if found:
            return (found[0] if rule == "first-match" else found[-1]).upper()
    return None


class GpqaDiamond(Task):
    name = "gpqa_diamond"
    version = "1"
    description = "GPQA-Diamond over seeds at temperature 1.0, simple-evals template and extraction"
    Options = GpqaOptions
    options: GpqaOptions

    @cached_property
    def _rows(self) -> list[dict[str, str]]:
        return load_rows(self.data_dir)

    def load_items(self) -> list[Item]:
        rows = self._rows[: self.options.limit] if self.options.limit else self._rows
        items = []
        for i, r in enumerate(rows):
            choices = [r["Correct Answer"], r["Incorrect Answer 1"], r["Incorrect Answer 2"], r["Incorrect Answer 3"]]
            items.append(Item(item_id=r["Record ID"], index=i, input={"question": r["Question"], "choices": choices}, gold=r["Correct Answer"]))
        return items

    def repeats(self) -> list[int]:
        return self.options.seed_list()

    @cached_property
    def _simple_evals(self) -> list[list[int]]:
        return simple_evals_permutations(len(self._rows), len(self.repeats()))

    def permutation(self, item: Item, seed: int) -> list[int]:
        if self.options.permutation == "per-item":
            return seeded_permutation(item.item_id, seed)
        # simple-evals repeats the whole list: repeat r of example i is draw r * n + i.
        return self._simple_evals[self.repeats().index(seed) * len(self._rows) + item.index]

    def correct_letter(self, item: Item, seed: int) -> str:
        return LETTERS[self.permutation(item, seed).index(0)]

    def build_request(self, item: Item, repeat: int) -> Request:
        choices = [item.input["choices"][j] for j in self.permutation(item, repeat)]
        prompt = QUERY_TEMPLATE_MULTICHOICE.format(Question=item.input["question"], A=choices[0], B=choices[1], C=choices[2], D=choices[3])
        params = {"temperature": self.options.temperature, "max_tokens": self.options.max_tokens, "seed": repeat}
        return Request(kind="chat", messages=[{"role": "user", "content": prompt}], params=params)

    def score(self, item: Item, repeat: int, response: Response) -> Scored:
        correct = self.correct_letter(item, repeat)
        extracted = extract(response.text, self.options.extraction)
        details: dict[str, Any] = {"correct": correct}
        if response.finish_reason == "length" and extracted is None:
            details["truncated"] = True
        if self.options.lenient:
            lenient = extract_lenient(response.text, self.options.extraction)
            details.update(lenient=lenient, lenient_score=float(lenient == correct))
        return Scored(score=float(extracted == correct), extracted=extracted, invalid=extracted is None, details=details)

    def prompt_spec(self) -> dict[str, Any]:
        return {
            "template": QUERY_TEMPLATE_MULTICHOICE,
            "pattern": ANSWER_PATTERN_MULTICHOICE,
            "permutation": self.options.permutation,
            "extraction": self.options.extraction,
            "seeds": self.repeats(),
            # simple-evals' draws depend on how many rows the file has, not only on the items used
            "n_rows": len(self._rows) if self.options.permutation == "simple-evals" else None,
        }
