"""Synthetic grade-school word problems, for `evals demo` on a machine with neither the
GSM8K files nor the Hugging Face hub. They are labelled as synthetic wherever they are used:
numbers on them say nothing about GSM8K.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

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


GPQA_COLUMNS = [
    "Pre-Revision Question", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
    "Incorrect Answer 3", "Explanation", "Record ID", "High-level domain", "Subdomain",
]
_QUANTITIES = ["the rate constant", "the binding energy", "the wavelength", "the yield", "the entropy change", "the half-life"]


def write_gpqa_like(folder: Path, n: int = 198, seed: int = 0) -> Path:
    """`folder/gpqa/gpqa_diamond.csv` of synthetic questions in the real CSV layout; returns `folder`.

    Real GPQA must not be published in plain text, so tests and demos use these. Some answers
    look like numbers (`4`, `0.25`, `-2`, `1e-3`) to catch readers that would turn them into floats.
    """
    import csv

    rng = random.Random(seed)
    (folder / "gpqa").mkdir(parents=True, exist_ok=True)
    with (folder / "gpqa" / "gpqa_diamond.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=GPQA_COLUMNS)
        writer.writeheader()
        for i in range(n):
            quantity = rng.choice(_QUANTITIES)
            question = f"Synthetic question {i}: in a system of {rng.randint(2, 90)} coupled units, what is {quantity} after {rng.randint(2, 12)} steps?"
            style = i % 4
            if style == 0:
                answers = [str(v) for v in rng.sample(range(-5, 50), 4)]
            elif style == 1:
                answers = [f"{v / 100:g}" for v in rng.sample(range(1, 400), 4)]
            elif style == 2:
                answers = [f"{rng.randint(1, 9)}e-{k}" for k in rng.sample(range(1, 9), 4)]
            else:
                answers = [f"It grows by a factor of {v}, because of {rng.choice(_QUANTITIES)}" for v in rng.sample(range(2, 30), 4)]
            writer.writerow(
                {
                    "Pre-Revision Question": question,
                    "Question": question,
                    "Correct Answer": answers[0],
                    "Incorrect Answer 1": answers[1],
                    "Incorrect Answer 2": answers[2],
                    "Incorrect Answer 3": answers[3],
                    "Explanation": "synthetic",
                    "Record ID": f"rec{rng.getrandbits(48):012x}",
                    "High-level domain": rng.choice(["Physics", "Chemistry", "Biology"]),
                    "Subdomain": "synthetic",
                }
            )
    return folder


def comparison_runs(gsm8k_dir: Path, gpqa_dir: Path, seed: int = 0, gpqa_repeats: int = 4) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reference and a candidate run of the full GSM8K (1,319 × 1) and GPQA-Diamond (198 × repeats),
    records made without any endpoint: for the HTML report's size test and render benchmark.

    Responses are as long as real ones (GSM8K's few hundred characters, GPQA's few thousand with
    a reasoning text), and about 8% of answers change correctness between the arms, so the
    report's budget for texts is exercised as a real comparison would.
    """
    from evals.records import Manifest, Record
    from evals.tasks.gpqa import GpqaDiamond, GpqaOptions
    from evals.tasks.gsm8k import Gsm8k, Gsm8kOptions

    rng = random.Random(seed)
    tasks = [Gsm8k(Gsm8kOptions(), gsm8k_dir), GpqaDiamond(GpqaOptions(repeats=gpqa_repeats), gpqa_dir)]
    arms: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for task in tasks:
        items = task.load_items()
        repeats = task.repeats()
        difficulty = {i.item_id: rng.random() for i in items}
        for arm, name in enumerate(("reference", "candidate")):
            manifest = Manifest(task=task.name, task_version=task.version, task_config=task.config(), dataset_fingerprint="synthetic",
                                prompt_fingerprint=task.prompt_fingerprint(), sampling={"max_tokens": 512 if task.name == "gsm8k" else 2048},
                                endpoint=name, base_url=f"http://127.0.0.1:{8000 + arm}/v1", model=f"synthetic-{name}", tool_version="0",
                                items=len(items), repeats=repeats, started_at="2026-01-01T00:00:00+00:00", status="complete")
            records = []
            for item in items:
                for rep in repeats:
                    draw = random.Random(f"{seed}/{item.item_id}/{rep}")
                    right = draw.random() < 0.9 - 0.5 * difficulty[item.item_id]
                    if arm == 1 and draw.random() < 0.08:
                        right = not right
                    request = task.build_request(item, rep)
                    if task.name == "gsm8k":
                        gold = item.gold.rsplit("####", 1)[1].strip().replace(",", "")
                        answer = gold if right else str(int(float(gold)) + 1 if gold.lstrip("-").isdigit() else 0)
                        response = " " + " ".join(f"Step {k}: we compute the next quantity from the last one." for k in range(8)) + f"\n#### {answer}"
                        extracted, reasoning = answer, None
                    else:
                        correct = task.correct_letter(item, rep)
                        extracted = correct if right else "ABCD"[("ABCD".index(correct) + 1) % 4]
                        response = "Weighing each option in turn. " * 20 + f"\nAnswer: {extracted}"
                        reasoning = "Let me think about the physics here. " * 60
                    records.append(Record(task=task.name, item_id=item.item_id, repeat=rep, endpoint=name, request_hash=request.fingerprint(),
                                          response=response, reasoning=reasoning, extracted=extracted, score=float(right),
                                          finish_reason="stop" if draw.random() > 0.02 else "length", prompt_tokens=400,
                                          completion_tokens=draw.randint(80, 400), latency_s=draw.uniform(0.5, 4.0),
                                          details={"correct": task.correct_letter(item, rep)} if task.name == "gpqa_diamond" else {}))
            arms[arm][task.name] = (manifest, records)
    return arms
