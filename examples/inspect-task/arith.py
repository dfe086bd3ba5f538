"""A small inspect_ai task file of our own: 200 arithmetic questions, answered "The answer is N".

Run through `evals` (each sample's score a record; `epochs` in evals.toml are the repeats):

    evals sim --port 8000 &
    evals run http://127.0.0.1:8000/v1 --tasks inspect:examples/inspect-task/arith.py@arith

or through inspect itself: `inspect eval examples/inspect-task/arith.py@arith --model openai-api/...`.

`arith` is scored by `answer_is` (C/I); `arith_graded` adds `closeness` (partial credit, a
number in [0, 1]), so a run of it names the scorer that is the score (`scorer = "closeness"`).
"""

from __future__ import annotations

import re
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import TaskState, generate, system_message

DATA = Path(__file__).parent / "arith.jsonl"
SYSTEM = "Answer the arithmetic question. End with: The answer is N."
ANSWER = re.compile(r"The answer is (-?\d+)")


def _answer(text: str) -> str | None:
    found = ANSWER.findall(text)
    return found[-1] if found else None


@scorer(metrics=[accuracy(), stderr()])
def answer_is():
    async def score(state: TaskState, target: Target) -> Score:
        answer = _answer(state.output.completion)
        return Score(value=CORRECT if answer == target.text else INCORRECT, answer=answer)

    return score


@scorer(metrics=[mean()])
def closeness():
    async def score(state: TaskState, target: Target) -> Score:
        answer = _answer(state.output.completion)
        value = 0.0 if answer is None else 1 / (1 + abs(int(answer) - int(target.text)))
        return Score(value=value, answer=answer)

    return score


@task
def arith() -> Task:
    return Task(dataset=json_dataset(str(DATA)), solver=[system_message(SYSTEM), generate()], scorer=answer_is())


@task
def arith_graded() -> Task:
    return Task(dataset=json_dataset(str(DATA)), solver=[system_message(SYSTEM), generate()], scorer=[answer_is(), closeness()])
