"""How long the HTML report of a full GSM8K + GPQA comparison takes to write and to open.

    EVALS_DATA_DIR=../shared/data python benchmarks/html_report.py [--runs 3]

Synthesises 1,319 × 2 GSM8K and 198 × 4 × 2 GPQA-Diamond records (`evals.synthetic.comparison_runs`;
GSM8K's real files when EVALS_DATA_DIR has them, else synthetic problems), renders the
report as `evals compare` does, and opens it in headless Debian chromium through playwright,
timing from navigation to the page's script having built the answer browser
(`body[data-ready]`). Prints the file size, the render time and each load time; the figures
in docs/report.md come from this script, not from a timed test (a shared CI machine's
timings are noise).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from evals.config import GateConfig
from evals.gate import gate_saved
from evals.html import comparison_html
from evals.synthetic import comparison_runs, write_gpqa_like, write_gsm8k_like


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="page loads to time")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = write_gpqa_like(folder / "data")  # one data folder for both tasks, as EVALS_DATA_DIR would be
        env = os.environ.get("EVALS_DATA_DIR")
        if env and (Path(env) / "gsm8k" / "test.jsonl").exists():
            (data / "gsm8k").symlink_to(Path(env).resolve() / "gsm8k")
        else:
            write_gsm8k_like(data)
        reference, candidate = comparison_runs(data, data)
        started = time.perf_counter()
        verdicts = gate_saved(reference, candidate, GateConfig())
        page = comparison_html("reference", "candidate", verdicts, reference, candidate, data)
        rendered = time.perf_counter() - started
        path = folder / "report.html"
        path.write_text(page)
        print(f"report: {path.stat().st_size / 1e6:.2f} MB, written in {rendered:.2f} s (gate and plots included)")

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            for run in range(args.runs):
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                started = time.perf_counter()
                tab.goto(path.as_uri())
                tab.wait_for_selector("body[data-ready='1']")
                print(f"load {run + 1}: {time.perf_counter() - started:.2f} s to a usable page")
                tab.close()
            browser.close()


if __name__ == "__main__":
    main()
