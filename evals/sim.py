"""`evals sim`: an OpenAI-compatible server that answers benchmark items like a model would.

It recognises the item asked (the last question in the prompt), answers it right or wrong
as `SimModel` decides for (item, seed, profile), and says so in the benchmark's own answer
format. Users try their setup on it before any GPU exists; the tests drive it over real
HTTP. It can also misbehave on purpose (`fault_rate`, `fail_first`: 503s and 429s with Retry-After;
`faults`: the broken answers and connections of a real server) and take its time
(`latency_ms`), like a loaded server.

It can also serve like an inference server, so that the harness can be measured against one:
each generation holds one of `max_batch` slots (requests beyond it queue, as a server's
scheduler queues them) for `ttft_ms` plus its completion tokens at `tokens_per_s`. The sum
of those times is its service time (`/sim/stats`: `service_s`); divided by the batch it is
the least wall time in which any client can get every answer, so a client whose wall time
is near it is not the bottleneck. The model is simple on purpose: the per-request decode
speed does not fall as the batch fills, as it would on a GPU.

A fault in `faults` strikes a request as a fixed function of (seed, fault, request body, how
many times this body came before), so the same run meets the same faults whatever the order
in which its requests arrive, and a retry of a struck request draws again; with
`persistent_faults` the count is left out, so the same prompts are struck on every attempt (a
server that always fails on some prompts while it answers the rest).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from evals.simmodel import Profile, SimModel, uniform
from evals.tasks import gpqa, gsm8k

# What `--fault KIND:RATE` can break (README, "The simulator", says how each looks on the wire).
FAULTS = ("malformed", "empty", "null", "abort", "hang", "close", "echo-auth", "nologprobs")


@dataclass(frozen=True)
class Fault:
    kind: str
    rate: float

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """`KIND:RATE`, RATE a fraction in [0, 1]."""
        kind, _, rate = spec.partition(":")
        if kind not in FAULTS:
            raise ValueError(f"--fault {spec!r}: unknown fault {kind!r} (one of {', '.join(FAULTS)})")
        try:
            value = float(rate)
        except ValueError:
            raise ValueError(f"--fault {spec!r}: expected KIND:RATE with RATE a fraction, e.g. {kind}:0.1") from None
        if not 0 <= value <= 1:
            raise ValueError(f"--fault {spec!r}: RATE must be within [0, 1]")
        return cls(kind, value)


@dataclass(frozen=True)
class Question:
    item_id: str
    answer: str


class Catalog(Protocol):
    def find(self, prompt: str) -> Question | None: ...

    def reply(self, question: Question, correct: bool, draw: int) -> str: ...

    def item_ids(self) -> list[str]: ...


class Gsm8kCatalog:
    """GSM8K test questions, answered with a short solution ending in `#### N`.

    The solution also says "The final answer is N.", the sentence lm-eval's chain-of-thought
    GSM8K variants (`gsm8k_cot_llama`) ask for and their strict-match filter reads."""

    LAST_QUESTION = re.compile(r"Question: (.*?)\nAnswer:", re.DOTALL)
    LAST_PROBLEM = re.compile(r"Problem: (.*?)\nYour response should end with", re.DOTALL)  # lm-eval's gsm8k_cot_llama

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self._by_question = {r["question"]: r for r in rows}

    def find(self, prompt: str) -> Question | None:
        asked = self.LAST_QUESTION.findall(prompt) or self.LAST_PROBLEM.findall(prompt)
        row = self._by_question.get(asked[-1]) if asked else None
        if row is None:  # another template: look for the question text itself, last one wins
            hits = [(prompt.rfind(q), r) for q, r in self._by_question.items() if q in prompt]
            row = max(hits, key=lambda h: h[0])[1] if hits else None
        if row is None:
            return None
        return Question(item_id=gsm8k.item_id(row["question"]), answer=row["answer"].split("####")[-1].strip().replace(",", ""))

    def item_ids(self) -> list[str]:
        return [gsm8k.item_id(q) for q in self._by_question]

    def reply(self, question: Question, correct: bool, draw: int) -> str:
        gold = int(question.answer)
        # A wrong answer differs from the gold even when signs are ignored, as sglang's extraction does.
        answer = gold if correct else abs(gold) + 1 + int(uniform(question.item_id, draw, "wrong") * 9)
        return f" Let me work through it step by step.\nPutting the numbers together gives {answer}.\nThe final answer is {answer}.\n#### {answer}"


class GpqaCatalog:
    """GPQA questions in simple-evals' template: knows which letter holds the right answer after any permutation."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self._by_question = {r["Question"]: r for r in rows}

    def find(self, prompt: str) -> Question | None:
        at = prompt.rfind("\n\nA) ")
        if at < 0:
            return None
        head = prompt[:at]
        row = self._by_question.get(head.split("\n\n", 1)[1] if "\n\n" in head else head)
        if row is None:
            return None
        choices, rest = [], prompt[at + 2 :]
        for letter, following in zip("ABCD", ("\nB) ", "\nC) ", "\nD) ", None)):
            body = rest[len(letter) + 2 :]
            end = body.find(following) if following else len(body)
            choices.append(body[:end])
            rest = body[end + 1 :] if following else ""
        if row["Correct Answer"] not in choices:
            return None
        return Question(item_id=row["Record ID"], answer="ABCD"[choices.index(row["Correct Answer"])])

    def item_ids(self) -> list[str]:
        return [r["Record ID"] for r in self._by_question.values()]

    def reply(self, question: Question, correct: bool, draw: int) -> str:
        wrong = [x for x in "ABCD" if x != question.answer]
        letter = question.answer if correct else wrong[int(uniform(question.item_id, draw, "wrong") * 3)]
        return f"Weighing the four options against what the question asks, one fits best.\n\nAnswer: {letter}"


