"""How fast the circuit breaker declares a dead server down, and whether it declares a mostly
healthy one down (README, "Circuit breaker").

    python benchmarks/breaker.py                        # this checkout
    python benchmarks/breaker.py --evals-src OLD_CHECKOUT   # another checkout's `evals`, same server

`evals run` (GSM8K, default retries: `max_retries` 5, `retry_backoff_s` 0.5, `max_timeout_retries`
1, `max_consecutive_failures` 10; `timeout_s` 1, so that a timeout costs D = 1 s) against a small
aiohttp server on 127.0.0.1 that answers every prompt after 20 ms until it "dies":

- dead: from the start, or midway (after 60 answers, requests in flight included), every
  request is reset (`reset`, a connection error) or never answered (`hang`, a timeout). Measured:
  seconds from the death to the "declared down" line on stderr, median of `--repeats`;
- some: from the start a fixed 20 % of prompts (by a hash of the body) is reset on every attempt,
  the rest answered in 2 ms, as in the independent review (and with its `max_retries` 2,
  `retry_backoff_s` 0.05); and 8 % with the default 5 retries (`retry_backoff_s` 0.05), where
  with one slot two adjacent failing prompts made the count (a second review). Measured: in how
  many of `--repeats` runs the endpoint was declared down, and the EndpointDown records of those runs.

These are measurements, not tests: no timing is asserted. Needs EVALS_DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
# the review's retries (a failing prompt is given up after 0.15 s rather than 15 s, so a run takes seconds)
REVIEW_RETRIES = "max_retries = 2\nretry_backoff_s = 0.05\n"
# a second review's case: with one slot, two adjacent failing prompts (6 tries each) made the count
SOME = ((0.2, REVIEW_RETRIES, "20 % of prompts reset every attempt"),
        (0.08, "max_retries = 5\nretry_backoff_s = 0.05\n", "8 % of prompts reset every attempt, 5 retries"))
ANSWER = {"choices": [{"index": 0, "text": " The answer is 1.", "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 5}}


class Server:
    """Answers after `latency_s`, unless dead (then every request, in flight or new, fails as `mode`
    says) or its prompt is among the `some` share struck on every attempt."""

    def __init__(self, mode: str, die_after: int | None, some: float = 0.0, latency_s: float = 0.02) -> None:
        self.mode, self.die_after, self.some, self.latency_s = mode, die_after, some, latency_s
        self.answered = 0
        self.died_at: float | None = None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/models", lambda r: web.json_response({"data": [{"id": "m", "object": "model"}]}))
        app.router.add_post("/v1/completions", self._complete)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/v1"

    async def _fail(self, request: web.Request) -> web.Response:
        if self.mode == "hang":
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(0.05)
        elif request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    async def _complete(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.die_after == 0 and self.died_at is None:  # dead from the start: timed from the first request
            self.died_at = time.monotonic()
        if self.some and int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") / 2**64 < self.some:
            return await self._fail(request)
        await asyncio.sleep(self.latency_s)
        if self.died_at is not None:
            return await self._fail(request)
        self.answered += 1
        if self.die_after is not None and self.answered >= self.die_after:
            self.died_at = time.monotonic()
        return web.json_response(ANSWER)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)


def run(src: Path, server: Server, concurrency: int, items: int, folder: Path, extra: str = "") -> tuple[float | None, int]:
    """Seconds from the server's death to the "declared down" line (None: never), and the
    EndpointDown records."""
    config = folder / "evals.toml"
    config.write_text(f'[endpoints.e]\nbase_url = "{server.url}"\nmodel = "m"\nmax_concurrency = {concurrency}\ntimeout_s = 1\n{extra}')
    out = folder / "out"
    env = {**os.environ, "PYTHONPATH": str(src), "EVALS_PROGRESS_EVERY_S": "3600"}
    proc = subprocess.Popen([sys.executable, "-m", "evals", "run", "e", "--config", str(config), "--limit", str(items), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=folder)
    down_at = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if down_at is None and "declared down" in line:
            down_at = time.monotonic()
    proc.wait(timeout=600)
    records = [json.loads(line) for line in (out / "e" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    endpoint_down = sum(1 for r in records if r["error"] and r["error"].startswith("EndpointDown"))
    if down_at is None or server.died_at is None:
        return None, endpoint_down
    return down_at - server.died_at, endpoint_down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals-src", help="the checkout whose `evals` is measured (default: this one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,10,32")
    parser.add_argument("--skip-dead", action="store_true", help="only the server that fails some prompts")
    args = parser.parse_args()
    src = Path(args.evals_src).resolve() if args.evals_src else REPO
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"evals from {src}; D = 1 s (timeout_s); defaults otherwise")
    print("| server | concurrency | seconds from death to 'declared down' (median; min-max) |\n|---|---|---|")
    for when, die_after in () if args.skip_dead else (("dead from the start", 0), ("dies after 60 answers", 60)):
        for mode in ("reset", "hang"):
            for c in levels:
                times: list[float] = []
                for _ in range(args.repeats):
                    server = Server(mode, die_after)
                    with tempfile.TemporaryDirectory() as tmp:
                        seconds, _ = run(src, server, c, 400, Path(tmp))
                    server.close()
                    times.append(float("inf") if seconds is None else seconds)
                print(f"| {when}, {mode} | {c} | {statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) |", flush=True)
    print("\n| server | concurrency | runs declared down | EndpointDown records in those runs (of 400) |\n|---|---|---|---|")
    for share, retries, what in SOME:
        for c in levels:
            opened, lost = 0, []
            for _ in range(args.repeats):
                server = Server("reset", None, some=share, latency_s=0.002)
                with tempfile.TemporaryDirectory() as tmp:
                    seconds, endpoint_down = run(src, server, c, 400, Path(tmp), retries)
                server.close()
                if endpoint_down:
                    opened += 1
                    lost.append(endpoint_down)
            print(f"| {what} | {c} | {opened} of {args.repeats} | {', '.join(map(str, lost)) or '-'} |", flush=True)


if __name__ == "__main__":
    main()
