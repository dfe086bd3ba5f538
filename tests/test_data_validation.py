"""Data files are checked before any request (issue 10): a bad row is one line naming the file
and the line, exit 2, never a traceback; a duplicated item is refused with its id and lines.

The data folders are small copies of the real GSM8K files (and of the synthetic GPQA CSV: real
GPQA must not be published in plain text), with one fault put in.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import run_evals

from evals.cli import main
from evals.errors import UsageError
from evals.synthetic import write_gpqa_like
from evals.tasks.gpqa import COLUMNS, GpqaDiamond, GpqaOptions
from evals.tasks.gsm8k import Gsm8k, Gsm8kOptions, item_id, load_split

N_ROWS = 30


@pytest.fixture
def small(tmp_path: Path, data_dir: Path) -> Path:
    """`tmp_path/data` with the first 30 rows of the real test and train files, and a 30-row GPQA CSV."""
    folder = tmp_path / "data"
    (folder / "gsm8k").mkdir(parents=True)
    for split in ("test", "train"):
        lines = (data_dir / "gsm8k" / f"{split}.jsonl").read_text().splitlines()[:N_ROWS]
        (folder / "gsm8k" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    write_gpqa_like(folder, n=N_ROWS)
    return folder


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def row(path: Path, number: int) -> dict[str, str]:
    return json.loads(path.read_text().splitlines()[number - 1])


def one_line_error(fn: object) -> str:
    with pytest.raises(UsageError) as err:
        fn()  # type: ignore[operator]
    assert "\n" not in str(err.value)
    return str(err.value)


# --- GSM8K ----------------------------------------------------------------------------------

BAD_GSM8K_LINES = [
    ('{"question": "How many?", "answer": "3 #### 3"', "not JSON (Expecting ',' delimiter, column "),
    ("garbage", "not JSON (Expecting value, column 1)"),
    ('["How many?", "#### 3"]', 'expected a JSON object with "question" and "answer", got list'),
    ('{"question": "How many apples?"}', 'no "answer"'),
    ('{"answer": "2 + 1 = 3\\n#### 3"}', 'no "question"'),
    ('{"question": "  ", "answer": "#### 3"}', 'an empty or non-text "question"'),
    ('{"question": "How many?", "answer": 3}', 'an empty or non-text "answer"'),
    ('{"question": "How many apples?", "answer": "2 + 1 = 3"}', '"answer" has no final "#### N" line'),
    ('{"question": "How many apples?", "answer": "#### three"}', '"answer" has no final "#### N" line'),
]


@pytest.mark.parametrize(("line", "why"), BAD_GSM8K_LINES)
@pytest.mark.parametrize("split", ["test", "train"])
def test_bad_gsm8k_row_names_file_and_line(small: Path, split: str, line: str, why: str) -> None:
    path = small / "gsm8k" / f"{split}.jsonl"
    replace_line(path, 17, line)
    message = one_line_error(lambda: load_split(small, split))
    assert message.startswith(f"{path} line 17: {why}")


def test_bad_train_row_fails_lm_eval_before_any_prompt(small: Path) -> None:
    """lm-eval draws its shots from train, so a bad train row stops the task at load_items."""
    replace_line(small / "gsm8k" / "train.jsonl", 4, "{")
    task = Gsm8k(Gsm8kOptions(format="lm-eval"), small)
    assert one_line_error(task.load_items).startswith(f"{small / 'gsm8k' / 'train.jsonl'} line 4: not JSON")


def test_blank_lines_are_skipped_and_line_numbers_stay_true(small: Path) -> None:
    path = small / "gsm8k" / "test.jsonl"
    path.write_text("\n" + path.read_text().replace("\n", "\n\n", 1))
    assert len(load_split(small, "test")) == N_ROWS
    replace_line(path, 10, "oops")
    assert one_line_error(lambda: load_split(small, "test")).startswith(f"{path} line 10: ")


def test_duplicated_gsm8k_question_is_refused_with_its_id_and_lines(small: Path) -> None:
    """Items are identified by a hash of the question: two rows of one question cannot be paired."""
    path = small / "gsm8k" / "test.jsonl"
    third, eighth = row(path, 3), row(path, 8)
    with path.open("a") as f:
        f.write(json.dumps(third) + "\n" + json.dumps({**eighth, "answer": "another solution\n#### 1"}) + "\n")
    message = one_line_error(Gsm8k(Gsm8kOptions(limit=5), small).load_items)
    assert message == (
        f"{path}: 2 question(s) occur more than once (an item's id is a hash of its question): "
        f"item {item_id(third['question'])} at lines 3, 31; item {item_id(eighth['question'])} at lines 8, 32"
    )


def test_the_real_files_pass(data_dir: Path) -> None:
    assert (len(load_split(data_dir, "test")), len(load_split(data_dir, "train"))) == (1319, 7473)


# --- GPQA -----------------------------------------------------------------------------------


def rewrite_gpqa(folder: Path, edit: object) -> Path:
    """Read the CSV, let `edit(header, rows)` change it, write it back; returns the path."""
    path = folder / "gpqa" / "gpqa_diamond.csv"
    with path.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    edit(header, rows)  # type: ignore[operator]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def gpqa_error(folder: Path) -> str:
    return one_line_error(GpqaDiamond(GpqaOptions(), folder).load_items)


@pytest.mark.parametrize("column", ["Question", "Correct Answer", "Incorrect Answer 3", "Record ID"])
def test_gpqa_empty_cell_names_file_line_and_column(small: Path, column: str) -> None:
    path = rewrite_gpqa(small, lambda header, rows: rows[6].__setitem__(header.index(column), "  "))
    assert gpqa_error(small) == f"{path} line 8: empty {column!r}"


def test_gpqa_line_numbers_count_multiline_questions(small: Path) -> None:
    """A quoted question can span lines: the row is named by the line it starts on."""

    def edit(header: list[str], rows: list[list[str]]) -> None:
        rows[1][header.index("Question")] = "first line\nsecond line\nthird line"
        rows[4][header.index("Correct Answer")] = ""

    path = rewrite_gpqa(small, edit)
    assert gpqa_error(small) == f"{path} line 8: empty 'Correct Answer'"


def test_gpqa_short_row_and_extra_cells(small: Path) -> None:
    header: list[str] = []
    path = rewrite_gpqa(small, lambda h, rows: (header.extend(h), rows[2].__setitem__(slice(None), rows[2][: h.index("Record ID")])))
    assert gpqa_error(small) == f"{path} line 4: empty 'Record ID'"
    # a stray comma in an unquoted cell: one cell more than the header
    path = rewrite_gpqa(small, lambda h, rows: (rows[2].extend(["x"] * (len(h) - len(rows[2]))), rows[5].append("stray")))
    assert gpqa_error(small) == f"{path} line 7: {len(header) + 1} cells, but the header has {len(header)} columns"


def test_gpqa_missing_column(small: Path) -> None:
    def drop(header: list[str], rows: list[list[str]]) -> None:
        j = header.index("Incorrect Answer 2")
        for r in [header, *rows]:
            del r[j]

    path = rewrite_gpqa(small, drop)
    assert gpqa_error(small).startswith(f"{path}: missing column(s) 'Incorrect Answer 2' (the header has ")


def test_gpqa_duplicated_record_id_is_refused_with_its_lines(small: Path) -> None:
    ids: list[str] = []

    def duplicate(header: list[str], rows: list[list[str]]) -> None:
        j = header.index("Record ID")
        ids.append(rows[2][j])
        rows[20][j] = rows[2][j]

    path = rewrite_gpqa(small, duplicate)
    assert gpqa_error(small) == f"{path}: 1 Record ID(s) occur more than once (items are paired by it): {ids[0]!r} at lines 4, 22"


def test_gpqa_not_utf8(small: Path) -> None:
    path = small / "gpqa" / "gpqa_diamond.csv"
    path.write_bytes(path.read_bytes() + b"\xff\xfe,x\n")
    assert gpqa_error(small).startswith(f"{path}: not UTF-8 text")


def test_gpqa_columns_are_what_the_task_reads() -> None:
    assert COLUMNS == ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3", "Record ID"]


# --- through the CLI ------------------------------------------------------------------------


def test_run_with_a_bad_gsm8k_line_is_one_line_exit_2(sim, small: Path, tmp_path: Path) -> None:
    server = sim()
    path = small / "gsm8k" / "test.jsonl"
    replace_line(path, 12, '{"question": "Half a row')
    result = run_evals("run", server.url, "--limit", "5", "--out", str(tmp_path / "out"), cwd=tmp_path, env={"EVALS_DATA_DIR": str(small)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"evals: error: {path} line 12: not JSON (Unterminated string starting at, column 14)\n"
    assert server.stats()["requests"] == {}  # not even /v1/models: the data is checked first


def test_compare_with_a_duplicated_question_is_refused_not_an_error_verdict(sim, small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It once gave an ERROR "4.8 %" with 0 errors: the duplicate's records collided."""
    ref, cand = sim(), sim("--profile", "quantized")
    path = small / "gsm8k" / "test.jsonl"
    with path.open("a") as f:
        f.write(json.dumps(row(path, 2)) + "\n")
    config = tmp_path / "evals.toml"
    config.write_text(f'data_dir = "{small}"\n')
    assert main(["compare", ref.url, cand.url, "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"evals: error: {path}: 1 question(s) occur more than once (an item's id is a hash of its question): item {item_id(row(path, 2)['question'])} at lines 2, 31\n"
    assert ref.stats()["requests"] == {} and cand.stats()["requests"] == {}


def test_gpqa_bad_row_through_the_cli(sim, small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = sim()
    path = rewrite_gpqa(small, lambda header, rows: rows[0].__setitem__(header.index("Incorrect Answer 1"), ""))
    config = tmp_path / "evals.toml"
    config.write_text(f'data_dir = "{small}"\n')
    assert main(["run", server.url, "--tasks", "gpqa_diamond", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"evals: error: {path} line 2: empty 'Incorrect Answer 1'\n"
    assert server.stats()["requests"] == {}