class ArithmeticCatalog:
    """"What is A + B?" / "What is A * B?" questions, the example lm-eval task's
    (examples/lm-eval-task): the answer is computed, so no data file is needed."""

    LAST_QUESTION = re.compile(r"What is (-?\d+) ([+*]) (-?\d+)\?")

    def find(self, prompt: str) -> Question | None:
        asked = self.LAST_QUESTION.findall(prompt)
        if not asked:
            return None
        a, op, b = asked[-1]
        value = int(a) + int(b) if op == "+" else int(a) * int(b)
        return Question(item_id=hashlib.sha256(f"{a}{op}{b}".encode()).hexdigest()[:16], answer=str(value))

    def reply(self, question: Question, correct: bool, draw: int) -> str:
        gold = int(question.answer)
        answer = gold if correct else gold + 1 + int(uniform(question.item_id, draw, "wrong") * 9)
        return f" Working it out gives {answer}. The answer is {answer}."

    def item_ids(self) -> list[str]:
        return []  # any two numbers: nothing to compute ahead


def load_catalogs(data_dir: Path | None) -> list[Catalog]:
    """Every benchmark the data folder holds (GSM8K also from the hub when there is no folder),
    and the arithmetic questions, which need none."""
    catalogs: list[Catalog] = []
    if data_dir is None or (data_dir / "gsm8k" / "test.jsonl").exists():
        catalogs.append(Gsm8kCatalog(gsm8k.load_split(data_dir, "test")))
    if data_dir is not None and (data_dir / gpqa.LOCAL_FILE).exists():
        catalogs.append(GpqaCatalog(gpqa.load_rows(data_dir)))
    return [*catalogs, ArithmeticCatalog()]  # last: a GSM8K question that happens to ask "What is 3 + 4?" stays GSM8K's


