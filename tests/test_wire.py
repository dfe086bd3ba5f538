"""Between us and the endpoint: what counts as an answer, deadlines, the breaker, progress on a
timer, options reaching the body, and keys kept out of everything the tool writes."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web
from conftest import run_evals

from evals.client import CircuitBreaker, Endpoint, MalformedResponse, RequestFailed, parse_completion
from evals.config import EndpointConfig, public_url
from evals.sim import Fault
from evals.tasks.base import Request


def write_config(path: Path, url: str, **endpoint: object) -> Path:
    lines = ["[endpoints.sim]", f'base_url = "{url}"'] + [f"{k} = {json.dumps(v)}" for k, v in endpoint.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def completion(text: str | None, finish: str | None = "stop") -> str:
    return json.dumps({"choices": [{"index": 0, "text": text, "finish_reason": finish}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})


def chat(content: str | None, finish: str | None = "stop", **message: object) -> str:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message}, "finish_reason": finish}]})


# --- what is an answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("not json at all", "not JSON"),
        ('{"choices": [', "not JSON"),
        ("{}", "no `choices`"),
        ('{"choices": []}', "empty `choices`"),
        (completion(None), "null text"),
        (completion(None, "length"), "null text with finish_reason 'length'"),  # a review: a lost answer cut at length was scored
        (completion("half an ans", "abort"), "finish_reason 'abort'"),
        (completion("x", "error"), "finish_reason 'error'"),
        (completion("x", "exploded"), "unknown"),
        (completion("x", None), "finish_reason None"),
        (completion("half an answer", "content_filter"), "withheld by a content filter"),
        (completion("#### 4 \ud83d"), "text holds a lone surrogate"),
        (json.dumps({"choices": [{"text": "x", "finish_reason": {"type": "abort", "message": "overloaded"}}]}), "finish_reason 'abort'"),
    ],
)
def test_broken_completions_are_refused_with_a_reason(body: str, named: str) -> None:
    with pytest.raises(MalformedResponse, match=named.replace("(", r"\(").replace("[", r"\[")):
        parse_completion("completion", "application/json", body)


def test_a_null_answer_cut_at_length_with_nothing_to_explain_it_is_refused() -> None:
    """An independent review: null content with finish_reason `length` was taken as the model's own empty
    answer, so a gateway that lost 18% of the answers (each cut at length) got REGRESSION at a true Δ of 0.
    Only reasoning or a tool call explains a null text."""
    for body in (chat(None, "length"), chat(None, "length", reasoning_content=""), chat(None, "length", reasoning=None)):
        with pytest.raises(MalformedResponse, match="null message.content with finish_reason 'length'"):
            parse_completion("chat", "application/json", body)
    assert parse_completion("chat", "application/json", chat(None, "length", reasoning="Let me")).text == ""


def test_answers_that_stand() -> None:
    cut = parse_completion("completion", "application/json", completion("The answer is", "length"))
    assert (cut.text, cut.finish_reason, cut.prompt_tokens) == ("The answer is", "length", 5)
    assert parse_completion("completion", "application/json", completion("#### 4", "stop")).text == "#### 4"
    # A reasoning model cut at max_tokens while thinking: no content, scored (as truncated), not an error.
    thinking = parse_completion("chat", "application/json", chat(None, "length", reasoning_content="Let me think"))
    assert (thinking.text, thinking.reasoning, thinking.finish_reason) == ("", "Let me think", "length")
    # A tool call instead of text is the model's answer (a wrong one for our tasks), not a broken body.
    tool = parse_completion("chat", "application/json", chat(None, "tool_calls", tool_calls=[{"id": "1", "type": "function"}]))
    assert tool.text == "" and tool.finish_reason == "tool_calls"
    assert parse_completion("chat", "application/json", chat("x", "repetition")).text == "x"  # vLLM's own stop


def test_an_answer_cut_short_of_its_budget_is_malformed() -> None:
    """An independent review: sglang with --allow-auto-truncate lowers max_tokens to fit its context
    and says `length`; a candidate served with a smaller context lost answers the model never lost."""
    body = json.dumps({"choices": [{"index": 0, "text": "The answer", "finish_reason": "length"}], "usage": {"prompt_tokens": 5, "completion_tokens": 21}})
    with pytest.raises(MalformedResponse, match="after 21 of the 512 tokens"):
        parse_completion("completion", "application/json", body, max_tokens=512)
    assert parse_completion("completion", "application/json", body, max_tokens=21).finish_reason == "length"  # the budget itself
    assert parse_completion("completion", "application/json", body, max_tokens=23).finish_reason == "length"  # a server counting a token or two differently
    assert parse_completion("completion", "application/json", body).finish_reason == "length"  # no budget asked: nothing to compare


def test_half_a_character_in_the_reasoning_is_malformed() -> None:
    """A lone surrogate would stop the run when its record is written, and every resume on it again."""
    with pytest.raises(MalformedResponse, match="reasoning holds a lone surrogate"):
        parse_completion("chat", "application/json", chat("#### 4", reasoning_content="so \udc00"))
    assert parse_completion("chat", "application/json", chat("#### 4 \U0001f600", reasoning_content="so é")).text == "#### 4 \U0001f600"


def test_null_chat_content_with_stop_is_malformed() -> None:
    with pytest.raises(MalformedResponse, match="null message.content with finish_reason 'stop'"):
        parse_completion("chat", "application/json", chat(None, "stop"))
    with pytest.raises(MalformedResponse, match="no `message`"):
        parse_completion("chat", "application/json", json.dumps({"choices": [{"index": 0, "finish_reason": "stop"}]}))


# --- configuration that shapes requests ----------------------------------------------------


def test_default_timeout_scales_with_the_budget() -> None:
    config = EndpointConfig(base_url="http://h/v1")
    assert config.request_timeout(512) == pytest.approx(60 + 0.05 * 512)
    assert config.request_timeout(32768) > 25 * 60  # GPQA's budget is not cut at 600 s
    assert config.request_timeout(None) == 600
    assert EndpointConfig(base_url="http://h/v1", timeout_s=3).request_timeout(32768) == 3


def test_urls_lose_their_credentials() -> None:
    assert public_url("http://user:s3cret@host:8000/v1") == "http://host:8000/v1"
    assert public_url("https://host/v1") == "https://host/v1"
    config = EndpointConfig(base_url=["http://a:b@h1/v1", "http://h2/v1"])
    assert config.public_base_url == ["http://h1/v1", "http://h2/v1"]


def test_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRE_KEY", "sk-canary-123456")
    endpoint = Endpoint("e", EndpointConfig(base_url="http://bob:hunter22@h/v1", api_key_env="WIRE_KEY"))
    text = endpoint.redact("Authorization: Bearer sk-canary-123456 at http://bob:hunter22@h/v1 Basic Ym9iOmh1bnRlcjIy")
    assert "sk-canary" not in text and "hunter22" not in text and "Ym9iOmh1bnRlcjIy" not in text
    assert "http://h/v1" in text


def test_params_outside_the_openai_api_go_at_the_top_of_the_body() -> None:
    """sglang and vLLM read top_k, min_p, repetition_penalty and extra_body's fields at the top level."""
    endpoint = Endpoint("e", EndpointConfig(base_url="http://h/v1", model="m", extra_body={"chat_template_kwargs": {"enable_thinking": False}}))
    messages = [{"role": "user", "content": "q"}]
    body = endpoint.body(Request(kind="chat", messages=messages, params={}), {"temperature": 0.0, "max_tokens": 10, "top_k": 20, "min_p": 0.1, "repetition_penalty": 1.1})
    assert body == {"model": "m", "messages": messages, "temperature": 0.0, "max_tokens": 10, "top_k": 20, "min_p": 0.1, "repetition_penalty": 1.1,
                    "chat_template_kwargs": {"enable_thinking": False}}


