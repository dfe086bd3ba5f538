"""report.html: rendered in a real browser (Debian's chromium, driven by playwright) and checked as a reader sees it.

`.ci/run` installs chromium; the page is checked after its script ran (the DOM), not as HTML text.
A screenshot of each page goes to pytest's tmp dir and, when EVALS_ARTIFACTS is set, there too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_evals

from evals.config import GateConfig
from evals.gate import gate_saved
from evals.records import load_run, read_records
from evals.synthetic import comparison_runs, write_gpqa_like

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser: Any, path: Path, shot: Path) -> Any:
    """The report, loaded and its script run; fails on any script error; screenshots kept for CI."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"fetched {r.url}") if not r.url.startswith(("file:", "data:", "about:")) else None)
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert errors == []
    page.screenshot(path=str(shot))
    if os.environ.get("EVALS_ARTIFACTS"):
        Path(os.environ["EVALS_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["EVALS_ARTIFACTS"]) / shot.name)
    return page


def item_means(path: Path) -> dict[str, float]:
    by_item: dict[str, list[float]] = {}
    for r in read_records(path):
        by_item.setdefault(r.item_id, []).append(r.score if r.error is None else 0.0)
    return {i: sum(s) / len(s) for i, s in by_item.items()}


def test_compare_writes_a_report_that_renders(sim, tmp_path: Path, data_dir: Path, browser: Any) -> None:
    data = write_gpqa_like(tmp_path / "data", n=40)
    (data / "gsm8k").symlink_to(data_dir / "gsm8k")
    common = ("--data-dir", str(data), "--seed", "3")
    ref, cand = sim("--profile", "reference", *common), sim("--profile", "quantized", "--delta", "-0.1", *common)
    config = tmp_path / "evals.toml"
    config.write_text(f'[endpoints.fp8]\nbase_url = "{ref.url}"\n[endpoints.mxfp4]\nbase_url = "{cand.url}"\n'
                      "[tasks.gsm8k]\nlimit = 150\n[tasks.gpqa_diamond]\nrepeats = 2\n")
    out = tmp_path / "out"
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", "gsm8k,gpqa_diamond", "--config", str(config), "--out", str(out), env={"EVALS_DATA_DIR": str(data)})
    assert result.returncode in (0, 1, 3), result.stderr
    gate = json.loads((out / "gate.json").read_text())
    report = out / "report.html"
    assert report.stat().st_size < 5_000_000
    svgs = re.findall(r"<svg.*?</svg>", report.read_text(), re.S)
    assert len(svgs) >= 5  # forest, discordance, GPQA's item means, tokens, latency
    for svg in svgs:
        ElementTree.fromstring(svg)  # well-formed: a stray character from a label would break the whole figure

    page = open_page(browser, report, tmp_path / "report-compare.png")
    assert gate["verdict"] in page.inner_text("#verdict-banner")
    # one forest-plot row per task, in the inline SVG
    rows = page.eval_on_selector_all("#plot-forest [id^='forest-task-']", "els => els.map(e => e.id)")
    assert sorted(rows) == sorted(f"forest-task-{t['task']}" for t in gate["tasks"])
    for t in gate["tasks"]:
        assert t["verdict"] in page.inner_text(f"tr.task-row[data-task='{t['task']}']")

    # every item whose mean score differs between the arms is listed (first page of 50), with both answers
    ref_means = {**item_means(out / "fp8" / "gsm8k" / "records.jsonl"), **item_means(out / "fp8" / "gpqa_diamond" / "records.jsonl")}
    cand_means = {**item_means(out / "mxfp4" / "gsm8k" / "records.jsonl"), **item_means(out / "mxfp4" / "gpqa_diamond" / "records.jsonl")}
    flipped = {i for i in ref_means if ref_means[i] != cand_means[i]}
    assert len(flipped) > 5
    assert page.inner_text("#f-count").startswith(f"{len(flipped):,} of ")
    page.select_option("#f-task", "gsm8k")
    page.select_option("#f-dir", "worse")
    worse = [r for r in read_records(out / "fp8" / "gsm8k" / "records.jsonl") if r.score > cand_means[r.item_id]]
    shown = page.eval_on_selector_all("#items .item", "els => els.map(e => e.dataset.item)")
    assert worse and set(shown) <= {r.item_id for r in worse} and len(shown) == min(50, len(worse))
    one = worse[0]
    cand_record = next(r for r in read_records(out / "mxfp4" / "gsm8k" / "records.jsonl") if r.key == one.key)
    arms = page.locator(f".item[data-item='{one.item_id}'] .arm")
    assert arms.count() == 2
    assert f"extracted: {one.extracted}" in arms.nth(0).inner_text() and f"extracted: {cand_record.extracted}" in arms.nth(1).inner_text()
    assert "fp8" in arms.nth(0).inner_text() and "mxfp4" in arms.nth(1).inner_text()
    card = page.locator(f".item[data-item='{one.item_id}']")
    card.locator("details.prompt > summary").first.click()
    assert "Question:" in card.locator("details.prompt").first.inner_text()  # the prompt, rebuilt from the task, expands
    page.screenshot(path=str(tmp_path / "report-compare-answers.png"))

    # a response is text, never markup: a hostile answer is shown, not run (and cannot end the data's <script>)
    from evals.html import comparison_html

    runs = [load_run(out / arm) for arm in ("fp8", "mxfp4")]
    hostile = "</script><img src=x onerror=\"document.body.dataset.pwned=1\"><b>bold</b>"
    target = next(r for r in runs[1]["gsm8k"][1] if r.key == one.key)
    target.response = hostile + (target.response or "")
    only = [{"gsm8k": r["gsm8k"]} for r in runs]
    again = tmp_path / "again.html"
    again.write_text(comparison_html("fp8", "mxfp4", gate_saved(*only, GateConfig()), *only, data))
    page = open_page(browser, again, tmp_path / "report-escaped.png")
    page.fill("#f-id", one.item_id)
    assert hostile in page.inner_text(f".item[data-item='{one.item_id}']")
    assert page.locator("#items img").count() == 0 and page.locator("#items b", has_text="bold").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None

    # a report that cannot be written: exit 4, one line, nothing else written
    failed = run_evals("report", str(out / "fp8" / "gsm8k"), "--html", str(tmp_path / "no" / "such" / "r.html"))
    assert failed.returncode == 4 and len(failed.stderr.strip().splitlines()) == 1 and "--html" in failed.stderr
    assert not (tmp_path / "no").exists()


def test_full_gsm8k_and_gpqa_report_is_small_and_renders(tmp_path: Path, data_dir: Path, browser: Any) -> None:
    """1,319 × 2 GSM8K + 198 × 4 × 2 GPQA records: under 5 MB, and the browser builds the page (timing: benchmarks/html_report.py)."""
    from evals.html import comparison_html

    data = write_gpqa_like(tmp_path / "data")
    (data / "gsm8k").symlink_to(data_dir / "gsm8k")
    reference, candidate = comparison_runs(data, data)
    assert sum(len(r) for _, r in reference.values()) == 1319 + 198 * 4
    verdicts = gate_saved(reference, candidate, GateConfig())
    report = tmp_path / "big.html"
    report.write_text(comparison_html("reference", "candidate", verdicts, reference, candidate, data))
    assert report.stat().st_size < 5_000_000
    page = open_page(browser, report, tmp_path / "report-big.png")
    assert page.inner_text("#f-count").endswith(f" of {1319 + 198:,} items")
    page.select_option("#f-dir", "all")
    assert page.locator("#items .item").count() == 50 and page.locator("#more").is_visible()


def test_report_holds_no_credentials_and_numbers_match_gate_json(tmp_path: Path, data_dir: Path) -> None:
    from evals.html import comparison_html
    from evals.report import gate_json

    data = write_gpqa_like(tmp_path / "data", n=198)
    (data / "gsm8k").symlink_to(data_dir / "gsm8k")
    reference, candidate = comparison_runs(data, data, gpqa_repeats=2)
    for runs in (reference, candidate):
        for manifest, _ in runs.values():
            manifest.base_url = "https://alice:s3cret-token@gpu.example.com/v1"  # an old manifest, written before URLs were stripped
    verdicts = gate_saved(reference, candidate, GateConfig())
    page = comparison_html("reference", "candidate", verdicts, reference, candidate, data)
    assert "s3cret" not in page and "alice" not in page and "https://gpu.example.com/v1" in page
    gate = gate_json("reference", "candidate", verdicts)
    for t in gate["tasks"]:
        assert f"{t['delta']:+.4f}" in page and f"[{t['ci'][0]:+.4f}, {t['ci'][1]:+.4f}]" in page


def test_cli_does_not_import_the_report() -> None:
    """The report's page and plots are imported only when a report is written: `evals --help` stays fast."""
    code = "import sys, evals.cli; evals.cli.parser(); assert 'evals.plots' not in sys.modules and 'evals.html' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
