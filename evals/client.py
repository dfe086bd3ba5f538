"""One OpenAI-compatible endpoint: its clients, its concurrency bound, its model id.

Retries are the openai client's own: exponential backoff from 0.5 s to 8 s with jitter, on
connection errors, timeouts, 408, 409, 429 and 5xx, honouring Retry-After; other 4xx are
not retried. `max_retries` is passed straight to it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import openai

from evals.config import EndpointConfig
from evals.errors import UsageError
from evals.tasks.base import Request, Response


class Endpoint:
    def __init__(self, name: str, config: EndpointConfig) -> None:
        self.name = name
        self.config = config
        key = config.api_key(name)
        self._clients = [
            openai.AsyncOpenAI(
                base_url=url,
                api_key=key,
                timeout=config.timeout_s,
                max_retries=config.max_retries,
            )
            for url in config.urls
        ]
        self._next = itertools.cycle(self._clients)
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.model: str = config.model or ""

    async def resolve_model(self) -> str:
        """Check the endpoint answers, and learn its model id when the config leaves it out."""
        url = self.config.urls[0]
        try:
            models = [m.id async for m in self._clients[0].with_options(max_retries=1, timeout=min(self.config.timeout_s, 15)).models.list()]
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise UsageError(f"endpoint {self.name}: cannot reach {url} ({type(e).__name__}: {e})") from None
        except openai.APIStatusError as e:
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

    async def send(self, request: Request, overrides: dict[str, Any]) -> tuple[Response, float]:
        """Send one request (retries inside); returns the response and its latency in seconds."""
        client = next(self._next)
        params = {**request.params, **overrides}
        extra = {"extra_body": self.config.extra_body} if self.config.extra_body else {}
        async with self.semaphore:
            start = time.perf_counter()
            if request.kind == "completion":
                out = await client.completions.create(model=self.model, prompt=request.prompt or "", **params, **extra)  # type: ignore[call-overload]
                choice = out.choices[0]
                text, reasoning = choice.text, None
            else:
                out = await client.chat.completions.create(model=self.model, messages=request.messages or [], **params, **extra)  # type: ignore[call-overload]
                choice = out.choices[0]
                message = choice.message
                text = message.content or ""
                extra_fields = message.model_extra or {}
                # sglang and older vLLM say reasoning_content, newer vLLM says reasoning
                reasoning = extra_fields.get("reasoning_content") or extra_fields.get("reasoning")
            latency = time.perf_counter() - start
        usage = out.usage
        return (
            Response(
                text=text or "",
                reasoning=reasoning,
                finish_reason=choice.finish_reason,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
            ),
            latency,
        )

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
