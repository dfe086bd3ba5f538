"""The fault matrix over real HTTP: each broken answer or connection the simulator can serve,
at 10 % (retries hide it: no error, no broken answer scored) and at 100 % (an ERROR, exit 4,
never a verdict), on 200 GSM8K items, with the exact count of records, errors and requests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import run_evals

from evals.sim import Catalog, Fault, Simulator, load_catalogs, start
from evals.simmodel import SimModel
from evals.tasks.gsm8k import Gsm8k, Gsm8kOptions

ITEMS = 200
# At 10 % an item fails for good only if all its tries are struck: 1e-6 with 5 retries. At 100 %
# fewer retries keep the run short; each is counted.
MAX_RETRIES = {0.1: 5, 1.0: 2}
BREAKER = 10
# A hang costs the whole timeout; 1 s is far above the simulator's answer time even on a busy CI box.
TIMEOUT_S = 1.0
# Where nothing answers (hang, close), the breaker ends the run: with one request in flight the
# count of requests is exactly the breaker's threshold.
KILLS_THE_ENDPOINT = {"hang", "close"}


class SimThread:
    """Simulators served from one event loop in a thread: the same server as `evals sim`, over
    real HTTP, without a process start (and a data load) per case of the matrix."""

    def __init__(self, catalogs: list[Catalog]) -> None:
        self.catalogs = catalogs
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list = []

    def serve(self, faults: list[str], seed: int = 0, persistent: bool = False) -> tuple[Simulator, str]:
        sim = Simulator(catalogs=self.catalogs, model=SimModel(seed=seed), faults=[Fault.parse(f) for f in faults], hang_s=30, persistent_faults=persistent)
        runner, url = asyncio.run_coroutine_threadsafe(start(sim), self.loop).result(timeout=30)
        self.runners.append(runner)
        return sim, url

    def close(self) -> None:
        for runner in self.runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def sims(data_dir: Path) -> Iterator[Callable[..., tuple[Simulator, str]]]:
    served = SimThread(load_catalogs(data_dir))
    yield served.serve
    served.close()


def write_config(path: Path, url: str, concurrency: int, retries: int, backoff_s: float = 0.005) -> Path:
    path.write_text(
        "\n".join(
            [
                "[endpoints.sim]",
                f'base_url = "{url}"',
                f"max_concurrency = {concurrency}",
                f"max_retries = {retries}",
                f"max_timeout_retries = {retries}",
                f"retry_backoff_s = {backoff_s}",
                f"timeout_s = {TIMEOUT_S}",
                f"max_consecutive_failures = {BREAKER}",
            ]
        )
        + "\n"
    )
    return path


@pytest.mark.parametrize("rate", [0.1, 1.0])
@pytest.mark.parametrize("fault", ["malformed", "empty", "null", "abort", "hang", "close"])
def test_fault_matrix(sims, tmp_path: Path, data_dir: Path, fault: str, rate: float) -> None:
    server, url = sims([f"{fault}:{rate}"], seed=1)
    concurrency = 1 if rate == 1.0 and fault in KILLS_THE_ENDPOINT else 8
    config = write_config(tmp_path / "evals.toml", url, concurrency, MAX_RETRIES[rate])
    out = tmp_path / "out"
    result = run_evals("run", "sim", "--config", str(config), "--limit", str(ITEMS), "--out", str(out), timeout=120)

    lines = [json.loads(line) for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    assert len(lines) == ITEMS and len({(r["item_id"], r["repeat"]) for r in lines}) == ITEMS  # none lost, none twice
    errors = [r for r in lines if r["error"] is not None]
    stats = server.requests
    sent, struck = stats["/v1/completions"], stats.get(f"fault:{fault}", 0)

    if rate < 1:
        assert result.returncode == 0, result.stderr
        assert errors == []
        assert 5 <= struck <= 50  # about 10 % of ~220 requests
        assert sent == ITEMS + struck  # each struck request retried exactly once more
        # The scores are the simulator's intended answers: no partial, empty or null answer was scored.
        model = SimModel(accuracy=0.8, seed=1)
        items = {i.item_id for i in Gsm8k(Gsm8kOptions(limit=ITEMS), data_dir).load_items()}
        assert {r["item_id"] for r in lines} == items
        assert all(r["score"] == float(model.correct(r["item_id"], 0, "reference")) for r in lines)
        return

    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "LOSSLESS" not in result.stdout and "REGRESSION" not in result.stdout
    assert len(errors) == ITEMS and all(r["response"] is None for r in lines)
    assert sent == struck
    if fault in KILLS_THE_ENDPOINT:
        assert sent == BREAKER
        kind = "timeout" if fault == "hang" else "connection error"
        assert all("declared down" in r["error"] and kind in r["error"] for r in errors[-(ITEMS - 3) :])
    else:
        assert sent == ITEMS * (1 + MAX_RETRIES[rate])
        named = {"malformed": "body", "empty": "empty `choices`", "null": "null text", "abort": "finish_reason 'abort'"}[fault]
        assert all(named in r["error"] and f"({1 + MAX_RETRIES[rate]} attempts)" in r["error"] for r in errors)


# An independent review: a server that resets the connection on a fixed 20 % of prompts, every
# attempt, and answers the rest in milliseconds. Each failing prompt holds its worker through all
# its retries while healthy ones finish at once, so the workers converge on failing prompts; with
# no success left to reset the count, ten failures "in a row" came within a second, the endpoint
# was declared down, and never-sent healthy items became EndpointDown errors.
@pytest.mark.parametrize("concurrency", [8, 16])  # below and above the breaker's threshold
@pytest.mark.parametrize("fault", ["close", "hang"])
def test_a_server_that_fails_a_few_prompts_every_time_is_not_declared_down(sims, tmp_path: Path, fault: str, concurrency: int) -> None:
    server, url = sims([f"{fault}:0.2"], seed=1, persistent=True)
    retries, items = 2, 100
    # a failing prompt's retries take 0.15 s, far longer than an answer, as in the review
    config = write_config(tmp_path / "evals.toml", url, concurrency, retries, backoff_s=0.05)
    out = tmp_path / "out"
    result = run_evals("run", "sim", "--config", str(config), "--limit", str(items), "--out", str(out), timeout=120)

    lines = [json.loads(line) for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    assert len(lines) == items and len({(r["item_id"], r["repeat"]) for r in lines}) == items
    errors = [r["error"] for r in lines if r["error"] is not None]
    assert [e for e in errors if "declared down" in e] == [], result.stderr
    kind = "timeout" if fault == "hang" else "connection error"
    assert 5 <= len(errors) <= 40 and all(kind in e and f"({1 + retries} attempts)" in e for e in errors)  # each failed on its own, all its tries
    stats = server.requests
    assert stats[f"fault:{fault}"] == len(errors) * (1 + retries)
    assert stats["/v1/completions"] == items + len(errors) * retries  # every other item was sent once, and answered
    assert result.returncode == 4, result.stderr  # errors beyond max_error_rate: ERROR, never a verdict


@pytest.mark.parametrize("fault", ["close", "hang"])
def test_a_dead_server_is_declared_down_with_more_requests_in_flight_than_the_threshold(sims, tmp_path: Path, fault: str) -> None:
    server, url = sims([f"{fault}:1.0"], seed=1, persistent=True)
    concurrency = 2 * BREAKER
    config = write_config(tmp_path / "evals.toml", url, concurrency, 2)
    out = tmp_path / "out"
    result = run_evals("run", "sim", "--config", str(config), "--limit", str(ITEMS), "--out", str(out), timeout=120)
    assert result.returncode == 4, result.stderr
    lines = [json.loads(line) for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    assert len(lines) == ITEMS and all(r["error"] is not None for r in lines)
    assert sum("declared down" in r["error"] for r in lines) >= ITEMS - concurrency
    assert server.requests["/v1/completions"] <= 2 * concurrency  # the first wave, and at most one retry each


def test_compare_against_a_broken_candidate_is_an_error_not_a_verdict(sim, tmp_path: Path) -> None:
    reference, candidate = sim(), sim("--fault", "abort:1.0")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.ref]\nbase_url = "{reference.url}"\n[endpoints.cand]\nbase_url = "{candidate.url}"\nmax_retries = 1\nretry_backoff_s = 0.005\n'
    )
    result = run_evals("compare", "ref", "cand", "--config", str(config), "--limit", "50", "--out", str(tmp_path / "o"), timeout=120)
    assert result.returncode == 4, (result.stdout, result.stderr)
    verdict = json.loads((tmp_path / "o" / "gate.json").read_text())
    assert verdict["verdict"] == "ERROR"
    assert candidate.stats()["requests"]["/v1/completions"] == 50 * 2


# An independent review: with one slot (a llama.cpp server), two adjacent prompts that the server
# resets every time made 10 failures on 2 prompts with nothing answered between them, and 897 of
# 1,319 items were never sent to a server answering 92 % of prompts. The breaker now sends the
# last answered request once more before it opens.
def test_with_one_slot_prompts_failing_back_to_back_do_not_declare_the_server_down(sims, tmp_path: Path) -> None:
    server, url = sims(["close:0.3"], seed=1, persistent=True)
    retries, items = 4, 60  # 5 tries a prompt: two failing prompts in a row reach the threshold of 10
    config = write_config(tmp_path / "evals.toml", url, 1, retries, backoff_s=0.002)
    out = tmp_path / "out"
    result = run_evals("run", "sim", "--config", str(config), "--limit", str(items), "--out", str(out), timeout=120)
    lines = [json.loads(line) for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    errors = [r["error"] for r in lines if r["error"] is not None]
    assert [e for e in errors if "declared down" in e] == [], result.stderr
    assert len(lines) == items and 10 <= len(errors) <= 30 and all(f"({1 + retries} attempts)" in e for e in errors)
    assert server.requests["fault:close"] == len(errors) * (1 + retries)  # each failed on its own, all its tries (a probe is a prompt answered before)
    probes = server.requests["/v1/completions"] - items - len(errors) * retries
    assert 1 <= probes <= len(errors)  # the breaker's count was reached, and each time the last answer was asked again


# The same review: a rerun sends again only the prompts that failed, and a first wave of them, before
# anything was answered, declared a healthy server down (every rerun, after a kill -9 that left the
# workers on failing prompts: nothing new was ever answered). An earlier run's error never counts.
def test_a_rerun_of_prompts_that_failed_on_their_own_does_not_declare_the_server_down(sims, tmp_path: Path) -> None:
    server, url = sims(["close:0.2"], seed=1, persistent=True)
    retries, items = 2, 100
    config = write_config(tmp_path / "evals.toml", url, 16, retries, backoff_s=0.05)
    out = tmp_path / "out"
    command = ("run", "sim", "--config", str(config), "--limit", str(items), "--out", str(out))
    first = run_evals(*command, timeout=120)
    failed = {json.loads(line)["item_id"] for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines() if json.loads(line)["error"]}
    assert first.returncode == 4 and len(failed) >= 12, first.stderr  # more than the breaker's spread of 10 prompts
    sent = server.requests["/v1/completions"]
    rerun = run_evals(*command, timeout=120)
    assert rerun.returncode == 4 and "declared down" not in rerun.stderr, rerun.stderr
    lines = [json.loads(line) for line in (out / "sim" / "gsm8k" / "records.jsonl").read_text().splitlines()]
    again = lines[-len(failed):]
    assert {r["item_id"] for r in again} == failed and all("connection error" in r["error"] and f"({1 + retries} attempts)" in r["error"] for r in again)
    probes = server.requests["/v1/completions"] - sent - len(failed) * (1 + retries)  # each sent in full, none cut short as "down"
    assert 1 <= probes <= 2  # their first wave made the count, before any answer: a request the first run had answered was asked again

    # and a rerun against a server that is still dead is declared down at once, as a first run is
    # (leaving an earlier run's errors out of the count, a first fix, sent every one of them with all
    # its retries: a second review measured 120 requests instead of 12)
    dead, dead_url = sims(["close:1.0"], seed=1, persistent=True)
    config.write_text(config.read_text().replace(url, dead_url))
    again = run_evals(*command, timeout=120)
    assert again.returncode == 4 and "declared down" in again.stderr, again.stderr
    assert dead.requests["/v1/completions"] <= len(failed) + 2  # the first wave, the probe, a retry or so before it opened


def test_never_tried_items_are_sent_before_an_earlier_runs_errors(data_dir: Path, tmp_path: Path) -> None:
    """Within a look, so that a rerun meets answers before the prompts that failed (the breaker)."""
    from evals.client import Endpoint
    from evals.config import EndpointConfig
    from evals.records import Record
    from evals.runners.native import Job, to_send

    task = Gsm8k(Gsm8kOptions(limit=10), data_dir)
    ids = [i.item_id for i in task.load_items()]
    folder = tmp_path / "run"
    folder.mkdir()
    kept = [Record(task="gsm8k", item_id=i, endpoint="sim", request_hash="h", error="RequestFailed: connection error (3 attempts)") for i in ids[:3]]
    kept += [Record(task="gsm8k", item_id=i, endpoint="sim", request_hash="h", score=1.0) for i in ids[3:5]]
    (folder / "records.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in kept))
    job = Job(endpoint=Endpoint("sim", EndpointConfig(base_url="http://127.0.0.1:9/v1")), task=task, folder=folder)
    assert [item.item_id for item, _ in to_send(job)] == ids[5:] + ids[:3]


def test_sys_exit_below_the_cli_is_exit_4_never_a_verdicts_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An independent review: code under a command that calls sys.exit (a library's, a task's) made its
    code the process's, 0 or 1, with no verdict. Only a verdict gives 0, 1 or 3."""
    from evals import cli

    for code in (0, 1, 3, None):
        def command(args: object, code: int | None = code) -> int:
            raise SystemExit(code)

        monkeypatch.setattr(cli, "cmd_report", command)
        assert cli.main(["report", "somewhere"]) == 4
        assert f"called sys.exit({code!r})" in capsys.readouterr().err
