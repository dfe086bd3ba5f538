"""One OpenAI-compatible endpoint: its clients, its concurrency bound, its model id, and
everything between a request and a scored answer: deadlines, checks, retries, a breaker.

The retries are ours, not the openai client's (its `max_retries` is 0), because a 200 whose
body is not a usable completion must be retried too, and timeouts need a budget of their own:

- transient: connection errors, HTTP 408, 409, 429 and 5xx, and malformed answers (a body that
  is not a completion, `{}`, empty `choices`, a null text, `finish_reason` abort, error or one
  we do not know): up to `max_retries` retries;
- a timeout (the *whole* request past its deadline, not the gap between two bytes): up to
  `max_timeout_retries` retries, since a request that ran out of time once is likely to again
  and each try costs the full deadline;
- the wait: `retry_backoff_s` doubling to 8 s, less up to 25 % jitter; a `Retry-After` of at
  most 60 s is honoured instead;
- other 4xx: no retry.

After `max_consecutive_failures` connection failures or timeouts in a row the endpoint is
declared down: every request still to send fails at once with the last error, so a dead
server costs seconds, not minutes of retries. The endpoint's API key (and any password in its
URL) is cut from every message that may be stored.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import inspect
import itertools
import json
import random
import re
import time
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import httpx
import openai
from openai.resources.chat.completions import AsyncCompletions as _AsyncChatCompletions
from openai.resources.completions import AsyncCompletions as _AsyncCompletions

from evals.config import EndpointConfig, public_url
from evals.errors import UsageError
from evals.tasks.base import Request, Response

MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 60.0
RETRIED_STATUS = frozenset({408, 409, 429})  # and every 5xx
REDACTED = "[redacted]"

# What the servers we talk to say when a generation ended as the model meant or was cut at
# max_tokens: OpenAI's values, vLLM's `repetition`, and TGI's `eos_token`/`stop_sequence`.
# sglang and vLLM also emit `abort` (the request was aborted: the text is partial) and vLLM
# `error`: those are failures of the server, retried. Anything else is unknown, and retried.
SCORED_FINISH = frozenset({"stop", "length", "tool_calls", "function_call", "content_filter", "repetition", "eos_token", "stop_sequence"})

# Parameters the openai client takes; any other sampling parameter (top_k, min_p,
# repetition_penalty, ...) goes as a top-level body field, where sglang and vLLM read it.
CLIENT_PARAMS = {
    "completion": frozenset(inspect.signature(_AsyncCompletions.create).parameters) - {"self", "extra_body"},
    "chat": frozenset(inspect.signature(_AsyncChatCompletions.create).parameters) - {"self", "extra_body"},
}


class RequestFailed(Exception):
    """A request that failed for good; its message (key redacted) is what the record stores."""


class EndpointDown(RequestFailed):
    """The circuit breaker is open: the endpoint failed too often in a row to keep sending."""


class MalformedResponse(Exception):
    """A 2xx whose body is not a completion we can score."""


Failure = Literal["timeout", "connection", "transient", "fatal"]


def parse_completion(kind: Literal["completion", "chat"], content_type: str, body: str) -> Response:
    """The answer in a completion body, or MalformedResponse saying what is wrong with it."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"body is not JSON ({content_type or 'no content-type'}): {body[:80]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise MalformedResponse(f"body has no `choices` list: {body[:80]!r}")
    if not data["choices"] or not isinstance(data["choices"][0], dict):
        raise MalformedResponse("empty `choices`")
    choice = data["choices"][0]
    finish = choice.get("finish_reason")
    reasoning = None
    if kind == "completion":
        text, field, tool_calls = choice.get("text"), "text", None
    else:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedResponse("no `message` in the choice")
        text, field, tool_calls = message.get("content"), "message.content", message.get("tool_calls")
        # sglang and older vLLM say reasoning_content, newer vLLM says reasoning
        reasoning = message.get("reasoning_content") or message.get("reasoning")
    if finish not in SCORED_FINISH:
        what = "aborted by the server" if finish in ("abort", "error") else "unknown"
        raise MalformedResponse(f"finish_reason {finish!r} ({what})")
    if text is None:
        # A null text is the model's own answer only when something explains it: generation cut
        # at max_tokens while reasoning, a tool call, or all of it in the reasoning. Otherwise
        # (null content, finish_reason stop) the server lost the answer.
        if not (finish == "length" or tool_calls or (isinstance(reasoning, str) and reasoning)):
            raise MalformedResponse(f"null {field} with finish_reason {finish!r}")
        text = ""
    if not isinstance(text, str):
        raise MalformedResponse(f"{field} is a {type(text).__name__}, not a string")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = {k: v if isinstance(v, int) else None for k, v in ((k, usage.get(k)) for k in ("prompt_tokens", "completion_tokens"))}
    return Response(text=text, reasoning=reasoning if isinstance(reasoning, str) else None, finish_reason=finish, **tokens)


def retry_after(headers: Any) -> float | None:
    """Seconds a 429/503 asks us to wait (`retry-after-ms`, `retry-after` in seconds or as a date)."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            date = email.utils.parsedate_to_datetime(value)
            return date.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


class CircuitBreaker:
    """Opens after `threshold` connection failures or timeouts in a row.

    Only attempts that *started* after the latest success count: with many requests in flight,
    those sent before a success say nothing about the endpoint now (ten requests that hung
    earlier and time out together after the rest finished are not a dead server).
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.failures = 0
        self.last_success = float("-inf")
        self.down: str | None = None

    def success(self) -> None:
        self.failures = 0
        self.last_success = time.monotonic()

    def failure(self, started: float, message: str) -> None:
        if started >= self.last_success:
            self.failures += 1
            if self.failures >= self.threshold and self.down is None:
                self.down = message


class Endpoint:
    def __init__(self, name: str, config: EndpointConfig) -> None:
        self.name = name
        self.config = config
        self._key = config.api_key(name)
        self._clients = [
            openai.AsyncOpenAI(base_url=url, api_key=self._key, timeout=config.request_timeout(None), max_retries=0)
            for url in config.urls
        ]
        self._next = itertools.cycle(self._clients)
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.model: str = config.model or ""
        self.breaker = CircuitBreaker(config.max_consecutive_failures)
        self._secrets = [self._key] if self._key and self._key != "EMPTY" else []
        for url in config.urls:
            parts = urlsplit(url)
            if parts.password:
                self._secrets += [parts.password, unquote(parts.password)]
                self._secrets.append(base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password)}".encode()).decode())
        # a very short secret would blank out ordinary words; URLs are still cleaned by pattern
        self._secrets = sorted({s for s in self._secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` without the API key and the URLs' credentials (also as a Basic header): safe to store."""
        for url in self.config.urls:
            text = text.replace(url, public_url(url))
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return re.sub(r"(://[^/\s:@]+):[^@/\s]+@", rf"\1:{REDACTED}@", text)

    async def resolve_model(self) -> str:
        """Check the endpoint answers, and learn its model id when the config leaves it out."""
        url = public_url(self.config.urls[0])
        client = self._clients[0].with_options(max_retries=1, timeout=min(self.config.request_timeout(None), 15))
        try:
            models = [m.id async for m in client.models.list()]
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise UsageError(self.redact(f"endpoint {self.name}: cannot reach {url} ({type(e).__name__}: {e})")) from None
        except openai.APIStatusError as e:
            hint = await self._v1_hint(e.status_code)
            if hint:
                raise UsageError(f"endpoint {self.name}: {url}/models answered HTTP {e.status_code}; {hint}") from None
            if self.config.model:
                return self.model  # some servers have no /models; the configured id will do
            raise UsageError(f"endpoint {self.name}: {url}/models answered HTTP {e.status_code}; set `model` for this endpoint") from None
        if self.config.model:
            return self.model
        if len(models) != 1:
            listed = ", ".join(models) or "none"
            raise UsageError(f"endpoint {self.name}: {url} serves {len(models)} models ({listed}); set `model` for this endpoint")
        self.model = models[0]
        return self.model

    async def _v1_hint(self, status: int) -> str | None:
        """'did you mean …/v1?' when /models is not found and the URL does not end in /v1."""
        url = self.config.urls[0].rstrip("/")
        if status != 404 or url.endswith("/v1"):
            return None
        suggestion = public_url(url + "/v1")
        if self.config.model:  # a server without /models is fine, unless /v1/models answers
            probe = self._clients[0].with_options(base_url=url + "/v1", max_retries=0, timeout=min(self.config.request_timeout(None), 15))
            try:
                await probe.models.list()
            except openai.OpenAIError:
                return None
        return f"did you mean base_url = {suggestion!r}?"

    def split_params(self, kind: Literal["completion", "chat"], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Keyword arguments for the openai client, and the body fields it does not know of."""
        known = {k: v for k, v in params.items() if k in CLIENT_PARAMS[kind]}
        body = {k: v for k, v in params.items() if k not in CLIENT_PARAMS[kind]}
        return known, {**body, **self.config.extra_body}

    async def send(self, request: Request, overrides: dict[str, Any]) -> tuple[Response, float]:
        """One request, retried as the module docstring says; returns the response and its latency
        in seconds, or raises RequestFailed (EndpointDown when the breaker is open)."""
        params = {**request.params, **overrides}
        kwargs, extra_body = self.split_params(request.kind, params)
        deadline = self.config.request_timeout(params.get("max_tokens") or params.get("max_completion_tokens"))
        tries: dict[str, int] = {"timeout": 0, "other": 0}
        async with self.semaphore:
            while True:
                if self.breaker.down is not None:
                    raise EndpointDown(f"endpoint {self.name} declared down after {self.breaker.threshold} connection failures or timeouts in a row; last: {self.breaker.down}")
                client = next(self._next)
                started = time.monotonic()
                try:
                    response = await asyncio.wait_for(self._attempt(client, request, kwargs, extra_body, deadline), deadline)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # sorted below; anything unforeseen is not retried
                    failure, message, wait_s = self._classify(e, deadline)
                else:
                    self.breaker.success()
                    return response, time.monotonic() - started
                budget = "timeout" if failure == "timeout" else "other"
                allowed = self.config.max_timeout_retries if budget == "timeout" else self.config.max_retries
                if failure in ("timeout", "connection"):
                    self.breaker.failure(started, message)
                if failure == "fatal" or tries[budget] >= allowed:
                    attempts = tries["timeout"] + tries["other"] + 1
                    raise RequestFailed(f"{message} ({attempts} attempt{'s' if attempts > 1 else ''})")
                backoff = min(self.config.retry_backoff_s * 2 ** tries[budget], MAX_BACKOFF_S) * (1 - 0.25 * random.random())
                tries[budget] += 1
                await asyncio.sleep(wait_s if wait_s is not None and 0 < wait_s <= MAX_RETRY_AFTER_S else backoff)

    async def _attempt(self, client: openai.AsyncOpenAI, request: Request, kwargs: dict[str, Any], extra_body: dict[str, Any], deadline: float) -> Response:
        # httpx's own timeout is per phase (connect, each read); asyncio's deadline around the
        # call is what bounds the whole request. httpx's reads get the same so as not to cut it
        # short; connecting gets at most 10 s, so an unreachable host fails fast too.
        timeout = httpx.Timeout(deadline, connect=min(deadline, CONNECT_TIMEOUT_S))
        extra: dict[str, Any] = {"timeout": timeout, **({"extra_body": extra_body} if extra_body else {})}
        if request.kind == "completion":
            raw = await client.completions.with_raw_response.create(model=self.model, prompt=request.prompt or "", **kwargs, **extra)
        else:
            raw = await client.chat.completions.with_raw_response.create(model=self.model, messages=request.messages or [], **kwargs, **extra)  # type: ignore[arg-type]
        http = raw.http_response
        return parse_completion(request.kind, http.headers.get("content-type", ""), http.text)

    def _classify(self, e: Exception, deadline: float) -> tuple[Failure, str, float | None]:
        """What kind of failure `e` is, a one-line message (redacted) and any Retry-After."""
        if isinstance(e, (asyncio.TimeoutError, openai.APITimeoutError)):
            return "timeout", f"timeout: no complete answer within {deadline:g} s", None
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e
            detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            return "connection", self.redact(f"connection error: {detail}")[:300], None
        if isinstance(e, MalformedResponse):
            return "transient", self.redact(f"malformed response: {e}")[:300], None
        if isinstance(e, openai.APIStatusError):
            body = e.response.text if e.response is not None else ""
            message = self.redact(f"HTTP {e.status_code}: {body.strip().splitlines()[0] if body.strip() else e.message}")[:300]
            retried = e.status_code in RETRIED_STATUS or e.status_code >= 500
            return ("transient" if retried else "fatal"), message, retry_after(e.response.headers) if retried else None
        text = str(e).splitlines()[0] if str(e) else ""
        return "fatal", self.redact(f"{type(e).__name__}: {text}")[:300], None

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
