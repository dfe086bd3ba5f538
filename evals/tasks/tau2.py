"""tau2-bench: agentic customer-service tasks (airline, retail, telecom) with a simulated user
(Barres et al. 2025, arXiv:2506.07982; sierra-research/tau2-bench).

tau2 is never re-implemented here: an established engine runs it and its results become
our records — `engine = "inspect"`, inspect_evals' port run through inspect_ai, or
`engine = "tau2-bench"`, the official package (`tau2 run`), whose results files can also be
imported (`evals import tau2 RESULTS.json --endpoint NAME`).

What we do differently from tau2-bench's own metrics, on purpose: a trial that ended in an
infrastructure or agent error (tau2's `infrastructure_error`, `agent_error`, a null
`reward_info`; an inspect sample error) is kept as a failure with reward 0 and `error` set.
tau2-bench drops such trials, which favours the model that breaks more often — and malformed
tool-call JSON is exactly how a damaged quantization fails. The gate's error-rate rule applies.

The score is tau2's success rule (reward ≥ 1 − 1e-6) per trial; the task's score is the macro
over domains (the leaderboard's "Overall"); each record's `details.group` is its domain.

    evals compare fp8 mxfp4 --tasks tau2
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from evals.records import Record, sha256_json
from evals.tasks.base import TaskOptions

DOMAINS = ("airline", "retail", "telecom")
SUCCESS_THRESHOLD = 1 - 1e-6  # tau2's is_successful
ERROR_TERMINATIONS = {"infrastructure_error", "agent_error"}


def __getattr__(name: str) -> Any:
    """`pass_hat_k`, tau2's own metric, is kept here where tau2 users look; imported on use, so
    that listing the tasks does not load the scores' models."""
    if name == "pass_hat_k":
        from evals.scores import pass_hat_k

        return pass_hat_k
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Tau2Options(TaskOptions):
    engine: Literal["inspect", "tau2-bench"] = "inspect"
    domains: list[str] = Field(default_factory=lambda: list(DOMAINS))
    trials: int = Field(default=4, gt=0)
    user_model: str | None = None  # an endpoint name from evals.toml, the same for both arms
    user_temperature: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    temperature: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # the agent's
    task_ids: list[str] | None = None  # only these tasks, each as "domain/<tau2 task id>"
    message_limit: int | None = Field(default=None, gt=0)
    max_steps: int = Field(default=200, gt=0)
    seed: int = 300  # tau2-bench's default

    @model_validator(mode="after")
    def _domains(self) -> Tau2Options:
        if not self.domains:
            raise ValueError("domains must not be empty")
        for name, values in (("domains", self.domains), ("task_ids", self.task_ids or [])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:  # each would be run, and counted, twice
                raise ValueError(f"{name} lists {', '.join(twice)} more than once")
        if self.engine == "inspect":
            unknown = sorted(set(self.domains) - set(DOMAINS))
            if unknown:
                raise ValueError(f"inspect_evals has no tau2 domain {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
        for task_id in self.task_ids or []:
            if task_id.split("/", 1)[0] not in self.domains or "/" not in task_id:
                raise ValueError(f"task_ids entry {task_id!r}: expected \"domain/<task id>\" with a domain from {self.domains}")
        return self

    def ids_for(self, domain: str) -> list[str] | None:
        """The tau2 task ids asked for in `domain`, or None for all of them."""
        if self.task_ids is None:
            return None
        return [t.split("/", 1)[1] for t in self.task_ids if t.split("/", 1)[0] == domain]


def is_success(reward: float | None) -> bool:
    return reward is not None and reward >= SUCCESS_THRESHOLD


def item_id(domain: str, task_id: str) -> str:
    """`domain/task_id`: airline and retail both number their tasks from 0."""
    return f"{domain}/{task_id}"


def trial_record(endpoint: str, domain: str, task_id: str, trial: int, reward: float | None, error: str | None, model_failure: bool = False, **details: Any) -> Record:
    """One trial as a record: an errored trial has score 0 and `error` set, never dropped.

    The agent's own failure (tau2's `agent_error`) is a result and stands as a scored 0; an
    infrastructure error is not, and the gate counts it against the candidate (`stats.match`)
    and toward `max_error_rate`."""
    return Record(
        task="tau2",
        item_id=item_id(domain, task_id),
        repeat=trial,
        endpoint=endpoint,
        request_hash=sha256_json({"domain": domain, "task_id": task_id, "trial": trial}),
        score=float(is_success(reward) and error is None),
        extracted=None if reward is None else f"{reward:g}",
        error=error,
        details={"group": domain, "reward": reward, "scored_as_failure": error is not None and model_failure, **details},
    )


def records_from_results(data: dict[str, Any], endpoint: str) -> list[Record]:
    """Records from an official tau2-bench results file: `simulations[]` by task and trial."""
    domain = data["info"]["environment_info"]["domain_name"]
    records = []
    for sim in data["simulations"]:
        reason = sim.get("termination_reason")
        reward_info = sim.get("reward_info")
        reward = None if reward_info is None else reward_info.get("reward")
        error = None
        if reason in ERROR_TERMINATIONS or reward_info is None:
            info = sim.get("info") or {}
            what = info.get("error_type") or reason or "no reward_info"
            error = f"{reason}: {what}: {info.get('error', '')}".rstrip(": ")[:500]
        records.append(trial_record(endpoint, domain, str(sim["task_id"]), int(sim["trial"]), reward, error, model_failure=reason == "agent_error", termination_reason=reason))
    return records


def results_settings(data: dict[str, Any]) -> dict[str, Any]:
    """What must match between two arms' tau2-bench runs, from a results file's `info` (no keys, no URLs of the agent)."""
    info = data["info"]
    user = info.get("user_info") or {}
    user_args = {k: v for k, v in (user.get("llm_args") or {}).items() if k not in ("api_key",)}
    return {
        "domain": info["environment_info"]["domain_name"],
        "num_trials": info.get("num_trials"),
        "max_steps": info.get("max_steps"),
        "max_errors": info.get("max_errors"),
        "seed": info.get("seed"),
        "agent_temperature": ((info.get("agent_info") or {}).get("llm_args") or {}).get("temperature"),
        "user_simulator": {"implementation": user.get("implementation"), "llm": user.get("llm"), **user_args},
        "tasks": sha256_json(data.get("tasks", [])),
    }


class Tau2:
    """The tau2 task: configuration only; an engine in `evals.runners` does the running."""

    name: ClassVar[str] = "tau2"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "tau2-bench airline/retail/telecom, trials, macro over domains (run by inspect_evals or tau2-bench)"
    Options: ClassVar[type[Tau2Options]] = Tau2Options
    runner: ClassVar[str] = "tau2"  # evals.runners.engines

    def __init__(self, options: Tau2Options, data_dir: object = None) -> None:
        self.options = options

    def config(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json")

    def repeats(self) -> list[int]:
        return list(range(self.options.trials))

    def prompt_fingerprint(self) -> str:
        spec: dict[str, Any] = {"engine": self.options.engine, "domains": sorted(self.options.domains)}
        if self.options.engine == "inspect":  # the port's prompts are its version's
            from importlib.metadata import version

            spec["inspect_evals"] = version("inspect_evals")
        return sha256_json(spec)

    def manifest_extra(self) -> dict[str, Any]:
        return {}
