"""kill -9 evidence: `evals compare` killed at random moments, and an endpoint killed midway.

What can be asserted exactly. The simulator counts a request when it arrives. A record is
appended as soon as its response is read, with no await in between, so when `evals` is
killed, the requests that reached a simulator but left no record are at most those holding
the endpoint's semaphore: `max_concurrency`. A rerun sends each missing item once. Hence,
per arm and per run: records written ≤ requests served ≤ items missing before the run, and
requests served − records written ≤ max_concurrency; at the end, exactly the expected unique
records, none duplicated, and a final rerun that sends exactly the missing ones.
"""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from conftest import SimProcess

from evals.records import read_records

ITEMS = 200
CONCURRENCY = 4
ARMS = ("fp8", "mxfp4")


def write_config(path: Path, ref: str, cand: str, **cand_options: object) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in cand_options.items())
    path.write_text(
        f'[endpoints.fp8]\nbase_url = "{ref}"\nmax_concurrency = {CONCURRENCY}\nmax_retries = 0\n\n'
        f'[endpoints.mxfp4]\nbase_url = "{cand}"\nmax_concurrency = {CONCURRENCY}\nmax_retries = 0\n{extra}'
    )
    return path


def served(server: SimProcess) -> int:
    return server.stats()["requests"].get("/v1/completions", 0)


def done(out: Path, arm: str) -> int:
    return sum(r.error is None for r in read_records(out / arm / "gsm8k" / "records.jsonl"))


def assert_complete_without_duplicates(out: Path) -> None:
    for arm in ARMS:
        path = out / arm / "gsm8k" / "records.jsonl"
        records = read_records(path)
        assert len(records) == ITEMS and all(r.error is None for r in records), arm
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        error_free = Counter((r["item_id"], r["repeat"]) for r in lines if r["error"] is None)
        assert len(error_free) == ITEMS and max(error_free.values()) == 1, arm  # no item answered twice


def test_kill_9_of_compare_at_five_random_moments(sim, tmp_path: Path) -> None:
    servers = {"fp8": sim("--latency-ms", "100"), "mxfp4": sim("--latency-ms", "100", "--profile", "quantized", "--delta", "0")}
    config = write_config(tmp_path / "evals.toml", servers["fp8"].url, servers["mxfp4"].url)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "evals", "compare", "fp8", "mxfp4", "--limit", str(ITEMS), "--config", str(config), "--out", str(out)]
    moments = random.Random(20261125)

    for kill in range(5):
        missing = {arm: ITEMS - done(out, arm) for arm in ARMS}
        before = {arm: served(s) for arm, s in servers.items()}
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while served(servers["fp8"]) == before["fp8"] and time.monotonic() < deadline:
            time.sleep(0.02)  # until it is sending
        time.sleep(moments.uniform(0.05, 1.2))
        proc.kill()
        assert proc.wait(timeout=10) == -9, f"run {kill} finished before it was killed"
        time.sleep(0.3)  # let the simulators count what was on the wire
        for arm, server in servers.items():
            sent, written = served(server) - before[arm], missing[arm] - (ITEMS - done(out, arm))
            assert 0 <= written <= sent <= missing[arm], (kill, arm, written, sent, missing[arm])
            assert sent - written <= CONCURRENCY, (kill, arm, sent, written)  # lost: only what was in flight

    missing = {arm: ITEMS - done(out, arm) for arm in ARMS}
    assert all(0 < m < ITEMS for m in missing.values()), missing  # the kills landed mid-run
    before = {arm: served(s) for arm, s in servers.items()}
    final = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert final.returncode in (0, 3), final.stderr
    for arm in ARMS:
        assert f"resuming {out} ({arm}/gsm8k): {ITEMS - missing[arm]} of {ITEMS} done" in final.stderr
        assert served(servers[arm]) - before[arm] == missing[arm]  # only the missing ones were sent again
    assert_complete_without_duplicates(out)
    lost = {arm: served(s) - ITEMS for arm, s in servers.items()}
    assert all(0 <= n <= 5 * CONCURRENCY for n in lost.values()), lost


def test_kill_9_of_an_endpoint_midway_then_restart_and_resume(sim, tmp_path: Path) -> None:
    ref = sim("--latency-ms", "50")
    cand = sim("--latency-ms", "100", "--profile", "quantized", "--delta", "0")
    port = cand.url.rsplit(":", 1)[1].split("/")[0]
    config = write_config(tmp_path / "evals.toml", ref.url, cand.url, timeout_s=5)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "evals", "compare", "fp8", "mxfp4", "--limit", str(ITEMS), "--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while served(cand) < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    cand.proc.kill()  # kill -9 of the candidate's server, midway
    cand.proc.wait(timeout=10)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err  # its remaining requests failed: ERROR, never a verdict
    hint = [line for line in err.splitlines() if "to retry only them: " in line]
    assert hint, err
    resume = shlex.split(hint[-1].split("to retry only them: ", 1)[1])
    assert resume[0] == "evals" and resume[-2:] == ["--out", str(out)]

    failed = {arm: ITEMS - done(out, arm) for arm in ARMS}
    assert failed["fp8"] == 0 and 0 < failed["mxfp4"] < ITEMS, failed
    ref_before = served(ref)
    restarted = sim("--port", port, "--latency-ms", "10", "--profile", "quantized", "--delta", "0")
    assert restarted.url == cand.url
    rerun = subprocess.run([sys.executable, "-m", "evals", *resume[1:]], capture_output=True, text=True, timeout=120)
    assert rerun.returncode in (0, 3), rerun.stderr
    assert served(restarted) == failed["mxfp4"] and served(ref) == ref_before  # only the failed ones, only on that arm
    assert_complete_without_duplicates(out)
