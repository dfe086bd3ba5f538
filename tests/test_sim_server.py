"""The simulator's server model: a batch limit that queues, time to first token, decode speed."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

from evals.sim import Gsm8kCatalog, Simulator, start
from evals.tasks.gsm8k import load_split


def test_batch_limit_queues_and_service_time_adds_up(data_dir: Path) -> None:
    """Six requests at once on a batch of two take three rounds; the server says how long it served."""
    rows = load_split(data_dir, "test")[:6]
    sim = Simulator(catalogs=[Gsm8kCatalog(rows)], ttft_ms=150, tokens_per_s=1000, max_batch=2)

    async def main() -> tuple[float, dict]:
        runner, url = await start(sim)
        try:
            loop = asyncio.get_running_loop()

            def post(question: str) -> dict:
                body = json.dumps({"model": "sim-reference", "prompt": f"Question: {question}\nAnswer:"}).encode()
                request = urllib.request.Request(url + "/completions", data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as r:
                    return json.load(r)

            started = time.monotonic()
            answers = await asyncio.gather(*(loop.run_in_executor(None, post, row["question"]) for row in rows))
            elapsed = time.monotonic() - started
            assert all(a["choices"][0]["text"] for a in answers)
            stats = await loop.run_in_executor(None, lambda: json.load(urllib.request.urlopen(url.removesuffix("/v1") + "/sim/stats", timeout=10)))
            return elapsed, stats
        finally:
            await runner.cleanup()

    elapsed, stats = asyncio.run(main())
    words = sum(len(r["answer"].split("####")[-1].split()) for r in rows)  # at least the answers' own words
    assert stats["peak_batch"] == 2 and stats["max_batch"] == 2
    assert stats["service_s"] >= 6 * 0.150 + words / 1000
    assert elapsed >= 3 * 0.150  # three rounds of two: the batch limit queued the rest
    assert stats["busy_s"] >= 3 * 0.150 - 0.01


def test_difficulties_computed_ahead_are_the_item_by_item_ones(data_dir: Path) -> None:
    """The simulator computes every item's difficulty in one call when it starts; its answers
    must not change for it (tests and calibration runs rely on the same seed giving the same run)."""
    import evals.simmodel as simmodel

    catalog = Gsm8kCatalog(load_split(data_dir, "test"))
    ids = catalog.item_ids()
    assert len(ids) == 1319
    for model in (simmodel.SimModel(), simmodel.SimModel(accuracy=0.97, concentration=0.5, seed=3)):
        simmodel._DIFFICULTIES.clear()
        one_by_one = [model.difficulty(i) for i in ids]
        simmodel._DIFFICULTIES.clear()
        Simulator([catalog], model=model)  # warms the cache
        assert len(simmodel._DIFFICULTIES) >= len(ids)
        assert [model.difficulty(i) for i in ids] == one_by_one