def test_breaker_counts_only_failures_since_the_last_success() -> None:
    breaker = CircuitBreaker(3, concurrency=8)
    early = time.monotonic()
    breaker.success(0)
    for prompt in range(5):  # sent before the success: they say nothing about the endpoint now
        breaker.failure(prompt, early, "timeout", timeout=True)
    assert breaker.suspect is None
    for prompt in range(5, 8):
        breaker.failure(prompt, time.monotonic(), f"connection error {prompt}", timeout=False)
    assert breaker.suspect == "connection error 7" and breaker.down is None  # suspect: down once `Endpoint` has asked again
    breaker.open()
    assert breaker.down == "connection error 7"


def test_breaker_leaves_out_prompts_that_fail_on_their_own() -> None:
    """Retries of prompts seen to fail while the server answered others never open it; nor do
    retries of one prompt alone; fresh prompts failing together do."""
    breaker = CircuitBreaker(5, concurrency=8)
    for prompt in (1, 2, 3):
        breaker.failure(prompt, time.monotonic(), "connection error", timeout=False)
    breaker.success(4)  # the server answered another prompt after 1, 2 and 3 failed
    for _ in range(10):
        for prompt in (1, 2, 3):
            breaker.failure(prompt, time.monotonic(), "connection error", timeout=False)
    assert breaker.suspect is None
    lone = CircuitBreaker(3, concurrency=1)
    for _ in range(10):
        lone.failure(5, time.monotonic(), "connection error", timeout=False)
    assert lone.suspect is None
    lone.failure(6, time.monotonic(), "connection error 6", timeout=False)
    assert lone.suspect == "connection error 6"
    for prompt in range(5, 10):
        breaker.failure(prompt, time.monotonic(), f"timeout {prompt}", timeout=True)
    assert breaker.suspect == "timeout 9"


