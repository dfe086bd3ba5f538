"""One OpenAI-compatible endpoint: its clients, its concurrency bound, its model id, and
everything between a request and a scored answer: deadlines, checks, retries, a breaker.

The retries are ours, because a 200 whose body is not a usable completion must be retried
too, and timeouts need a budget of their own:

- transient: connection errors, HTTP 408, 409, 429 and 5xx, and malformed answers (a body that
  is not a completion, `{}`, empty `choices`, a null text, `finish_reason` abort, error or one
  we do not know): up to `max_retries` retries;
- a timeout (the *whole* request past its deadline, not the gap between two bytes): up to
  `max_timeout_retries` retries, since a request that ran out of time once is likely to again
  and each try costs the full deadline;
- the wait: `retry_backoff_s` doubling to 8 s, less up to 25 % jitter; a `Retry-After` of at
  most 60 s is honoured instead;
- other 4xx: no retry.

After `max_consecutive_failures` connection failures or timeouts in a row, on several prompts
and not counting prompts seen to fail while the server answered others (`CircuitBreaker`), the
endpoint is declared down: every request still to send fails at once with the last error, so a
dead server costs seconds, not minutes of retries. The endpoint's API key (and any password in its
URL) is cut from every message that may be stored.

The wire is plain aiohttp, not the openai SDK: we already parse every body ourselves (a 200
that is not a completion is retried), so the SDK only added per-request cost (parameter
transforms, an httpx connection pool that rescans its connections on every request) and
a second of import time to every command.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import json
import random
import re
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from evals.config import EndpointConfig, public_url
from evals.errors import EndpointWarning, UsageError
from evals.tasks.base import Request, Response

if TYPE_CHECKING:
    import aiohttp

MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 60.0
RETRIED_STATUS = frozenset({408, 409, 429})  # and every 5xx
REDACTED = "[redacted]"

# What the servers we talk to say when a generation ended as the model meant or was cut at
# max_tokens: OpenAI's values, vLLM's `repetition`, and TGI's `eos_token`/`stop_sequence`.
# sglang and vLLM also emit `abort` (the request was aborted: the text is partial) and vLLM
# `error`: those are failures of the server, retried. So is `content_filter`: a gateway in front
# of the server (Azure, a LiteLLM guardrail) withheld the text, and what is left is its cut, not
# the model's answer (a reference cut so scored zeros and turned INCONCLUSIVE into LOSSLESS, an
# independent review). Anything else is unknown, and retried.
SCORED_FINISH = frozenset({"stop", "length", "tool_calls", "function_call", "repetition", "eos_token", "stop_sequence"})
CUT_SHORT = 0.9  # a `length` answer with fewer completion tokens than this share of max_tokens was cut by the server (`parse_completion`)


def finish_reason(choice: dict[str, Any]) -> str | None:
    """A choice's finish_reason as a string: sglang's native /generate says {"type": "abort", ...}."""
    finish = choice.get("finish_reason")
    if isinstance(finish, (str, type(None))):
        return finish
    return str(finish.get("type")) if isinstance(finish, dict) else repr(finish)


@dataclass(frozen=True)
class Prepared:
    """A request as it goes on the wire (`Endpoint.prepare`)."""

    path: str
    kind: Literal["completion", "chat"]
    payload: bytes
    deadline: float
    prompts: list[int | None] | None  # prompt lengths, for an echo request's logprobs
    max_tokens: Any
    prompt: int  # the payload's hash: the breaker's name for it


class RequestFailed(Exception):
    """A request that failed for good; its message (key redacted) is what the record stores."""


class EndpointDown(RequestFailed):
    """The circuit breaker is open: the endpoint failed too often in a row to keep sending."""


class MalformedResponse(Exception):
    """A 2xx whose body is not a completion we can score."""


class HTTPStatusError(Exception):
    """A non-2xx answer: its status, headers (for Retry-After) and body (for the message)."""

    def __init__(self, status: int, headers: Any, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code, self.headers, self.body = status, headers, body


def _no_redirect() -> Any:
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect is answered as the HTTP status it is, as the generation requests do."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return NoRedirect


def _wire_url(url: str) -> tuple[str, str | None]:
    """`url` without its credentials, and the Basic authorization they stand for (as httpx sent it)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    basic = base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()).decode()
    return urlunsplit(parts._replace(netloc=netloc)).rstrip("/"), f"Basic {basic}"


