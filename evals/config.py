"""`evals.toml`: endpoints, per-task options, the gate's margins.

Every model rejects unknown keys, so a typo is an error naming the field and the file
rather than a silent default (design §4).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from evals.errors import UsageError

DEFAULT_CONFIG = Path("evals.toml")
DATA_DIR_ENV = "EVALS_DATA_DIR"
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Strict(BaseModel):
    # defer_build: a model's validator is built when it is first used, not at import (`evals tasks` uses none);
    # strict: `max_concurrency = "3"` or `sequential = 1` is a typo to name, not a value to guess (an int is still a float)
    model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)


class Sampling(Strict):
    """Per-endpoint overrides of a task's sampling parameters (recorded in each manifest).

    `top_k`, `min_p` and `repetition_penalty` are not OpenAI parameters: the client sends them
    as top-level body fields, where sglang and vLLM read them.
    """

    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=-1)  # -1: off, as sglang and vLLM take it
    min_p: float | None = Field(default=None, ge=0, le=1)
    repetition_penalty: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# The default request timeout scales with the generation budget: a base for queueing and the
# prompt, plus a floor of 20 tokens/s per request for decoding (a loaded server with many
# requests in flight). 512 tokens (GSM8K) gives 86 s; 32,768 (GPQA) 27 minutes.
TIMEOUT_BASE_S = 60.0
TIMEOUT_PER_TOKEN_S = 0.05
TIMEOUT_UNKNOWN_BUDGET_S = 600.0  # a request that states no max_tokens


def public_url(url: str) -> str:
    """`url` without the user and password it may carry: what may be written to a file."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=netloc))


def adhoc_name(url: str) -> str:
    """The name of an endpoint given as a URL: host and port, and its path but for a final /v1, so that
    two models behind one gateway (http://gw/fp8/v1, http://gw/mxfp4/v1) are two endpoints; never
    the credentials a URL may carry (the name is written to manifests and folder names)."""
    parts = urlsplit(public_url(url))
    path = parts.path.rstrip("/").removesuffix("/v1")
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", parts.netloc + path).strip("-")


def same_server(a: EndpointConfig, b: EndpointConfig) -> bool:
    """Whether two endpoints send the same requests, with the same key, to the same URLs: a
    comparison of a server with itself, which would say LOSSLESS of any quantization (a config whose
    two entries were copied, one of them rewritten from localhost to 127.0.0.1). Best effort: a model
    named in one and left to the listing in the other, or two names of one host, are not seen as the same."""
    return (sorted(map(_server_url, a.urls)) == sorted(map(_server_url, b.urls))
            and (a.model, a.api_key_env, a.extra_body, a.sampling) == (b.model, b.api_key_env, b.extra_body, b.sampling))


LOOPBACK = ("localhost", "127.0.0.1", "::1")  # the usual names of this machine: one server at one port


def _server_url(url: str) -> str:
    """`canonical_url`, with every name in `LOOPBACK` as 127.0.0.1 (127.0.0.2 can be another server)."""
    parts = urlsplit(canonical_url(url))
    if parts.hostname not in LOOPBACK:
        return canonical_url(url)
    return urlunsplit(parts._replace(netloc="127.0.0.1" + (f":{parts.port}" if parts.port else "")))


def canonical_url(url: str) -> str:
    """A URL as a server sees it: scheme and host in lower case, no default port, no final slash."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    port = "" if parts.port in (None, {"http": 80, "https": 443}.get(parts.scheme.lower())) else f":{parts.port}"
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=host + port)).rstrip("/")


class EndpointConfig(Strict):
    base_url: str | list[str]
    model: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = Field(default=32, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=5, ge=0)
    max_timeout_retries: int = Field(default=1, ge=0)
    retry_backoff_s: float = Field(default=0.5, ge=0)
    max_consecutive_failures: int = Field(default=10, gt=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    sampling: Sampling = Field(default_factory=Sampling)

    def request_timeout(self, max_tokens: int | None) -> float:
        """The whole-request deadline: `timeout_s` when set, else one that fits the budget."""
        if self.timeout_s is not None:
            return self.timeout_s
        if not max_tokens:
            return TIMEOUT_UNKNOWN_BUDGET_S
        return TIMEOUT_BASE_S + TIMEOUT_PER_TOKEN_S * max_tokens

    @property
    def public_base_url(self) -> str | list[str]:
        """`base_url` without credentials, for manifests and messages."""
        return public_url(self.base_url) if isinstance(self.base_url, str) else [public_url(u) for u in self.base_url]

    @field_validator("extra_body")
    @classmethod
    def _token_budget(cls, value: dict[str, Any]) -> dict[str, Any]:
        """A token budget sent through `extra_body` sets each request's deadline too (`request_timeout`):
        a string there failed every request, each an error record, rather than the config once."""
        for key in ("max_tokens", "max_completion_tokens"):
            budget = value.get(key)
            if key in value and (not isinstance(budget, int) or isinstance(budget, bool) or budget <= 0):
                raise ValueError(f"{key}: expected a positive whole number of tokens, got {budget!r}")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_urls(cls, value: str | list[str]) -> str | list[str]:
        for url in [value] if isinstance(value, str) else value:
            if urlparse(url).scheme not in ("http", "https"):
                raise ValueError(f"expected an http(s) URL, got {url!r}")
        if isinstance(value, list) and not value:
            raise ValueError("expected at least one URL")
        return value

    @property
    def urls(self) -> list[str]:
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)

    def api_key(self, name: str) -> str:
        """The key from the environment; the key itself never goes into a file."""
        if self.api_key_env is None:
            return "EMPTY"  # sglang and vLLM ignore it; the openai client insists on one
        key = os.environ.get(self.api_key_env)
        if not key:
            raise UsageError(f"endpoint {name}: environment variable {self.api_key_env} (api_key_env) is not set")
        return key


def _fraction(margin: float) -> float:
    """A margin is a fraction of accuracy: 2 (meant as points) would pass a 10-point drop as
    LOSSLESS, and a negative one inverts the test (it would demand an improvement)."""
    if not 0 < margin < 1:
        hint = f"; for {margin:g} points write {margin / 100:g}" if 1 <= margin < 100 else ""
        raise PydanticCustomError("margin", "expected a fraction of accuracy, 0 < margin < 1{hint}", {"hint": hint})
    return margin


Margin = Annotated[float, AfterValidator(_fraction)]


class GateConfig(Strict):
    """`[gate]`: the test's parameters. Which task names `margins` may hold is checked by
    `evals.tasks.validate_tasks`, which knows the task registry (config does not import tasks)."""

    # One-sided α: above 0.5 the "confidence" interval would not even contain Δ.
    alpha: float = Field(default=0.025, gt=0, lt=0.5)
    # Power below 0.5 makes z₁₋β negative: the items-needed advice would shrink as power is asked for.
    power: float = Field(default=0.8, ge=0.5, lt=1)
    margins: dict[str, Margin] = Field(default_factory=dict)
    # 1 would accept an arm whose every request failed; a verdict then says nothing.
    max_error_rate: float = Field(default=0.01, ge=0, lt=1)
    # a reference without a readable answer (no number, no letter) on more draws than this is ERROR:
    # its serving config is broken, and 0 against 0 is no evidence (gate.invalid_answers). Not lower by
    # default: lm-eval's strict-match finds no answer in most of a chat model's (Llama-3.1-8B-Instruct:
    # strict 0.20 against flexible 0.78, lm-evaluation-harness PR #2034), which is that protocol's score
    max_invalid_rate: float = Field(default=0.9, ge=0, le=1)
    # `evals compare`: look `looks` times and stop a task once it is decided (evals.sequential)
    sequential: bool = False
    looks: int = Field(default=4, ge=1, le=20)
    # stop as INCONCLUSIVE when neither boundary is reachable with this conditional power; 0: never
    futility: float = Field(default=0.1, ge=0, lt=1)
    order_seed: int = 0


class Config(Strict):
    data_dir: Path | None = Field(default=None, strict=False)  # TOML's string
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    gate: GateConfig = Field(default_factory=GateConfig)
    # Where the file came from, for error messages; not a TOML key.
    _source: str = PrivateAttr(default="(defaults)")

    @property
    def source(self) -> str:
        return self._source

    @field_validator("endpoints")
    @classmethod
    def _names(cls, value: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        for name in value:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"endpoint name {name!r} may hold only letters, digits, '.', '_' and '-'")
        return value

    def resolved_data_dir(self) -> Path | None:
        """The config's `data_dir` (relative to the file), else `$EVALS_DATA_DIR`, else None (the hub)."""
        if self.data_dir is not None:
            base = Path(self.source).parent if self.source != "(defaults)" else Path.cwd()
            return (base / self.data_dir).resolve()
        env = os.environ.get(DATA_DIR_ENV)
        return Path(env).resolve() if env else None

    def endpoint(self, name: str) -> tuple[str, EndpointConfig]:
        """An endpoint by name, or an ad-hoc one when `name` is a URL (for quick tries)."""
        if name in self.endpoints:
            return name, self.endpoints[name]
        if urlparse(name).scheme in ("http", "https"):
            return adhoc_name(name), EndpointConfig(base_url=name)
        known = ", ".join(sorted(self.endpoints)) or "none"
        raise UsageError(f"{self.source}: no endpoint named {name!r} (defined: {known}); add [endpoints.{name}] or pass a URL")


def describe_validation_error(err: ValidationError, source: str, prefix: tuple[str | int, ...] = ()) -> str:
    """One line: file, dotted field path, what was expected."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (*prefix, *e["loc"]))
        if e["type"] == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
        else:
            got = e.get("input")
            message = e["msg"].removeprefix("Value error, ")  # our own validators' words, without pydantic's label
            shown = "" if isinstance(got, dict) or got is None or repr(got) in message else f" (got {got!r})"
            parts.append(f"{loc}: {message}{shown}")
    return f"{source}: " + "; ".join(parts)


def load_config(path: Path | None) -> Config:
    """Read `path`, or ./evals.toml when it exists, or the defaults."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return Config()
        path = DEFAULT_CONFIG
    if not path.exists():
        raise UsageError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not a UTF-8 text file (byte {e.start}); TOML is UTF-8") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot be read: {e.strerror}") from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        raise UsageError(describe_validation_error(e, str(path))) from None
    config._source = str(path)
    return config
