"""Two-digit addition, 0-shot: the smallest complete native adapter (docs/tasks.md).

Reference implementation: none; the questions are the example lm-eval task's
(examples/lm-eval-task/add_test.jsonl), asked the same way, scored by the same
"The answer is N" rule, so the two ways of adding a benchmark can be compared.

    pip install -e examples/native-task && evals run URL --tasks arith_native
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from evals.tasks.base import Item, Request, Response, Scored, Task, TaskOptions

DATA = Path(__file__).resolve().parent.parent / "lm-eval-task" / "add_test.jsonl"
TEMPLATE = "Question: {question}\nAnswer:"
ANSWER = re.compile(r"The answer is (-?[0-9]+)")


class ArithNative(Task):
    name = "arith_native"
    version = "1"
    description = "two-digit addition, 0-shot, greedy (example native adapter)"
    Options = TaskOptions

    def load_items(self) -> list[Item]:
        rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()][: self.options.limit]
        return [Item(item_id=hashlib.sha256(r["question"].encode()).hexdigest()[:16], index=i, input={"question": r["question"]}, gold=r["answer"])
                for i, r in enumerate(rows)]

    def build_request(self, item: Item, repeat: int) -> Request:
        return Request(kind="completion", prompt=TEMPLATE.format(**item.input), params={"max_tokens": 64, "temperature": 0.0, "stop": ["Question:"]})

    def score(self, item: Item, repeat: int, response: Response) -> Scored:
        found = ANSWER.findall(response.text)
        extracted = found[0] if found else None
        return Scored(score=float(extracted == item.gold), extracted=extracted, invalid=extracted is None)

    def prompt_spec(self) -> dict[str, Any]:
        return {"template": TEMPLATE, "answer": ANSWER.pattern, "shots": 0}