def test_fault_specs_are_checked() -> None:
    assert Fault.parse("abort:0.1") == Fault("abort", 0.1)
    for spec, named in (("bogus:0.1", "unknown fault 'bogus'"), ("abort", "KIND:RATE"), ("hang:1.5", "within")):
        with pytest.raises(ValueError, match=named):
            Fault.parse(spec)


# --- deadlines over real HTTP --------------------------------------------------------------


async def _serve(handler) -> tuple[web.AppRunner, str]:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_post("/v1/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


def test_timeout_bounds_the_whole_request_not_the_gap_between_bytes() -> None:
    """A server sending a byte every 0.5 s never trips a per-read timeout of 3 s; ours ends each try at 3 s."""
    arrivals: list[float] = []

    async def trickle(request: web.Request) -> web.StreamResponse:
        arrivals.append(time.monotonic())
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(120):
            await response.write(b" ")
            await asyncio.sleep(0.5)
        await response.write(completion("#### 1").encode())
        return response

    async def main() -> tuple[float, str]:
        runner, url = await _serve(trickle)
        endpoint = Endpoint("slow", EndpointConfig(base_url=url, model="m", timeout_s=3, max_timeout_retries=1, retry_backoff_s=0.01))
        started = time.monotonic()
        try:
            await endpoint.send(Request(kind="completion", prompt="q", params={"max_tokens": 5}), {})
        except RequestFailed as e:
            return time.monotonic() - started, str(e)
        finally:
            await endpoint.aclose()
            await runner.cleanup()
        return time.monotonic() - started, "answered"

    elapsed, error = asyncio.run(main())
    assert "timeout" in error and "(2 attempts)" in error
    assert len(arrivals) == 2 and 2.9 <= arrivals[1] - arrivals[0] <= 4.0  # each try cut at 3 s
    assert 5.9 <= elapsed <= 8.0  # two tries of 3 s, not 60 s of trickling


def test_timeouts_have_their_own_retry_budget() -> None:
    """A hang is retried max_timeout_retries times, however many retries 5xx get."""
    calls: list[float] = []

    async def hang(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.05)  # until the client gives up
        return web.Response(text=completion("late"))

    async def main() -> str:
        runner, url = await _serve(hang)
        endpoint = Endpoint("hang", EndpointConfig(base_url=url, model="m", timeout_s=0.5, max_retries=8, max_timeout_retries=2, retry_backoff_s=0.01))
        try:
            await endpoint.send(Request(kind="completion", prompt="q", params={}), {})
        except RequestFailed as e:
            return str(e)
        finally:
            await endpoint.aclose()
            await runner.cleanup()
        return "answered"

    assert "(3 attempts)" in asyncio.run(main()) and len(calls) == 3


# --- the CLI against the simulator -----------------------------------------------------------


def test_sampling_options_and_extra_body_reach_the_body(sim, tmp_path: Path) -> None:
    server = sim()
    config = write_config(tmp_path / "evals.toml", server.url)
    with config.open("a") as f:
        f.write("extra_body = { chat_template_kwargs = { enable_thinking = false } }\n")
        f.write("sampling = { top_k = 20, min_p = 0.05, repetition_penalty = 1.1 }\n")
    result = run_evals("run", "sim", "--config", str(config), "--limit", "3", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    stats = server.stats()
    assert {k: stats["params"].get(k) for k in ("top_k", "min_p", "repetition_penalty", "chat_template_kwargs")} == dict.fromkeys(("top_k", "min_p", "repetition_penalty", "chat_template_kwargs"), 3)
    body = stats["last_bodies"][-1]
    assert (body["top_k"], body["min_p"], body["repetition_penalty"], body["chat_template_kwargs"]) == (20, 0.05, 1.1, {"enable_thinking": False})
    sampling = json.loads((tmp_path / "o" / "sim" / "gsm8k" / "manifest.json").read_text())["sampling"]
    assert sampling["top_k"] == 20 and sampling["extra_body"] == {"chat_template_kwargs": {"enable_thinking": False}}


def test_extra_body_is_compared_on_resume_and_by_the_gate(sim, tmp_path: Path) -> None:
    server = sim()
    plain = write_config(tmp_path / "plain.toml", server.url)
    thinking = write_config(tmp_path / "thinking.toml", server.url)
    with thinking.open("a") as f:
        f.write("extra_body = { chat_template_kwargs = { enable_thinking = true } }\n")
    assert run_evals("run", "sim", "--config", str(plain), "--limit", "20", "--out", str(tmp_path / "a")).returncode == 0
    assert run_evals("run", "sim", "--config", str(thinking), "--limit", "20", "--out", str(tmp_path / "b")).returncode == 0

    gate = run_evals("gate", str(tmp_path / "a" / "sim"), str(tmp_path / "b" / "sim"), "--format", "json")
    assert gate.returncode == 4, gate.stdout + gate.stderr
    assert "extra_body" in gate.stdout and "ERROR" in gate.stdout

    resumed = run_evals("run", "sim", "--config", str(thinking), "--limit", "20", "--out", str(tmp_path / "a"))
    assert resumed.returncode == 2 and "different sampling (extra_body)" in resumed.stderr


def test_a_base_url_without_v1_is_explained(sim, tmp_path: Path) -> None:
    server = sim()
    bare = server.url.removesuffix("/v1")
    config = write_config(tmp_path / "evals.toml", bare)
    result = run_evals("run", "sim", "--config", str(config), "--limit", "2", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(f"did you mean base_url = '{bare}/v1'?")
    # The same with `model` set: /v1/models answers, so the URL is surely wrong.
    with_model = write_config(tmp_path / "m.toml", bare, model="sim-reference")
    result = run_evals("run", "sim", "--config", str(with_model), "--limit", "2", "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "did you mean" in result.stderr
    assert server.stats()["requests"].get("/v1/completions", 0) == 0


def test_a_dead_endpoint_fails_fast_and_a_rerun_sends_only_what_is_missing(sim, tmp_path: Path) -> None:
    """The endpoint dies midway: seconds to ERROR, not minutes of retries; once it is back, a
    rerun sends exactly the requests whose records are errors."""
    server = sim("--latency-ms", "100")
    config = write_config(tmp_path / "evals.toml", server.url, max_concurrency=4, max_retries=5)
    out = tmp_path / "o"
    records = out / "sim" / "gsm8k" / "records.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals", "run", "sim", "--config", str(config), "--limit", "200", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not records.exists() or records.read_text().count("\n") < 40):
        time.sleep(0.02)
    server.proc.kill()
    server.proc.wait()
    killed = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    assert time.monotonic() - killed < 10
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    failed = [r["error"] for r in lines if r["error"]]
    assert len(lines) == 200 and 40 <= 200 - len(failed) < 200
    down = [e for e in failed if "declared down" in e]
    assert len(down) >= len(failed) - 8 and all("connection error" in e for e in down)  # at most the requests in flight failed otherwise
    assert [line for line in stderr.splitlines() if "declared down" in line and "connection error" in line] != []  # said on stderr

    back = sim()
    write_config(tmp_path / "evals.toml", back.url, max_concurrency=4)
    rerun = run_evals("run", "sim", "--config", str(config), "--limit", "200", "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert back.stats()["requests"]["/v1/completions"] == len(failed)


def test_progress_lines_on_a_timer_while_nothing_finishes(sim, tmp_path: Path) -> None:
    server = sim("--fault", "hang:1.0")
    config = write_config(tmp_path / "evals.toml", server.url, timeout_s=3, max_timeout_retries=0)
    started = time.monotonic()
    result = run_evals("run", "sim", "--config", str(config), "--limit", "2", "--out", str(tmp_path / "o"), env={"EVALS_PROGRESS_EVERY_S": "0.5"})
    assert result.returncode == 4
    assert time.monotonic() - started < 30
    waiting = [line for line in result.stderr.splitlines() if line.startswith("sim/gsm8k: 0/2 done")]
    assert len(waiting) >= 3  # every 0.5 s during the 3 s no record finished


def test_the_api_key_never_lands_in_anything_written(sim, tmp_path: Path) -> None:
    """Servers that echo the Authorization header in their error body: one sent the key as a
    Bearer token, one given a base URL with a password (which httpx sends as Basic auth)."""
    key, password = "sk-canary-7f3a9c1e5b", "pw-canary-d41d8cd9"
    canaries = (key, password, base64.b64encode(f"evals:{password}".encode()).decode())
    with_password, with_key = sim("--fault", "echo-auth:1.0"), sim("--fault", "echo-auth:1.0")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.ref]\nbase_url = "{with_password.url.replace("http://", f"http://evals:{password}@")}"\nmax_retries = 1\nretry_backoff_s = 0.01\n'
        f'[endpoints.cand]\nbase_url = "{with_key.url}"\napi_key_env = "CANARY_KEY"\nmax_retries = 1\nretry_backoff_s = 0.01\n'
    )
    summary = tmp_path / "step-summary.md"
    env = {"CANARY_KEY": key, "GITHUB_STEP_SUMMARY": str(summary)}
    out = tmp_path / "out"
    result = run_evals(
        "compare", "ref", "cand", "--config", str(config), "--limit", "20", "--out", str(out),
        "--junit", str(tmp_path / "junit.xml"), "--markdown", str(tmp_path / "gate.md"), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr
    for arm, scheme in (("ref", "Basic"), ("cand", "Bearer")):  # the echo was there, the secret cut from it
        errors = [json.loads(line)["error"] for line in (out / arm / "gsm8k" / "records.jsonl").read_text().splitlines()]
        assert len(errors) == 20 and all("HTTP 401" in e and f"Authorization: {scheme} [redacted]" in e for e in errors)
    report = run_evals("report", str(out), "--format", "json", env=env, cwd=tmp_path)
    # a baseline of a run where half the requests echoed the key, so that what a baseline keeps is searched too
    half = sim("--fault", "echo-auth:0.5")
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(f'[gate]\nmax_error_rate = 0.9\n[endpoints.half]\nbase_url = "{half.url}"\napi_key_env = "CANARY_KEY"\nmax_retries = 0\n')
    partial = run_evals("run", "half", "--config", str(lenient), "--limit", "20", "--out", str(tmp_path / "half"), env=env, cwd=tmp_path)
    assert partial.returncode == 4 and "[redacted]" in (tmp_path / "half" / "half" / "gsm8k" / "records.jsonl").read_text()
    saved = run_evals("baseline", "save", str(tmp_path / "half" / "half"), "canary", "--root", str(tmp_path / "baselines"), "--config", str(lenient), env=env, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "evals.toml"]
    baseline_records = tmp_path / "baselines" / "canary" / "gsm8k" / "records.jsonl.gz"
    assert summary in written and (out / "gate.json") in written and (tmp_path / "junit.xml") in written and baseline_records in written
    texts = {str(p): (gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()).decode(errors="replace") for p in written}
    texts |= {"stdout": result.stdout, "stderr": result.stderr, "report": report.stdout + report.stderr, "save": saved.stdout + saved.stderr,
              "partial": partial.stdout + partial.stderr}
    for canary in canaries:
        assert [name for name, text in texts.items() if canary in text] == []
    manifest = json.loads((out / "ref" / "gsm8k" / "manifest.json").read_text())
    assert manifest["base_url"] == with_password.url


def test_a_requests_latency_is_its_own_not_the_clients_setup(sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first request made the client's HTTP session (importing aiohttp, about 0.15 s) inside its timed span, so
    the first batch of every run reported that much latency of its own (the report's latency plot showed it)."""
    server = sim()
    made = Endpoint.session

    def slow_first_session(self: Endpoint):  # type: ignore[no-untyped-def]
        if self._session is None:
            time.sleep(0.5)  # blocking, as an import is
        return made(self)

    monkeypatch.setattr(Endpoint, "session", slow_first_session)

    async def first() -> float:
        endpoint = Endpoint("sim", EndpointConfig(base_url=server.url, model="sim-reference"))
        try:
            _, latency = await endpoint.send(Request(kind="completion", prompt="Question: 1 + 1?\nAnswer:", params={"max_tokens": 8}), {})
        finally:
            await endpoint.aclose()
        return latency

    assert asyncio.run(first()) < 0.4
