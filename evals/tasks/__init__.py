"""The task registry: built-in adapters by name, plus the `evals.tasks` entry-point group.

A package outside this one adds a task by declaring, in its own pyproject.toml,
`[project.entry-points."evals.tasks"] mytask = "mypkg.mytask:MyTask"`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evals.config import Config, describe_validation_error
from evals.errors import UsageError
from evals.records import Manifest
from evals.tasks.base import Item, Request, Response, Scored, Task, TaskOptions
from evals.tasks.gpqa import GpqaDiamond
from evals.tasks.gsm8k import Gsm8k
from evals.tasks.tau2 import Tau2

__all__ = ["Item", "Request", "Response", "Scored", "Task", "TaskOptions", "registry", "make_task", "task_from_manifest", "validate_tasks"]

AnyTask = Task | Tau2
BUILTIN: dict[str, type[AnyTask]] = {t.name: t for t in (Gsm8k, GpqaDiamond, Tau2)}


def registry() -> dict[str, type[AnyTask]]:
    tasks = dict(BUILTIN)
    for ep in entry_points(group="evals.tasks"):
        tasks.setdefault(ep.name, ep.load())
    return tasks


def _options(cls: type[AnyTask], raw: dict[str, Any], source: str) -> Any:
    try:
        return cls.Options.model_validate(raw)
    except ValidationError as e:
        raise UsageError(describe_validation_error(e, source, ("tasks", cls.name))) from None


def make_task(name: str, config: Config, overrides: dict[str, Any] | None = None) -> AnyTask:
    tasks = registry()
    if name not in tasks:
        raise UsageError(f"unknown task {name!r}; known tasks: {', '.join(sorted(tasks))}")
    cls = tasks[name]
    options = _options(cls, {**config.tasks.get(name, {}), **(overrides or {})}, config.source)
    return cls(options, config.resolved_data_dir())  # type: ignore[arg-type]  # Options is cls's own


def task_from_manifest(manifest: Manifest, data_dir: Path | None) -> AnyTask:
    """The task exactly as a saved run was configured (a baseline's items, seeds and prompts)."""
    tasks = registry()
    if manifest.task not in tasks:
        raise UsageError(f"the baseline's task {manifest.task!r} is not installed here; known tasks: {', '.join(sorted(tasks))}")
    cls = tasks[manifest.task]
    try:
        options = cls.Options.model_validate(manifest.task_config)
    except ValidationError as e:
        raise UsageError(describe_validation_error(e, "baseline manifest", ("task_config",))) from None
    return cls(options, data_dir)  # type: ignore[arg-type]  # Options is cls's own


def validate_tasks(config: Config) -> None:
    """Check every `[tasks.*]` table up front, so a typo fails before any request is sent."""
    tasks = registry()
    for name, raw in config.tasks.items():
        if name not in tasks:
            raise UsageError(f"{config.source}: tasks.{name}: unknown task; known tasks: {', '.join(sorted(tasks))}")
        _options(tasks[name], raw, config.source)

