"""Per-item records and run manifests on disk (design §3).

`records.jsonl` is append-only and flushed per record, so a crash loses at most the
requests in flight; `manifest.json` is replaced atomically. Reading keeps the last
record of each (item_id, repeat), and an error-free record is never displaced by a later
error, so a resumed run counts nothing twice. A line that does not parse is skipped as if
absent (so its item is sent again) and reported as a `RecordsWarning` naming the file and
line; a run folder is written by one process at a time (`FolderLock`).
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import hashlib
import json
import os
import re
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.errors import RecordsWarning, UsageError

RECORDS = "records.jsonl"
RECORDS_GZ = "records.jsonl.gz"  # how baselines keep them
MANIFEST = "manifest.json"
LOCK = ".lock"


def sha256_json(value: Any) -> str:
    """A fingerprint of a JSON-able value that does not depend on key order."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def task_folder(task: str) -> str:
    """The folder a task's records go in: its name, with what is not a simple path component
    (the `:` of `lm-eval:NAME`, a YAML path's `/`) made `_`, so CI artifact uploads take it."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", task)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Record(BaseModel):
    # built on first use, not at import: `evals tasks` (which imports this module for sha256_json) never validates one
    model_config = ConfigDict(defer_build=True)

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
    model_config = ConfigDict(defer_build=True)

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


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (baselines keep it for their records and manifests)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where + ': ' if where else ''}{first['msg']}{more}"


def read_records(path: Path) -> list[Record]:
    """The effective records of a run: one per (item_id, repeat), in first-seen order.

    A line that does not parse (garbage, or torn by a crash in the middle of the file) is
    skipped and reported with its line number as a `RecordsWarning`; its item then counts as
    missing, so a resumed run sends it again. A last line without its newline is what a crash
    leaves behind and is skipped silently (the next run truncates it).
    """
    best: dict[tuple[str, int], Record] = {}
    if not path.exists():
        return []
    try:
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open(errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith("\n"):
                    break  # a line cut short by a crash: its request will be sent again
                try:
                    record = Record.model_validate_json(line)
                except ValidationError as e:
                    warnings.warn(f"{path}:{number}: not a record ({_one_line(e)}); skipped, its item counts as missing", RecordsWarning, stacklevel=2)
                    continue
                kept = best.get(record.key)
                if kept is None or kept.error is not None or record.error is None:
                    best[record.key] = record
    except (gzip.BadGzipFile, EOFError, UnicodeDecodeError, ValueError) as e:  # a damaged .gz
        raise UsageError(f"{path}: cannot be read ({type(e).__name__}: {e})") from None
    return list(best.values())


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest in `folder`, None when there is none; a corrupt one is a one-line UsageError naming it."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        text = path.read_text(errors="replace")
    except OSError as e:  # a folder, unreadable: bad input, not a crash
        raise UsageError(f"{path}: cannot be read: {e.strerror}") from None
    if not text.strip():
        raise UsageError(f"{path}: empty manifest (the run that wrote it was interrupted?); remove the folder or pass another --out")
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as e:
        raise UsageError(f"{path}: not a valid manifest: {_one_line(e)}") from None


Run = tuple[Manifest, list[Record]]


def run_folders(folder: Path) -> list[Path]:
    """The task folders of a saved run: `folder` itself (with manifest.json) or its subfolders holding one."""
    folders = [folder] if (folder / MANIFEST).exists() else sorted(p for p in folder.glob("*") if (p / MANIFEST).exists())
    if not folders:
        raise UsageError(f"{folder}: no run here (expected manifest.json, or task folders holding one)")
    return folders


def load_run(folder: Path) -> dict[str, Run]:
    """A saved run by task: a task folder (with manifest.json) or a folder of task folders."""
    return {run[0].task: run for run in map(load_task_run, run_folders(folder))}


def load_task_run(folder: Path) -> Run:
    """One task folder's manifest and records (records.jsonl, or a baseline's records.jsonl.gz)."""
    manifest = read_manifest(folder)
    assert manifest is not None
    records = folder / RECORDS if (folder / RECORDS).exists() else folder / RECORDS_GZ
    return manifest, read_records(records)


class FolderLock:
    """An exclusive `flock` on `folder/.lock` while one process writes a run folder.

    A second writer is refused at once rather than interleaved. The kernel drops the lock
    when the holder exits, however it exits (kill -9 included), so a stale lock file is
    harmless: the next run simply takes it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:  # never through a symlink: the lock file is truncated, and what it points to is not ours
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UsageError(f"{self.path} is a symlink; an evals folder's lock is a file of its own: pass another --out") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                raise UsageError(f"{self.folder} is being written by another evals process{who}; wait for it to finish or pass another --out") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


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
        for path in (self.records_path, self.folder / MANIFEST):  # cut and appended to: never through a planted symlink
            if path.is_symlink():
                raise UsageError(f"{path} is a symlink; a run's files are its own: pass another --out")
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
