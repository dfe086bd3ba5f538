"""Per-item records and run manifests on disk (design §3).

`records.jsonl` is append-only and flushed per record, so a crash loses at most the
requests in flight; `manifest.json` is replaced atomically. Reading keeps the last
record of each (item_id, repeat), and an error-free record is never displaced by a later
error, so a resumed run counts nothing twice.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field

from evals.errors import UsageError

RECORDS = "records.jsonl"
RECORDS_GZ = "records.jsonl.gz"  # how baselines keep them
MANIFEST = "manifest.json"


def sha256_json(value: Any) -> str:
    """A fingerprint of a JSON-able value that does not depend on key order."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Record(BaseModel):
    task: str
    item_id: str
    repeat: int = 0
    endpoint: str
    request_hash: str
    response: str | None = None
    reasoning: str | None = None
    extracted: str | None = None
    score: float = 0.0
    invalid: bool = False
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return (self.item_id, self.repeat)

    @property
    def counts(self) -> bool:
        """Whether the score stands: no error, or an error that is the model's own failure (tau2's agent errors)."""
        return self.error is None or bool(self.details.get("scored_as_failure"))


class Manifest(BaseModel):
    task: str
    task_version: str
    task_config: dict[str, Any]
    dataset_fingerprint: str
    prompt_fingerprint: str
    sampling: dict[str, Any]
    endpoint: str
    base_url: str | list[str]
    model: str
    tool_version: str
    items: int
    repeats: list[int]
    started_at: str
    finished_at: str | None = None
    status: str = "running"
    records: int = 0
    errors: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)

    def comparable_fields(self) -> dict[str, Any]:
        """What must match for a rerun to resume into this folder, or for two runs to pair."""
        return {
            "task": self.task,
            "task_version": self.task_version,
            "task_config": self.task_config,
            "dataset_fingerprint": self.dataset_fingerprint,
            "prompt_fingerprint": self.prompt_fingerprint,
        }


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be read and committed
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_records(path: Path) -> list[Record]:
    """The effective records of a run: one per (item_id, repeat), in first-seen order."""
    best: dict[tuple[str, int], Record] = {}
    if not path.exists():
        return []
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a line cut short by a crash: its request will be sent again
            record = Record.model_validate_json(line)
            kept = best.get(record.key)
            if kept is None or kept.error is not None or record.error is None:
                best[record.key] = record
    return list(best.values())


def read_manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST
    return Manifest.model_validate_json(path.read_text()) if path.exists() else None


Run = tuple[Manifest, list[Record]]


def load_run(folder: Path) -> dict[str, Run]:
    """A saved run by task: a task folder (with manifest.json) or a folder of task folders."""
    folders = [folder] if (folder / MANIFEST).exists() else sorted(p for p in folder.glob("*") if (p / MANIFEST).exists())
    if not folders:
        raise UsageError(f"{folder}: no run here (expected manifest.json, or task folders holding one)")
    runs = {}
    for f in folders:
        manifest = read_manifest(f)
        assert manifest is not None
        records = f / RECORDS if (f / RECORDS).exists() else f / RECORDS_GZ
        runs[manifest.task] = (manifest, read_records(records))
    return runs


class RunStore:
    """One task on one endpoint: `folder/records.jsonl` and `folder/manifest.json`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.records_path = folder / RECORDS
        self._file: TextIO | None = None

    def existing(self) -> list[Record]:
        return read_records(self.records_path)

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._drop_partial_line()
        self._file = self.records_path.open("a")

    def _drop_partial_line(self) -> None:
        if not self.records_path.exists():
            return
        with self.records_path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, record: Record) -> None:
        assert self._file is not None, "RunStore.open() first"
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def write_manifest(self, manifest: Manifest) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / MANIFEST, manifest.model_dump_json(indent=2) + "\n")

    def manifest(self) -> Manifest | None:
        return read_manifest(self.folder)
