"""GPQA-Diamond: prompts, permutations, extraction, and a seeded comparison over HTTP.

Real GPQA is not available here (its authors ask that it not be published in plain text):
the tests use synthetic questions in the real CSV layout, numeric-looking answers included.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import run_evals

from evals.records import read_records
from evals.scores import clustered_mean, item_scores
from evals.synthetic import write_gpqa_like
from evals.tasks.base import Response
from evals.tasks.gpqa import (
    QUERY_TEMPLATE_MULTICHOICE,
    GpqaDiamond,
    GpqaOptions,
    extract,
    extract_lenient,
)


@pytest.fixture(scope="module")
def gpqa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gpqa_like(tmp_path_factory.mktemp("gpqa-data"))


def task(data_dir: Path, **options: object) -> GpqaDiamond:
    return GpqaDiamond(GpqaOptions.model_validate(options), data_dir)


def test_two_endpoints_get_byte_identical_prompts(gpqa_dir: Path) -> None:
    a, b = task(gpqa_dir, repeats=4), task(gpqa_dir, repeats=4)
    random.seed(12345)  # global random state must not matter
    first = {(i.item_id, s): a.build_request(i, s).model_dump_json() for i in a.load_items() for s in a.repeats()}
    random.seed(999)
    items_b = b.load_items()
    second = {(i.item_id, s): b.build_request(i, s).model_dump_json() for i in reversed(items_b) for s in reversed(b.repeats())}
    assert first == second and len(first) == 198 * 4


def test_seeds_change_the_order_and_the_letter_maps_back(gpqa_dir: Path) -> None:
    t = task(gpqa_dir, seeds=list(range(8)))
    items = t.load_items()
    orders = {(i.item_id, s): tuple(t.permutation(i, s)) for i in items for s in t.repeats()}
    assert sum(orders[(i.item_id, 0)] != orders[(i.item_id, 1)] for i in items) > 0.9 * len(items)
    assert len(set(orders.values())) == 24  # every order of four choices occurs
    for item in items:
        for seed in t.repeats():
            prompt = t.build_request(item, seed).messages[0]["content"]
            letter = t.correct_letter(item, seed)
            assert f"\n{letter}) {item.gold}\n" in prompt + "\n"
            shown = [line[3:] for line in prompt.splitlines()[-4:]]
            assert sorted(shown) == sorted(item.input["choices"])


def test_prompt_is_simple_evals_template_and_request_carries_seed(gpqa_dir: Path) -> None:
    t = task(gpqa_dir, seeds=[3, 7], max_tokens=64000)
    item = t.load_items()[5]
    request = t.build_request(item, 7)
    assert request.kind == "chat" and request.params == {"temperature": 1.0, "max_tokens": 64000, "seed": 7}
    content = request.messages[0]["content"]
    assert content.startswith("Answer the following multiple choice question. The last line of your response should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering.\n\n")
    assert content == QUERY_TEMPLATE_MULTICHOICE.format(Question=item.input["question"], **dict(zip("ABCD", [item.input["choices"][j] for j in t.permutation(item, 7)])))


def test_simple_evals_permutation_scheme(gpqa_dir: Path) -> None:
    """Repeat r of example i takes the (r·n + i)-th `sample(range(4), 4)` of one Random(0)."""
    t = task(gpqa_dir, repeats=2, permutation="simple-evals")
    items = t.load_items()
    rng = random.Random(0)
    draws = [rng.sample(range(4), 4) for _ in range(2 * len(items))]
    assert [t.permutation(i, 0) for i in items] == draws[: len(items)]
    assert [t.permutation(i, 1) for i in items] == draws[len(items) :]


def test_answers_are_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "gpqa").mkdir()
    with (tmp_path / "gpqa" / "gpqa_diamond.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3", "Record ID", "Subdomain"])
        w.writerow(["How many?", "007", "1.50", "1e-3", " 4\n", "recA", "x"])
    t = task(tmp_path)
    (item,) = t.load_items()
    assert item.item_id == "recA" and item.input["choices"] == ["007", "1.50", "1e-3", " 4\n"]
    prompt = t.build_request(item, 0).messages[0]["content"]
    assert ") 007\n" in prompt and ") 1.50" in prompt and ") 1e-3" in prompt


def test_missing_local_file_and_bad_options(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from evals.errors import UsageError

    with pytest.raises(UsageError, match="gpqa_diamond.csv"):
        task(tmp_path).load_items()
    with pytest.raises(ValidationError, match="either seeds or repeats"):
        GpqaOptions(seeds=[0], repeats=2)
    with pytest.raises(ValidationError):
        GpqaOptions(permutation="random")


# (response, first-match, last-match): simple-evals' pattern, case-insensitive, so a lower-case
# letter is extracted as written and then does not equal the upper-case answer, as in simple-evals.
EXTRACTION = [
    ("Answer: C", "C", "C"),
    ("answer: c", "c", "c"),
    ("Answer : C", "C", "C"),
    ("Answer:C", "C", "C"),
    ("Answer:\tD", "D", "D"),
    ("Answer: $C$", "C", "C"),
    ("Answer: $B", "B", "B"),
    ("ANSWER: A", "A", "A"),
    ("Answer: A\nWait, no.\nAnswer: B", "A", "B"),
    ("Let me think. Answer: Because of symmetry... Final Answer: D", "B", "D"),
    ("The answer is B", None, None),
    ("", None, None),
    ("Answer:\nC", None, None),  # a newline is not [ \t]
    ("Answer: E", None, None),
    ("Answer: (C)", None, None),
    ("**Answer: B**", "B", "B"),
    ("**Answer:** B", None, None),
    ("\\boxed{B}", None, None),
    ("Final answer: D", "D", "D"),
    ("My answer: a) because", "a", "a"),
    ("Answer: A. Answer: B. Answer: C.", "A", "C"),
    ("I think the answer is C.\n\nAnswer: C", "C", "C"),
    ("answer:   b", "b", "b"),
    ("Answer: Dunno", "D", "D"),
    ("Reasoning about A) and B).\nAnswer: A", "A", "A"),
    ("Answer: $D$\n", "D", "D"),
]


@pytest.mark.parametrize(("text", "first", "last"), EXTRACTION)
def test_extraction(text: str, first: str | None, last: str | None) -> None:
    assert extract(text, "first-match") == first
    assert extract(text, "last-match") == last


@pytest.mark.parametrize(
    ("text", "expected"),
    [("**Answer: B**", "B"), ("**Answer:** B", "B"), ("\\boxed{B}", "B"), ("$\\boxed{\\text{C}}$", "C"), ("The answer is (D).", "D"), ("Answer: A", "A"), ("nothing", None)],
)
def test_lenient_extraction(text: str, expected: str | None) -> None:
    assert extract_lenient(text) == expected


def test_scoring_content_only_truncation_and_lenient(gpqa_dir: Path) -> None:
    t = task(gpqa_dir, lenient=True)
    item = t.load_items()[0]
    right = t.correct_letter(item, 0)
    wrong = next(x for x in "ABCD" if x != right)
    assert t.score(item, 0, Response(text=f"Answer: {right}")).score == 1.0
    assert t.score(item, 0, Response(text=f"Answer: {right.lower()}")).score == 0.0
    assert t.score(item, 0, Response(text=f"Answer: {wrong}")).score == 0.0
    hidden = t.score(item, 0, Response(text="Let me see", reasoning=f"Answer: {right}"))
    assert hidden.score == 0.0 and hidden.invalid
    cut = t.score(item, 0, Response(text="Considering each option in tu", finish_reason="length"))
    assert cut.score == 0.0 and cut.details["truncated"] is True
    bold = t.score(item, 0, Response(text=f"**Answer:** {right}"))
    assert bold.score == 0.0 and bold.details["lenient_score"] == 1.0


def write_config(path: Path, reference: str, candidate: str) -> Path:
    path.write_text(
        f'[endpoints.fp8]\nbase_url = "{reference}"\n\n[endpoints.mxfp4]\nbase_url = "{candidate}"\n\n'
        "[tasks.gpqa_diamond]\nrepeats = 4\nmax_tokens = 2048\n"
    )
    return path


def compare(sim, tmp_path: Path, data: Path, delta: float) -> tuple[int, dict]:
    common = ("--data-dir", str(data), "--accuracy", "0.7", "--seed", "5")
    ref = sim("--profile", "reference", *common)
    cand = sim("--profile", "quantized", "--delta", str(delta), *common)
    config = write_config(tmp_path / "evals.toml", ref.url, cand.url)
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", "gpqa_diamond", "--config", str(config), "--out", str(tmp_path / "out"), env={"EVALS_DATA_DIR": str(data)})
    assert result.returncode in (0, 1, 3), result.stdout + result.stderr
    return result.returncode, json.loads((tmp_path / "out" / "gate.json").read_text())


def test_compare_over_seeds_clusters_by_item(sim, tmp_path: Path, gpqa_dir: Path) -> None:
    code, gate = compare(sim, tmp_path, gpqa_dir, 0.0)
    (t,) = gate["tasks"]
    assert code == 0 and t["verdict"] == "LOSSLESS" and t["n"] == 198 and t["repeats"] == 4
    arms = {}
    for arm in ("fp8", "mxfp4"):
        path = tmp_path / "out" / arm / "gpqa_diamond" / "records.jsonl"
        assert len(path.read_text().splitlines()) == 792
        arms[arm] = read_records(path)
        assert len({r.key for r in arms[arm]}) == 792
    # Byte-identical prompts: the same request hash for every (item, seed) on both arms.
    assert {r.key: r.request_hash for r in arms["fp8"]} == {r.key: r.request_hash for r in arms["mxfp4"]}
    scores = np.array([r.score for r in arms["fp8"]])
    naive = scores.std(ddof=1) / np.sqrt(len(scores))
    clustered = clustered_mean(item_scores(arms["fp8"]).values()).se
    assert clustered > 1.3 * naive  # items differ in difficulty: seeds are not independent questions


@pytest.mark.parametrize(("delta", "verdict", "code"), [(-0.10, "REGRESSION", 1), (-0.03, "INCONCLUSIVE", 3)])
def test_compare_over_seeds_follows_the_true_delta(sim, tmp_path: Path, gpqa_dir: Path, delta: float, verdict: str, code: int) -> None:
    got, gate = compare(sim, tmp_path, gpqa_dir, delta)
    (t,) = gate["tasks"]
    assert (got, t["verdict"]) == (code, verdict)
    if verdict == "INCONCLUSIVE":
        assert t["ci"][0] <= -0.03 <= t["ci"][1] and t["items_needed"] > 0
