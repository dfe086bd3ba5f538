"""Any inspect_ai task as a task here: `--tasks inspect:NAME`.

NAME is an inspect_evals registry name (`inspect:inspect_evals/gpqa_diamond`) or a task file of
your own (`inspect:path/to/task.py@task_name`; `@task_name` may be left out when the file
defines one task). inspect_ai runs it against the endpoint (`openai-api` with our base URL, the
key from the environment only), with its own dataset, solver and scorers; `epochs` are the
repeats. Each sample's score per epoch becomes a record (`evals.runners.inspect_eval`):
`item_id` is the sample id, `repeat` is the epoch − 1, C/I are 1/0 (P 0.5, N 0), a number is
kept as it is. A sample error or a failed model call inside the solver loop is an error record,
never a score. Needs `pip install 'quant-evals[inspect]'`.

    evals run fp8 --tasks inspect:examples/inspect-task/arith.py@arith
    evals compare fp8 mxfp4 --tasks inspect:inspect_evals/gpqa_diamond

This class is configuration only: the inspect runner does the running.
"""

from __future__ import annotations

import ast
import hashlib
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from evals.errors import UsageError
from evals.records import sha256_json
from evals.tasks.base import TaskOptions

PREFIX = "inspect"
INSTALL = "pip install 'quant-evals[inspect]'"


class InspectOptions(TaskOptions):
    """`[tasks."inspect:NAME"]` in evals.toml."""

    epochs: int = Field(default=1, gt=0)  # inspect's epochs: the repeats
    scorer: str | None = None  # which scorer's value is the score, when the task has several
    task_args: dict[str, Any] = Field(default_factory=dict)  # inspect's -T NAME=VALUE
    generate: dict[str, Any] = Field(default_factory=dict)  # inspect's GenerateConfig: temperature, max_tokens, seed, ...
    message_limit: int | None = Field(default=None, gt=0)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _tasks_in(path: Path) -> list[str]:
    """The functions a task file decorates with inspect's `@task` (read, not imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                target = d.func if isinstance(d, ast.Call) else d
                if (isinstance(target, ast.Name) and target.id == "task") or (isinstance(target, ast.Attribute) and target.attr == "task"):
                    names.append(node.name)
    return names


def inspect_evals_tasks() -> list[str] | None:
    """The task names inspect_evals registers (its `_registry.py`, read, not imported: importing
    every benchmark takes many seconds); None when inspect_evals is not installed."""
    spec = find_spec("inspect_evals")
    if spec is None or spec.origin is None:
        return None
    registry = Path(spec.origin).parent / "_registry.py"
    if not registry.is_file():
        return []
    tree = ast.parse(registry.read_text())
    return sorted(a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names)


class InspectTask:
    """An inspect_ai task, by registry name or task file."""

    name: ClassVar[str] = PREFIX  # an instance's own name is "inspect:NAME"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "any inspect_evals task (inspect:inspect_evals/NAME) or inspect task file (inspect:path/to/task.py@NAME)"
    Options: ClassVar[type[InspectOptions]] = InspectOptions
    runner: ClassVar[str] = "inspect"

    def __init__(self, options: InspectOptions, data_dir: object = None, spec: str = "") -> None:
        self.options = options
        if not spec:
            raise UsageError(f"task {PREFIX}: name an inspect task, e.g. {PREFIX}:inspect_evals/gpqa_diamond or {PREFIX}:path/to/task.py@NAME")
        self.spec = spec
        self.name = f"{PREFIX}:{spec}"  # type: ignore[misc]  # per instance, as the user wrote it
        if find_spec("inspect_ai") is None:
            raise UsageError(f"task {self.name} needs inspect_ai, which is not installed: {INSTALL}")
        file, _, chosen = spec.partition("@")
        self.file: Path | None = None
        if file.endswith(".py"):
            self.file = Path(file)
            if not self.file.is_file():
                raise UsageError(f"task {self.name}: no such task file {file}")
            found = _tasks_in(self.file)
            if chosen and chosen not in found:
                raise UsageError(f"task {self.name}: {file} defines no @task {chosen!r}" + (f" (it defines {', '.join(found)})" if found else ""))
            if not chosen and len(found) != 1:
                raise UsageError(f"task {self.name}: {file} defines {'no @task' if not found else 'several tasks (' + ', '.join(found) + ')'}; name one: {PREFIX}:{file}@NAME")
            self.task_name = chosen or found[0]
        else:
            if "@" in spec:
                raise UsageError(f"task {self.name}: @NAME picks a task of a task file (path/to/task.py@NAME)")
            if spec.startswith("inspect_evals/") and find_spec("inspect_evals") is None:
                raise UsageError(f"task {self.name} needs inspect_evals, which is not installed: {INSTALL}")
            self.task_name = spec

    @property
    def inspect_spec(self) -> str:
        """What inspect's `eval()` is given: a registry name, or `file.py@task`."""
        return f"{self.file}@{self.task_name}" if self.file is not None else self.spec

    def config(self) -> dict[str, Any]:
        return self.options.model_dump(mode="json")

    def repeats(self) -> list[int]:
        return list(range(self.options.epochs))

    def prompt_spec(self) -> dict[str, Any]:
        """What shapes the prompts besides the samples: the task's code (its file, or the
        library's version) and inspect's own version."""
        spec: dict[str, Any] = {"task": self.task_name, "inspect_ai": _version("inspect_ai")}
        if self.file is not None:
            spec["task_file_sha256"] = hashlib.sha256(self.file.read_bytes()).hexdigest()
        else:
            spec["inspect_evals"] = _version("inspect_evals")
        return spec

    def prompt_fingerprint(self) -> str:
        return sha256_json(self.prompt_spec())

    def manifest_extra(self) -> dict[str, Any]:
        return {"engine": "inspect", **{k: v for k, v in self.prompt_spec().items() if k != "task"}}
