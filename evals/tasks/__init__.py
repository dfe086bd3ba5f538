"""The task registry: built-in adapters by name, plus the `evals.tasks` entry-point group.

A package outside this one adds a task by declaring, in its own pyproject.toml,
`[project.entry-points."evals.tasks"] mytask = "mypkg.mytask:MyTask"`.

A prefixed name (`lm-eval:gsm8k`) names a task of another library: the prefix picks the
adapter class (`PREFIXED`), which gets the rest of the name.
"""

from __future__ import annotations

import warnings
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from evals.errors import UsageError
from evals.tasks.base import AnyTask, Item, Request, Response, Scored, Task, TaskOptions
from evals.tasks.gpqa import GpqaDiamond
from evals.tasks.gsm8k import Gsm8k
from evals.tasks.inspect_task import PREFIX as INSPECT_PREFIX
from evals.tasks.inspect_task import InspectTask
from evals.tasks.lm_eval_harness import PREFIX as LM_EVAL_PREFIX
from evals.tasks.lm_eval_harness import LmEvalTask
from evals.tasks.tau2 import Tau2

if TYPE_CHECKING:  # `evals tasks` lists the registry without building the configuration's models
    from evals.config import Config
    from evals.records import Manifest

__all__ = ["AnyTask", "Item", "Request", "Response", "Scored", "Task", "TaskOptions", "registry", "is_known", "runner_of", "make_task", "task_from_manifest", "validate_tasks"]

BUILTIN: dict[str, type[AnyTask]] = {t.name: t for t in (Gsm8k, GpqaDiamond, Tau2)}
PREFIXED: dict[str, type[Any]] = {LM_EVAL_PREFIX: LmEvalTask, INSPECT_PREFIX: InspectTask}


class TaskPluginWarning(UserWarning):
    """An `evals.tasks` entry point that could not be loaded; the task is disabled, nothing else is."""


@cache
def _plugins() -> tuple[dict[str, type[AnyTask]], dict[str, str]]:
    """Third-party tasks by name, and why each broken one is disabled.

    Loaded once per process, so a broken plugin is reported once however many times the
    registry is asked. A plugin cannot replace a built-in: such an entry point is not loaded.
    """
    loaded: dict[str, type[AnyTask]] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group="evals.tasks"):
        if ep.name in BUILTIN or ep.name in loaded or ep.name in broken:
            continue
        try:
            cls = ep.load()
        except (Exception, SystemExit) as e:  # whatever a third party's import raises, it must not break evals
            broken[ep.name] = f"{ep.value} failed to import: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        else:
            missing = [a for a in ("name", "version", "description", "Options") if not hasattr(cls, a)]
            if not missing:
                loaded[ep.name] = cls
                continue
            broken[ep.name] = f"{ep.value} is not a task (no {', '.join(missing)})"
        # No source line to show: Python's default warning format prints this as one line.
        warnings.warn_explicit(f"task plugin {ep.name!r} is disabled: {broken[ep.name]}", TaskPluginWarning, f"evals.tasks[{ep.name}]", 0)
    return loaded, broken


def registry() -> dict[str, type[AnyTask]]:
    """The built-in tasks and every third-party task that loads; a broken plugin disables only itself."""
    return {**BUILTIN, **_plugins()[0]}


def runner_of(task: AnyTask) -> str:
    """Which runner in `evals.runners.RUNNERS` runs this task: ours unless it says otherwise (a plugin's)."""
    return str(getattr(task, "runner", "native"))


def _prefixed(name: str) -> tuple[type[Any], str] | None:
    """The adapter class and the library's own name, for `PREFIX:NAME`."""
    prefix, colon, rest = name.partition(":")
    if colon and prefix in PREFIXED:
        return PREFIXED[prefix], rest
    return None


def is_known(name: str) -> bool:
    return name in registry() or _prefixed(name) is not None


def _unknown(name: str, tasks: dict[str, type[AnyTask]]) -> str:
    why = _plugins()[1].get(name)
    if why:
        return f"task {name!r} is a plugin that failed to load ({why})"
    prefixes = ", ".join(f"{p}:NAME" for p in PREFIXED)
    return f"unknown task {name!r}; known tasks: {', '.join(sorted(tasks))}, or {prefixes}"


def _options(cls: type[AnyTask], raw: dict[str, Any], source: str, name: str | None = None) -> Any:
    from evals.config import describe_validation_error

    try:
        return cls.Options.model_validate(raw)
    except ValidationError as e:
        raise UsageError(describe_validation_error(e, source, ("tasks", name or cls.name))) from None


def _build(name: str, raw: dict[str, Any], source: str, data_dir: Path | None) -> AnyTask:
    prefixed = _prefixed(name)
    if prefixed is not None:
        cls, rest = prefixed
        return cls(_options(cls, raw, source, name), data_dir, rest)
    tasks = BUILTIN if name in BUILTIN else registry()  # a plugin cannot replace a built-in: the entry points need no scan for one
    if name not in tasks:
        raise UsageError(_unknown(name, tasks))
    cls = tasks[name]
    return cls(_options(cls, raw, source), data_dir)  # type: ignore[arg-type]  # Options is cls's own


def make_task(name: str, config: Config, overrides: dict[str, Any] | None = None) -> AnyTask:
    """The task as configured, its data already read and checked: a bad row or a duplicated
    item is a usage error before any endpoint is asked anything (items are loaded once; the
    runner's own `load_items` then reuses the rows)."""
    task = _build(name, {**config.tasks.get(name, {}), **(overrides or {})}, config.source, config.resolved_data_dir())
    if runner_of(task) == "native":
        task.load_items()
    return task


def task_from_manifest(manifest: Manifest, data_dir: Path | None) -> AnyTask:
    """The task exactly as a saved run was configured (a baseline's items, seeds and prompts)."""
    tasks = registry()
    if not is_known(manifest.task):
        raise UsageError(f"the baseline's task is not available here: {_unknown(manifest.task, tasks)}")
    try:
        return _build(manifest.task, manifest.task_config, "baseline manifest", data_dir)
    except UsageError as e:
        raise UsageError(str(e).replace(f"tasks.{manifest.task}", "task_config")) from None


def validate_tasks(config: Config) -> None:
    """Check every `[tasks.*]` table and `[gate] margins` up front, so a typo fails before any request.

    A margin for a task that does not exist would be ignored silently, and the task meant
    would be gated at its default margin.
    """
    tasks = registry()
    for name, raw in config.tasks.items():
        prefixed = _prefixed(name)
        if prefixed is not None:
            _options(prefixed[0], raw, config.source, name)
            continue
        if name not in tasks:
            raise UsageError(f"{config.source}: tasks.{name}: {_unknown(name, tasks)}")
        _options(tasks[name], raw, config.source)
    for name in config.gate.margins:
        if not is_known(name):
            raise UsageError(f"{config.source}: gate.margins.{name}: {_unknown(name, tasks)}")