Failure = Literal["timeout", "connection", "transient", "fatal"]


def parse_completion(kind: Literal["completion", "chat"], content_type: str, body: str, prompt_logprobs: list[int | None] | None = None,
                     max_tokens: int | None = None) -> Response:
    """The answer in a completion body, or MalformedResponse saying what is wrong with it.

    `prompt_logprobs`: the request sent these prompts with echo + logprobs (each one's length in
    tokens when sent as token ids), and the answer is their logprobs (`prompt_logprobs_of`),
    never the text. `max_tokens`: the request's budget; an answer cut at `length` well short of it
    was cut by the server, not by the budget."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"body is not JSON ({content_type or 'no content-type'}): {body[:80]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise MalformedResponse(f"body has no `choices` list: {body[:80]!r}")
    if not data["choices"] or not isinstance(data["choices"][0], dict):
        raise MalformedResponse("empty `choices`")
    choice = data["choices"][0]
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
    finish = finish_reason(choice)
    if finish not in SCORED_FINISH:
        what = {"abort": "aborted by the server", "error": "aborted by the server", "content_filter": "withheld by a content filter"}.get(str(finish), "unknown")
        raise MalformedResponse(f"finish_reason {finish!r} ({what})")
    if text is None:
        # A null text is the model's own answer only when something the server sent explains it: a
        # tool call, or reasoning (all of it there, or cut at max_tokens while reasoning: the server
        # sends what was thought). `length` alone explains nothing (an independent review: a gateway
        # that lost 18% of the answers, each cut at length, was scored REGRESSION at a true Δ of 0),
        # nor does anything on /v1/completions, which has no reasoning: the server lost the answer.
        if not (tool_calls or (isinstance(reasoning, str) and reasoning)):
            raise MalformedResponse(f"null {field} with finish_reason {finish!r}")
        text = ""
    if not isinstance(text, str):
        raise MalformedResponse(f"{field} is a {type(text).__name__}, not a string")
    for name, value in ((field, text), ("reasoning", reasoning)):
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone UTF-16 surrogate escaped in the JSON ("\\ud83d"): half a character, cut by a gateway
                raise MalformedResponse(f"{name} holds a lone surrogate (not valid Unicode)") from None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = {k: v if isinstance(v, int) else None for k, v in ((k, usage.get(k)) for k in ("prompt_tokens", "completion_tokens"))}
    if prompt_logprobs is not None:  # the echoed prompts are the request's own, and max_tokens 1 cuts by design: neither is the answer
        return Response(text="", logprobs=prompt_logprobs_of(data["choices"], prompt_logprobs), **tokens)
    used = tokens["completion_tokens"]
    if finish == "length" and max_tokens is not None and used is not None and used < CUT_SHORT * max_tokens:
        # the server lowered the budget to fit its context (sglang's --allow-auto-truncate) or cut
        # the prompt: the model never ran out of the tokens the task gives both arms (a server that
        # counts a few tokens differently, special ones left out, is still within CUT_SHORT)
        raise MalformedResponse(f"cut at length after {used} of the {max_tokens} tokens asked for (the server's context, not the budget)")
    return Response(text=text, reasoning=reasoning if isinstance(reasoning, str) else None, finish_reason=finish, **tokens)


def prompt_logprobs_of(choices: list[Any], lengths: list[int | None]) -> list[dict[str, Any]]:
    """Each prompt's `logprobs`, by choice index, or MalformedResponse: a server that ignored
    `echo` or `logprobs` (null logprobs, only the generated token's, a gap) or that generated
    more than the one token lm-eval's slicing expects (`token_logprobs[ctxlen:-1]`) answered
    nothing that can be scored, and a guess would be a wrong score."""
    prompts = len(lengths)
    if len(choices) != prompts or sorted(c.get("index") if isinstance(c, dict) else None for c in choices) != list(range(prompts)):  # type: ignore[type-var]
        raise MalformedResponse(f"{len(choices)} choices for {prompts} prompts (echo + logprobs)")
    out = []
    for choice in sorted(choices, key=lambda c: c["index"]):
        logprobs = choice.get("logprobs")
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        tops = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(values, list) or not isinstance(tops, list) or len(values) < 2 or len(tops) != len(values):
            raise MalformedResponse(f"no prompt logprobs in choice {choice['index']} (the request asked for echo + logprobs)")
        if not all(isinstance(v, (int, float)) for v in values[1:]) or not all(isinstance(t, dict) and t for t in tops[1:]):
            raise MalformedResponse(f"a null or missing token logprob in choice {choice['index']} (echo + logprobs)")
        expected = lengths[choice["index"]]
        if expected is not None and len(values) != expected + 1:
            raise MalformedResponse(f"{len(values)} token logprobs in choice {choice['index']} for a prompt of {expected} tokens and one generated")
        out.append(logprobs)
    return out


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
    """Opens after `threshold` connection failures or timeouts in a row, spread over at least
    `spread` prompts: min(threshold, max(2, max_concurrency)).

    A failure counts only if its attempt *started* after the latest success: with many requests in
    flight, those sent before a success say nothing about the endpoint now (ten requests that hung
    earlier and time out together after the rest finished are not a dead server).

    A server may also fail a few prompts every time and answer the rest (a gateway that resets
    the connection on one body, a prompt the model rambles on past the deadline). Such a prompt
    holds its worker through all its retries while healthy ones finish in milliseconds, so the
    workers converge on failing prompts and, with no success left to reset the count, the
    failures "in a row" come within a second (an independent review: a server answering 80 % of
    prompts was declared down, and never-sent items became EndpointDown errors). Hence:

    - a prompt already seen to fail while the server answered others (its connection failed
      before the latest success, or its timed-out try began before it) fails on its own: its
      retries never count. A connection error is dated when it happens, so the requests cut when
      a server dies still count on their first retry, as before; a timeout is dated from when its
      try began, as the try above;
    - the count must come from `spread` different prompts, so that retries of one or two bad
      prompts are not a dead server. With all workers busy a dead server fails that many at once,
      so opening costs no more tries than the threshold alone;
    - a count reached is `suspect`, not yet down: the endpoint sends a request it had answered once
      more (`Endpoint._confirm_down`: the last one, or one an earlier run of the folder answered,
      `Endpoint.remember`), and opens only if the server does not answer it. Prompts that fail on
      their own can come back to back with nothing answered between them: with one slot, two
      adjacent ones made 10 failures on 2 prompts (an independent review saw 897 of 1,319 items
      never sent), and a rerun, which sends again what failed, met a first wave of them before any
      answer (declared down on every rerun after a kill -9). Leaving an earlier run's errors out of
      the count instead kept a rerun against a server still dead from being declared down at all
      (a second review: 120 requests instead of 12).

    What this costs: see "Circuit breaker" in the README (measured with benchmarks/breaker.py).
    """

    def __init__(self, threshold: int, concurrency: int) -> None:
        self.threshold = threshold
        self.spread = min(threshold, max(2, concurrency))
        self.failures = 0
        self.prompts: set[int] = set()  # the prompts the counted failures came from
        self.last_success = float("-inf")
        self.failed_since: dict[int, float] = {}  # prompt -> when it was first seen to fail (dated as above)
        self.suspect: str | None = None  # the count is reached: down unless the last answered prompt is answered again
        self.down: str | None = None

    def success(self, prompt: int) -> None:
        self.failures = 0
        self.prompts.clear()
        self.suspect = None
        self.last_success = time.monotonic()
        self.failed_since.pop(prompt, None)

    def failure(self, prompt: int, started: float, message: str, timeout: bool) -> None:
        first = self.failed_since.setdefault(prompt, started if timeout else time.monotonic())
        if started < self.last_success or first < self.last_success:
            return
        self.failures += 1
        self.prompts.add(prompt)
        if self.failures >= self.threshold and len(self.prompts) >= self.spread and self.down is None:
            self.suspect = message

    def open(self) -> None:
        if self.suspect is not None and self.down is None:
            self.down = self.suspect


class Endpoint:
    def __init__(self, name: str, config: EndpointConfig) -> None:
        self.name = name
        self.config = config
        self._key = config.api_key(name)
        # One (base URL, headers) per replica, taken in turn; a URL's password is sent as Basic
        # auth instead of the key, as the openai client (through httpx) did.
        self._targets: list[tuple[str, dict[str, str]]] = []
        for url in config.urls:
            base, basic = _wire_url(url)
            self._targets.append((base, {"Authorization": basic or f"Bearer {self._key}", "Content-Type": "application/json"}))
        self._next = itertools.cycle(self._targets)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, tuple[Any, Any]] = {}  # base URL -> (proxy, proxy auth) from the environment
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.model: str = config.model or ""
        self.breaker = CircuitBreaker(config.max_consecutive_failures, config.max_concurrency)
        self._answered: tuple[Prepared, float] | None = None  # a request answered, and its latency: what `_confirm_down` sends again
        self._probing = asyncio.Lock()
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

    def session(self) -> aiohttp.ClientSession:
        """The endpoint's HTTP session, made on first use inside the running loop (aiohttp wants one).

        Its connection pool is unbounded: `semaphore` is the endpoint's concurrency bound, and a
        second bound in the pool would only queue requests where no deadline sees them. Proxies
        from the environment are honoured, as they were through httpx, but looked up once per
        replica here: aiohttp's `trust_env` looks them (and ~/.netrc) up in a thread on every
        request, which was a third of the client's CPU per request.
        """
        import aiohttp
        from aiohttp.helpers import get_env_proxy_for_url
        from yarl import URL

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True)
            self._proxies = {}
            for base, _ in self._targets:
                try:
                    self._proxies[base] = get_env_proxy_for_url(URL(base))
                except LookupError:  # no proxy for this URL (none set, or NO_PROXY names it)
                    pass
        return self._session

    async def _get_json(self, url: str, timeout_s: float, replica: int = 0) -> Any:
        """GET `url` with a replica's headers; the body as JSON, or HTTPStatusError.

        Through the standard library in a thread, not the aiohttp session: checking the model is
        all a rerun of a finished run does, and it should not pay for importing aiohttp.
        """
        return await asyncio.wait_for(asyncio.to_thread(self._get_json_blocking, url, timeout_s, replica), timeout_s + 1)

    def _get_json_blocking(self, url: str, timeout_s: float, replica: int = 0) -> Any:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, headers=self._targets[replica][1], method="GET")
        try:
            with urllib.request.build_opener(_no_redirect()).open(request, timeout=timeout_s) as http:
                body = http.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            raise HTTPStatusError(e.code, e.headers, e.read().decode(errors="replace") if e.fp else "") from None
        except urllib.error.URLError as e:  # the reason (connection refused, DNS) is what a user needs
            raise e.reason if isinstance(e.reason, OSError) else ConnectionError(str(e.reason)) from None
        return json.loads(body)

    async def resolve_model(self) -> str:
        """Check that every replica answers and serves the model: the configured id, or the one id
        each of them lists when the config leaves it out.

        A server that does not check the name it is sent (sglang's OpenAI layer, the simulator)
        answers from whatever it serves: both arms pointed at one such server, or a replica
        serving another quantization, gave a clean LOSSLESS with manifests naming two models (an
        independent review). Replicas that each serve one model, not the same one, are refused; a
        configured id a listing does not hold is said on stderr, not refused, as servers that
        accept names they do not list are many (Azure lists base models, never deployments;
        Ollama drops `:latest`; TGI answers to "tgi")."""
        listings = [await self._listing(replica) for replica in range(len(self._targets))]
        for url, models in zip(self.config.urls, listings):
            where = f"endpoint {self.name}: {public_url(url)}"
            listed = ", ".join(models or []) or "none"
            if models and self.config.model and self.config.model not in models:
                warnings.warn(f"{where} lists {listed}, not the configured model {self.config.model!r}: a server that does not check the name "
                              "answers from whatever it serves", EndpointWarning, stacklevel=2)
            if models is not None and not self.config.model and len(models) != 1:
                raise UsageError(f"{where} serves {len(models)} models ({listed}); set `model` for this endpoint")
        served = sorted({models[0] for models in listings if models is not None and len(models) == 1})
        if len(served) > 1:
            raise UsageError(f"endpoint {self.name}: its replicas serve different models ({', '.join(served)})")
        if not self.config.model:
            self.model = served[0]
        return self.model

    async def _listing(self, replica: int) -> list[str] | None:
        """The model ids a replica lists at /models; None where it has none and `model` is configured."""
        url = public_url(self.config.urls[replica])
        timeout_s = min(self.config.request_timeout(None), 15)
        for attempt in range(2):  # one retry, for a server still warming up
            try:
                listing = await self._get_json(self._targets[replica][0] + "/models", timeout_s, replica)
                data = listing.get("data") if isinstance(listing, dict) else None
                return [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
            except HTTPStatusError as e:
                if e.status_code >= 500 and attempt == 0:
                    continue
                hint = await self._v1_hint(e.status_code)
                if hint:
                    raise UsageError(f"endpoint {self.name}: {url}/models answered HTTP {e.status_code}; {hint}") from None
                if self.config.model:
                    return None  # some servers have no /models; the configured id will do
                raise UsageError(f"endpoint {self.name}: {url}/models answered HTTP {e.status_code}; set `model` for this endpoint") from None
            except ValueError:  # not JSON: a server that is not OpenAI-compatible at this path
                if self.config.model:
                    return None
                raise UsageError(f"endpoint {self.name}: {url}/models did not answer JSON; set `model` for this endpoint") from None
            except Exception as e:  # connection refused, DNS, timeout
                if attempt == 0 and not isinstance(e, asyncio.TimeoutError):
                    continue
                detail = str(e).splitlines()[0] if str(e) else ""
                raise UsageError(self.redact(f"endpoint {self.name}: cannot reach {url} ({type(e).__name__}: {detail})")) from None
        return None  # not reached: the second attempt returns or raises

    async def _v1_hint(self, status: int) -> str | None:
        """'did you mean …/v1?' when /models is not found and the URL does not end in /v1."""
        url = self.config.urls[0].rstrip("/")
        if status != 404 or url.endswith("/v1"):
            return None
        suggestion = public_url(url + "/v1")
        if self.config.model:  # a server without /models is fine, unless /v1/models answers
            try:
                await self._get_json(self._targets[0][0] + "/v1/models", min(self.config.request_timeout(None), 15))
            except Exception:
                return None
        return f"did you mean base_url = {suggestion!r}?"

    def body(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body: model, prompt or messages, every sampling parameter at the top level (where
        sglang and vLLM read top_k, min_p, repetition_penalty, ...), then the endpoint's extra_body."""
        body: dict[str, Any] = {"model": self.model}
        if request.kind == "completion":
            body["prompt"] = request.prompt or ""
        else:
            body["messages"] = request.messages or []
        body.update(params)
        body.update(self.config.extra_body)
        return body

    def prepare(self, request: Request, overrides: dict[str, Any]) -> Prepared:
        """The request as it goes on the wire."""
        params = {**request.params, **overrides}
        echo = params.get("echo") and params.get("logprobs") is not None and request.kind == "completion"
        batched = isinstance(request.prompt, list) and bool(request.prompt) and not isinstance(request.prompt[0], int)
        sent = list(request.prompt or []) if batched else [request.prompt]
        body = self.body(request, params)
        payload = json.dumps(body, ensure_ascii=False).encode()
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")  # as sent: extra_body may set it
        return Prepared(
            path="/completions" if request.kind == "completion" else "/chat/completions",
            kind=request.kind,
            payload=payload,
            deadline=self.config.request_timeout(max_tokens),
            prompts=[len(p) if isinstance(p, list) else None for p in sent] if echo else None,
            max_tokens=max_tokens,
            prompt=hash(payload),  # the breaker tells a prompt that fails on its own from a dead server
        )

    def remember(self, request: Request, overrides: dict[str, Any], latency: float | None) -> None:
        """A request an earlier run of this folder had answered: what `_confirm_down` sends again
        until this run has an answer of its own (a rerun may start with nothing but failing prompts)."""
        if self._answered is None:
            self._answered = (self.prepare(request, overrides), latency or 0.0)

    async def send(self, request: Request, overrides: dict[str, Any]) -> tuple[Response, float]:
        """One request, retried as the module docstring says; returns the response and its latency
        in seconds, or raises RequestFailed (EndpointDown when the breaker is open)."""
        wire = self.prepare(request, overrides)
        tries: dict[str, int] = {"timeout": 0, "other": 0}
        async with self.semaphore:
            while True:
                if self.breaker.down is not None:
                    raise EndpointDown(f"endpoint {self.name} declared down after {self.breaker.threshold} connection failures or timeouts in a row "
                                       f"on {self.breaker.spread} or more prompts; last: {self.breaker.down}")
                base, headers = next(self._next)
                self.session()  # made (aiohttp imported) before the clock starts: the first requests' latency is theirs alone
                started = time.monotonic()
                try:
                    response = await asyncio.wait_for(self._attempt(base, wire.path, headers, wire.kind, wire.payload, wire.deadline, wire.prompts, wire.max_tokens), wire.deadline)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # sorted below; anything unforeseen is not retried
                    failure, message, wait_s = self._classify(e, wire.deadline)
                else:
                    latency = time.monotonic() - started
                    self.breaker.success(wire.prompt)
                    self._answered = (wire, latency)
                    return response, latency
                budget = "timeout" if failure == "timeout" else "other"
                allowed = self.config.max_timeout_retries if budget == "timeout" else self.config.max_retries
                if failure in ("timeout", "connection"):
                    self.breaker.failure(wire.prompt, started, message, timeout=failure == "timeout")
                    if self.breaker.suspect is not None:
                        await self._confirm_down()
                if failure == "fatal" or tries[budget] >= allowed:
                    attempts = tries["timeout"] + tries["other"] + 1
                    raise RequestFailed(f"{message} ({attempts} attempt{'s' if attempts > 1 else ''})")
                backoff = min(self.config.retry_backoff_s * 2 ** tries[budget], MAX_BACKOFF_S) * (1 - 0.25 * random.random())
                tries[budget] += 1
                await asyncio.sleep(wait_s if wait_s is not None and 0 < wait_s <= MAX_RETRY_AFTER_S else backoff)

    async def _confirm_down(self) -> None:
        """The breaker's count is reached: a dead server, or prompts that fail on their own one after
        another? A request answered before is sent once more (one at a time, within 4 times its
        latency or 10 s, at most its deadline): answered, even with a 4xx such as 429 (the server is
        there), the count starts again and the prompts that failed are seen to fail on their own;
        not, the breaker opens. With nothing answered, in this run or the folder's earlier ones, it opens."""
        async with self._probing:
            if self.breaker.suspect is None or self.breaker.down is not None:
                return  # another worker's probe has decided
            if self._answered is not None:
                wire, latency = self._answered
                base, headers = next(self._next)
                wait = min(wire.deadline, max(CONNECT_TIMEOUT_S, 4 * latency))
                try:
                    await asyncio.wait_for(self._attempt(base, wire.path, headers, wire.kind, wire.payload, wait, wire.prompts, wire.max_tokens), wait)
                except asyncio.CancelledError:
                    raise
                except HTTPStatusError as e:
                    alive = e.status_code < 500
                except Exception:  # no answer, or a broken one: the server did not answer what it answered before
                    alive = False
                else:
                    alive = True
                if alive:
                    self.breaker.success(wire.prompt)
                    return
            self.breaker.open()

    async def _attempt(self, base: str, path: str, headers: dict[str, str], kind: Literal["completion", "chat"], payload: bytes, deadline: float,
                       prompt_logprobs: list[int | None] | None = None, max_tokens: int | None = None) -> Response:
        # asyncio's deadline around the call is what bounds the whole request; aiohttp's own
        # timeout only makes connecting fail fast (at most 10 s), so an unreachable host does too.
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(deadline, CONNECT_TIMEOUT_S))
        session = self.session()
        proxy, proxy_auth = self._proxies.get(base, (None, None))
        async with session.post(base + path, data=payload, headers=headers, timeout=timeout, allow_redirects=False, proxy=proxy, proxy_auth=proxy_auth) as http:
            body = (await http.read()).decode(errors="replace")
            if not 200 <= http.status < 300:
                raise HTTPStatusError(http.status, http.headers, body)
            return parse_completion(kind, http.headers.get("Content-Type", ""), body, prompt_logprobs, max_tokens if isinstance(max_tokens, int) else None)

    def _classify(self, e: Exception, deadline: float) -> tuple[Failure, str, float | None]:
        """What kind of failure `e` is, a one-line message (redacted) and any Retry-After."""
        import aiohttp

        if isinstance(e, asyncio.TimeoutError):
            return "timeout", f"timeout: no complete answer within {deadline:g} s", None
        if isinstance(e, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)):
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            return "connection", self.redact(f"connection error: {detail}")[:300], None
        if isinstance(e, MalformedResponse):
            return "transient", self.redact(f"malformed response: {e}")[:300], None
        if isinstance(e, HTTPStatusError):
            body = e.body.strip()
            message = self.redact(f"HTTP {e.status_code}: {body.splitlines()[0] if body else 'no body'}")[:300]
            retried = e.status_code in RETRIED_STATUS or e.status_code >= 500
            return ("transient" if retried else "fatal"), message, retry_after(e.headers) if retried else None
        text = str(e).splitlines()[0] if str(e) else ""
        return "fatal", self.redact(f"{type(e).__name__}: {text}")[:300], None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
