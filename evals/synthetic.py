"""Synthetic grade-school word problems, for `evals demo` on a machine with neither the
GSM8K files nor the Hugging Face hub. They are labelled as synthetic wherever they are used:
numbers on them say nothing about GSM8K.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kemi", "Luis", "Mira", "Noor", "Omar", "Priya"]
THINGS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "stamps", "shells", "cards", "beads"]


def _problem(rng: random.Random) -> tuple[str, str]:
    name, things = rng.choice(NAMES), rng.choice(THINGS)
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randint(10, 400), rng.randint(2, 90)
        c = rng.randint(1, a + b - 1)
        total = a + b - c
        q = f"{name} has {a} {things}. {name} gets {b} more and then gives {c} away. How many {things} does {name} have now?"
        steps = f"After getting more: {a} + {b} = <<{a}+{b}={a + b}>>{a + b}.\nAfter giving some away: {a + b} - {c} = <<{a + b}-{c}={total}>>{total}."
    elif kind == 1:
        a, b = rng.randint(3, 60), rng.randint(2, 40)
        total = a * b
        q = f"A box holds {a} {things}. {name} fills {b} boxes. How many {things} are in the boxes?"
        steps = f"{a} * {b} = <<{a}*{b}={total}>>{total}."
    else:
        a, b, c = rng.randint(8, 45), rng.randint(2, 12), rng.randint(2, 30)
        total = a * b * c
        q = f"{name} earns ${a} an hour and works {b} hours a day for {c} days. How many dollars does {name} earn?"
        steps = f"Per day: {a} * {b} = <<{a}*{b}={a * b}>>{a * b}.\nIn {c} days: {a * b} * {c} = <<{a * b}*{c}={total}>>{total}."
    return q, f"{steps}\n#### {total}"


def problems(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    while len(seen) < n:
        q, a = _problem(rng)
        seen.setdefault(q, a)
    return [{"question": q, "answer": a} for q, a in seen.items()]


def write_gsm8k_like(folder: Path, n_test: int = 1319, n_train: int = 200, seed: int = 0) -> Path:
    """`folder/gsm8k/{train,test}.jsonl` of synthetic problems, laid out as the real files; returns `folder`."""
    (folder / "gsm8k").mkdir(parents=True, exist_ok=True)
    test = problems(n_test, seed)
    taken = {p["question"] for p in test}
    train = [p for p in problems(n_train + n_test, seed + 1) if p["question"] not in taken][:n_train]
    for split, rows in (("test", test), ("train", train)):
        (folder / "gsm8k" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder
