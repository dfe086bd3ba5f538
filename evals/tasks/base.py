"""What a task adapter is: items in, requests out, responses scored (design §5).

`build_request` and `score` are pure (no I/O, no global random state) so that both
endpoints get byte-identical requests and scoring is unit-testable without a server.
The runner owns I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from evals.errors import UsageError
from evals.records import sha256_json


class Item(BaseModel):
    # every model here is built on first use, not at import: `evals tasks` and `evals report` use few of them
    model_config = ConfigDict(defer_build=True)

    item_id: str
    index: int
    input: dict[str, Any]
    gold: str


class Request(BaseModel):
    """One call to an endpoint, before the endpoint's own model name and overrides are added."""

    model_config = ConfigDict(defer_build=True)

    kind: Literal["completion", "chat"]
    # A list is several prompts in one `/v1/completions` request (text or token ids), as lm-eval's
    # local-completions batches them: a multiple_choice document's choices, scored by prompt logprobs.
    prompt: str | list[str] | list[list[int]] | None = None
    messages: list[dict[str, str]] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        return sha256_json(self.model_dump())


class Response(BaseModel):
    model_config = ConfigDict(defer_build=True)

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # Per prompt of an echo + logprobs request, its choice's `logprobs` (`tokens`, `token_logprobs`,
    # `top_logprobs`), checked by the client to cover the prompt: what loglikelihood tasks score.
    logprobs: list[dict[str, Any]] | None = None


class Scored(BaseModel):
    model_config = ConfigDict(defer_build=True)

    score: float
    extracted: str | None
    invalid: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class TaskOptions(BaseModel):
    # built when a task is configured; strict as the rest of evals.toml (`trials = "4"` is a typo to
    # name, not a value to guess); a plugin's field read from a TOML string (a Path) says Field(strict=False)
    model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)

    limit: int | None = Field(default=None, gt=0)


class AnyTask(Protocol):
    """What every task is to the rest of the program, however it runs (design §6): a name, its
    configuration and repeats, what fingerprints its prompts, what else its manifest keeps, and
    which runner (`evals.runners.RUNNERS`) turns it into records and a manifest."""

    name: str
    version: str
    description: str
    runner: str

    def config(self) -> dict[str, Any]: ...

    def repeats(self) -> list[int]: ...

    def prompt_fingerprint(self) -> str: ...

    def manifest_extra(self) -> dict[str, Any]: ...


class Task(ABC):
    """A benchmark adapter. Subclasses set `name`, `version`, `Options` and the four methods."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    runner: ClassVar[str] = "native"  # our runner sends its requests

    def __init__(self, options: TaskOptions, data_dir: Path | None) -> None:
        self.options = options
        self.data_dir = data_dir

    @abstractmethod
    def load_items(self) -> list[Item]:
        """The items this configuration evaluates, `limit` applied."""

    def repeats(self) -> list[int]:
        """Seeds or trials; one repeat for greedy tasks."""
        return [0]

    @abstractmethod
    def build_request(self, item: Item, repeat: int) -> Request: ...

    @abstractmethod
    def score(self, item: Item, repeat: int, response: Response) -> Scored: ...

    @abstractmethod
    def prompt_spec(self) -> dict[str, Any]:
        """Everything that shapes a prompt besides the item: templates, shots, stops."""

    def item_details(self, item: Item) -> dict[str, Any]:
        """What a record of this item says of it whatever its answer (an lm-eval group's `group`):
        an error record carries it too, else the gate cannot place the item, and a group whose
        every record failed dropped out of its macro (an independent review)."""
        return {}

    def prompt_fingerprint(self) -> str:
        return sha256_json(self.prompt_spec())

    def config(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json")

    def manifest_extra(self) -> dict[str, Any]:
        """What else the manifest keeps for this task (a library's version, its resolved config):
        the gate compares the keys it knows (`evals.gate.PAIRED_EXTRAS`)."""
        return {}


def refuse_duplicates(seen: dict[str, list[int]], source: str, unit: str, what: str, why: str) -> None:
    """One error naming the ids seen at more than one row: items are paired by id, so a duplicate would be counted twice."""
    duplicated = {i: numbers for i, numbers in seen.items() if len(numbers) > 1}
    if duplicated:
        shown = "; ".join(f"{i} at {unit}s {', '.join(map(str, numbers))}" for i, numbers in list(duplicated.items())[:5])
        more = f"; and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
        raise UsageError(f"{source}: {len(duplicated)} {what} occur more than once ({why}): {shown}{more}")
