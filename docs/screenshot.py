"""docs/report.png, the README's picture of report.html: `python docs/screenshot.py`.

Runs `evals demo --delta -0.03` (simulators on 127.0.0.1) into a temporary folder and takes the
top of its report.html in Debian's chromium, driven by playwright, as the report's test does.
Needs EVALS_DATA_DIR (the GSM8K files) and chromium on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        done = subprocess.run([sys.executable, "-m", "evals", "demo", "--delta", "-0.03", "--out", str(out)], capture_output=True, text=True)
        if done.returncode not in (0, 1, 3):
            print(done.stderr, file=sys.stderr)
            return done.returncode
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            page.goto((out / "report.html").as_uri())
            page.wait_for_selector("body[data-ready]")
            page.screenshot(path=str(DOCS / "report.png"))
            browser.close()
    print(f"wrote {DOCS / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