@dataclass
class Simulator:
    catalogs: list[Catalog]
    model: SimModel = field(default_factory=SimModel)
    profile: Profile = "reference"
    model_name: str = "sim-reference"
    also_listed: list[str] = field(default_factory=list)  # more ids at /v1/models, as a multi-model server lists them
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    fail_first: int = 0  # answer the first N generation requests 429, whatever fault_rate says
    retry_after_s: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    hang_s: float = 3600.0  # how long a `hang` fault keeps a request waiting if the client stays
    persistent_faults: bool = False  # a struck prompt is struck on every attempt, not drawn again per retry
    ttft_ms: float = 0.0  # time to first token of each generation
    tokens_per_s: float = 0.0  # decode speed of one generation (0: no decode time)
    max_batch: int = 0  # generations served at once; more queue (0: no limit)
    tokenizer: Any = None  # serves prompt logprobs (echo + logprobs) with it; without, refuses them (evals.simlogprobs)
    requests: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # monotonic arrival times of generation requests
    params: Counter[str] = field(default_factory=Counter)  # top-level body fields of generation requests
    bodies: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))  # the latest request bodies
    _seen: Counter[str] = field(default_factory=Counter)
    service_s: float = 0.0  # the generation time the server model asked for, summed over requests
    _batch: asyncio.Semaphore | None = None
    _active: int = 0
    _busy_since: float = 0.0
    busy_s: float = 0.0  # wall time during which at least one generation was being served
    peak_batch: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        self.model.warm([i for catalog in self.catalogs for i in catalog.item_ids()])

    def _fault_for(self, raw: bytes) -> str | None:
        """Which fault, if any, strikes this request: fixed by (seed, fault, body, times seen)."""
        digest = hashlib.sha256(raw).hexdigest()
        seen = 0 if self.persistent_faults else self._seen[digest]
        self._seen[digest] += 1
        for fault in self.faults:
            if uniform(self.model.seed, fault.kind, digest, seen) < fault.rate:
                self.requests[f"fault:{fault.kind}"] += 1
                return fault.kind
        return None

    async def _hang(self, request: web.Request) -> web.Response:
        """Hold the request until the client hangs up (then nobody reads the answer) or hang_s."""
        until = time.monotonic() + self.hang_s
        while time.monotonic() < until and request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.05)
        return web.json_response({"error": {"message": "simulated hang ended"}}, status=504)

    async def _broken(self, fault: str | None, request: web.Request) -> web.StreamResponse | None:
        """The answer of a fault that replaces the whole response, or None."""
        if fault == "hang":
            return await self._hang(request)
        if fault == "close":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault == "echo-auth":
            auth = request.headers.get("Authorization", "")
            return web.json_response({"error": {"message": f"invalid credentials in header Authorization: {auth}", "type": "auth_error"}}, status=401)
        return None

    @staticmethod
    def _garbled(fault: str | None, payload: dict[str, Any], kind: str) -> web.Response:
        """The completion as sent, broken the way `fault` says (malformed, empty, null, abort)."""
        choice = payload["choices"][0]
        key = "text" if kind == "completion" else "content"
        holder = choice if kind == "completion" else choice["message"]
        if fault == "malformed":
            text = json.dumps(payload)
            if uniform(payload["id"], "malformed") < 0.5:
                return web.Response(text=text[: len(text) // 2], content_type="application/json")  # cut short
            return web.Response(text="upstream returned an unexpected response", content_type="text/plain")
        if fault == "empty":
            payload["choices"] = []
        elif fault == "nologprobs":  # a server that ignores `logprobs`: an answer that cannot be scored
            for one in payload["choices"]:
                one["logprobs"] = None
        elif fault == "null":
            holder[key] = None
        elif fault == "abort":
            holder[key] = holder[key][: len(holder[key]) // 2]
            choice["finish_reason"] = "abort"
        return web.json_response(payload)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        raw = await request.read()
        body = json.loads(raw)
        self.params.update(body.keys())
        self.bodies.append(body)
        return body, self._fault_for(raw)

    def answer(self, prompt: str, draw: int) -> str:
        for catalog in self.catalogs:
            question = catalog.find(prompt)
            if question is not None:
                self.requests["recognised"] += 1
                return catalog.reply(question, self.model.correct(question.item_id, draw, self.profile), draw)
        self.requests["unrecognised"] += 1
        return " I do not know this one."

    async def _generate(self, text: str) -> None:
        """Hold the request as the server model says: a batch slot, then ttft + tokens / speed."""
        if not (self.ttft_ms or self.tokens_per_s or self.max_batch):
            return
        if self.max_batch and self._batch is None:
            self._batch = asyncio.Semaphore(self.max_batch)
        seconds = self.ttft_ms / 1000 + (len(text.split()) / self.tokens_per_s if self.tokens_per_s else 0.0)
        if self._batch is not None:
            await self._batch.acquire()
        try:
            if self._active == 0:
                self._busy_since = time.monotonic()
            self._active += 1
            self.peak_batch = max(self.peak_batch, self._active)
            self.service_s += seconds
            await asyncio.sleep(seconds)
        finally:
            self._active -= 1
            if self._active == 0:
                self.busy_s += time.monotonic() - self._busy_since
            if self._batch is not None:
                self._batch.release()

    async def _pause_or_fail(self, path: str) -> web.Response | None:
        self.requests[path] += 1
        self.arrivals.append(time.monotonic())
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000 * (0.5 + self._rng.random()))
        overloaded = self.requests["faults"] < self.fail_first
        if overloaded or (self.fault_rate and self._rng.random() < self.fault_rate):
            self.requests["faults"] += 1
            if overloaded or self._rng.random() < 0.5:
                headers = {"Retry-After": f"{self.retry_after_s:g}"}
                return web.json_response({"error": {"message": "simulated overload"}}, status=429, headers=headers)
            return web.json_response({"error": {"message": "simulated server error"}}, status=503)
        return None

    @staticmethod
    def _finish(text: str, body: dict[str, Any]) -> tuple[str, str]:
        stops = body.get("stop") or []
        for stop in [stops] if isinstance(stops, str) else stops:
            if stop and stop in text:
                text = text[: text.index(stop)]
        words = text.split(" ")
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if limit is not None and len(words) > int(limit):
            return " ".join(words[: int(limit)]), "length"
        return text, "stop"

    @staticmethod
    def _usage(prompt: str, text: str) -> dict[str, int]:
        p, c = len(prompt.split()), len(text.split(" ")) if text else 0  # a word is a token, counted as `_finish` cuts: a cut at max_tokens reports max_tokens
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def models(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        ids = [self.model_name, *self.also_listed]
        return web.json_response({"object": "list", "data": [{"id": i, "object": "model", "owned_by": "evals-sim"} for i in ids]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        failed = await self._pause_or_fail(request.path)
        if failed is not None:
            return failed
        body, fault = await self._body(request)
        broken = await self._broken(fault, request)
        if broken is not None:
            return broken
        if body.get("echo") and body.get("logprobs") is not None:
            return await self._prompt_logprobs(body, fault)
        prompt = body.get("prompt", "")
        prompt = prompt[0] if isinstance(prompt, list) else prompt
        text, reason = self._finish(self.answer(prompt, int(body.get("seed") or 0)), body)
        await self._generate(text)
        return self._garbled(
            fault,
            {
                "id": f"cmpl-{self.requests[request.path]}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}],
                "usage": self._usage(prompt, text),
            },
            "completion",
        )

    async def _prompt_logprobs(self, body: dict[str, Any], fault: str | None) -> web.Response:
        """vLLM's answer to echo + logprobs (`evals.simlogprobs`), or, without a tokenizer, the
        400 of a server that has no prompt logprobs (OpenAI's words for it)."""
        if self.tokenizer is None:
            self.requests["prompt-logprobs-refused"] += 1
            message = "Setting 'echo' and 'logprobs' at the same time is not supported for this model (evals sim: no --tokenizer)."
            return web.json_response({"error": {"message": message, "type": "invalid_request_error", "code": None}}, status=400)
        from evals.simlogprobs import echo_choices

        choices, prompt_tokens = echo_choices(self.tokenizer, body, self.catalogs, self.model, self.profile)
        self.requests["prompt-logprobs"] += 1
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(choices), "total_tokens": prompt_tokens + len(choices)}
        payload = {"id": f"cmpl-{self.requests['/v1/completions']}", "object": "text_completion", "created": int(time.time()), "model": self.model_name, "choices": choices, "usage": usage}
        return self._garbled(fault, payload, "completion")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        failed = await self._pause_or_fail(request.path)
        if failed is not None:
            return failed
        body, fault = await self._body(request)
        broken = await self._broken(fault, request)
        if broken is not None:
            return broken
        users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
        prompt = users[-1] if users else ""
        prompt = prompt if isinstance(prompt, str) else " ".join(part.get("text", "") for part in prompt)
        text, reason = self._finish(self.answer(prompt, int(body.get("seed") or 0)).lstrip(), body)
        await self._generate(text)
        return self._garbled(
            fault,
            {
                "id": f"chatcmpl-{self.requests[request.path]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}],
                "usage": self._usage(prompt, text),
            },
            "chat",
        )

    async def stats(self, request: web.Request) -> web.Response:
        gaps = [round(b - a, 4) for a, b in zip(self.arrivals, self.arrivals[1:])]
        return web.json_response(
            {
                "requests": dict(self.requests),
                "profile": self.profile,
                "model": self.model_name,
                "gaps_s": gaps[:1000],
                "params": dict(self.params),
                "last_bodies": list(self.bodies),
                "service_s": round(self.service_s, 6),
                "busy_s": round(self.busy_s, 6),
                "max_batch": self.max_batch,
                "peak_batch": self.peak_batch,
            }
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/sim/stats", self.stats)
        return app


async def start(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve `sim` in the running event loop; returns the runner (to stop it) and the base URL."""
    runner = web.AppRunner(sim.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/v1"
