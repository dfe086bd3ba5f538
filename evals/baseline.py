"""Committed reference runs, so that CI gates a candidate without re-running the reference (design §9).

`baselines/NAME/<task>/` holds the run's `manifest.json` and gzipped `records.jsonl.gz`, and
the other files its manifest names (inspect's eval logs, `extra.inspect_logs`), at the same
paths relative to the task folder, so that the manifest's names still resolve;
`baselines/NAME/baseline.json` says where it came from and, per task, the sha256 of every
file and the number of records. A candidate is later run with the task configuration read
back from these manifests, so it sees exactly the same items, seeds and prompts; the gate
still checks that, rather than assuming it, and checks the digests first: a baseline whose
files changed after it was saved (records deleted, a manifest edited) is ERROR, never gated.

Saving never deletes anything but an existing baseline of that name, and only with
`force`: the new one is written beside it and swapped in, so a failed save leaves the old
one whole. Nor does it write outside `root/NAME`: a manifest naming a file outside its run
folder (an absolute path, a `..`, a symlink out) is refused before anything is written.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from evals.errors import UsageError, check_name
from evals.gate import error_rate
from evals.records import (
    LOCK,
    MANIFEST,
    RECORDS,
    RECORDS_GZ,
    Manifest,
    Run,
    load_run,
    load_task_run,
    now,
    read_manifest,
    read_records,
    run_folders,
    sha256_file,
    task_folder,
    write_atomic,
)

BASELINE_JSON = "baseline.json"
NAMED_FILES = ("inspect_logs",)  # manifest.extra keys that list files of the run, relative to its task folder
OWN_FILES = {MANIFEST, RECORDS, RECORDS_GZ, LOCK}


def is_baseline(folder: Path) -> bool:
    """A real folder holding baseline.json: the only kind `save_baseline` may replace."""
    return folder.is_dir() and not folder.is_symlink() and (folder / BASELINE_JSON).is_file()


def named_files(manifest: Manifest, folder: Path) -> list[str]:
    """The files besides records and manifest that a run's manifest names (inspect's eval logs),
    relative to its task folder `folder`; a name that could reach outside it is a UsageError."""
    names: list[str] = []
    for key in NAMED_FILES:
        value = manifest.extra.get(key) or []
        if not isinstance(value, list):
            raise UsageError(f"{folder / MANIFEST}: extra.{key} is not a list of files")
        for name in value:
            path = PurePosixPath(name) if isinstance(name, str) else None
            if path is None or not path.parts or path.is_absolute() or ".." in path.parts or str(path) in OWN_FILES:
                raise UsageError(f"{folder / MANIFEST}: extra.{key} names {name!r}, not a file inside its run folder")
            if str(path) not in names:
                names.append(str(path))
    return names


def _check_named(folder: Path, names: list[str]) -> list[str]:
    """What is wrong with the named files of a run's task folder: missing, or not inside it."""
    inside = folder.resolve()
    problems = []
    for name in names:
        path = folder / name
        if not path.is_file() or path.is_symlink() or not path.resolve().is_relative_to(inside):
            problems.append(f"{path} is named in its manifest but is not a file inside {folder}")
    return problems


def task_digest(folder: Path) -> dict[str, Any]:
    """What baseline.json keeps per task to detect later changes: sha256 of records, manifest and
    the files the manifest names, and the record count."""
    records = folder / RECORDS_GZ
    with gzip.open(records, "rt") as f:
        count = sum(1 for _ in f)
    digest: dict[str, Any] = {"records_file": RECORDS_GZ, "records_sha256": sha256_file(records), "records": count,
                              "manifest_sha256": sha256_file(folder / MANIFEST)}
    manifest = read_manifest(folder)
    names = named_files(manifest, folder) if manifest is not None else []
    if names:
        digest["files_sha256"] = {name: sha256_file(folder / name) for name in names}
    return digest


def save_baseline(run_dir: Path, name: str, root: Path, max_error_rate: float, force: bool = False) -> Path:
    """Copy a finished run into `root/name`, refusing one that failed too often or is unfinished."""
    check_name(name, "baseline name")
    folders = {(run := load_task_run(f))[0].task: (f, run) for f in run_folders(run_dir)}
    runs = {task: run for task, (_, run) in folders.items()}
    problems = []
    named: dict[str, list[str]] = {}
    for task, (source, (manifest, records)) in folders.items():
        named[task] = named_files(manifest, source)
        problems += [f"{task}: {p}" for p in _check_named(source, named[task])]
        failed, rate = error_rate(manifest, records)
        owed = manifest.items * len(manifest.repeats)
        held = len({r.key for r in records if r.repeat in set(manifest.repeats)})  # answered or failed: sent
        if manifest.extra.get("sequential") is not None and held < owed:
            # by what was sent, not by status: a run stopped at a look with errors in it is "incomplete", and a large max_error_rate must not let it through
            problems.append(f"{task}: a sequential run that stopped at a look (or was interrupted) sent {held} of the {owed} requests a reference owes "
                            "(a sequential baseline is a full reference run: `evals run ENDPOINT --sequential`)")
        elif rate > max_error_rate:
            problems.append(f"{task}: {failed} records missing or failed ({rate:.1%} > max_error_rate {max_error_rate:.1%}); rerun it to retry the failures")
    if problems:
        raise UsageError(f"{run_dir}: not saved as a baseline: " + "; ".join(problems))
    target = root / name
    if target.exists() or target.is_symlink():
        if not is_baseline(target):
            raise UsageError(f"{target} exists and is not a baseline (no {BASELINE_JSON}); not replaced: choose another name")
        if not force:
            raise UsageError(f"baseline {target} exists; pass --force to replace it")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.saving-", dir=root))
    try:
        info: dict[str, Any] = {"name": name, "source": str(run_dir), "saved_at": now(), "tasks": {}}
        for task, (manifest, records) in runs.items():
            folder = staging / task_folder(task)
            folder.mkdir()
            write_atomic(folder / MANIFEST, manifest.model_dump_json(indent=2) + "\n")
            lines = "".join(r.model_dump_json() + "\n" for r in sorted(records, key=lambda r: (r.item_id, r.repeat)))
            # mtime=0: the same run saved twice gives the same bytes, so a committed baseline diffs cleanly
            (folder / RECORDS_GZ).write_bytes(gzip.compress(lines.encode(), compresslevel=9, mtime=0))
            for file in named[task]:  # checked above: relative, no `..`, a regular file inside the run's folder
                (folder / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folders[task][0] / file, folder / file)
            m = manifest
            info["tasks"][task] = {"endpoint": m.endpoint, "model": m.model, "items": m.items, "repeats": m.repeats, **task_digest(folder)}
        write_atomic(staging / BASELINE_JSON, json.dumps(info, indent=2) + "\n")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a baseline is meant to be read and committed
        if is_baseline(target):
            old = Path(tempfile.mkdtemp(prefix=f".{name}.replaced-", dir=root))
            os.replace(target, old / name)  # both ours: the verified old baseline, and a folder we just made
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    except BaseException:
        if staging.exists():
            shutil.rmtree(staging)
        raise
    return target


def read_info(folder: Path) -> dict[str, Any]:
    """baseline.json, or a one-line UsageError naming it."""
    path = folder / BASELINE_JSON
    if not path.is_file():
        raise UsageError(f"{folder}: not a baseline (no {BASELINE_JSON}); make one with `evals baseline save RUN NAME`")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("tasks"), dict):
        raise UsageError(f"{path}: no `tasks` object")
    return info


def verify(folder: Path) -> tuple[list[str], dict[str, str]]:
    """Check each task's files against baseline.json: the tasks that pass, and a problem per task that does not."""
    info = read_info(folder)
    listed = {task_folder(t) for t in info["tasks"]}
    tasks = sorted(info["tasks"].keys() | {p.name for p in folder.iterdir() if (p / MANIFEST).exists() and p.name not in listed})
    good, problems = [], {}
    for task in tasks:
        expected = info["tasks"].get(task)
        sub = folder / task_folder(task)
        if not isinstance(expected, dict):
            problems[task] = f"{sub} is not listed in {folder / BASELINE_JSON}: the baseline was changed after it was saved"
            continue
        if "records_sha256" not in expected or "manifest_sha256" not in expected:
            problems[task] = (
                f"{folder / BASELINE_JSON} holds no sha256 for {task} (saved by an older evals): if its files are as committed, "
                f"re-save it in place with `evals baseline save {folder} {folder.name} --root {folder.parent} --force`"
            )
            continue
        records, manifest = sub / RECORDS_GZ, sub / MANIFEST
        missing = [str(p) for p in (records, manifest) if not p.is_file()]
        if missing:
            problems[task] = f"{', '.join(missing)} missing from the baseline"
            continue
        changed = [str(p) for p, key in ((records, "records_sha256"), (manifest, "manifest_sha256")) if sha256_file(p) != expected[key]]
        if changed:
            problems[task] = f"{', '.join(changed)} does not match its sha256 in {BASELINE_JSON}: the baseline was changed after it was saved"
            continue
        count = len(read_records(records))
        if count != expected.get("records"):
            problems[task] = f"{records} holds {count} records, {BASELINE_JSON} says {expected.get('records')}"
            continue
        problem = _named_problem(sub, expected)
        if problem:
            problems[task] = problem
            continue
        good.append(task)
    return good, problems


def _named_problem(folder: Path, expected: dict[str, Any]) -> str | None:
    """What is wrong with the files a (verified) manifest names, against their digests in baseline.json."""
    manifest = read_manifest(folder)
    assert manifest is not None
    try:
        names = named_files(manifest, folder)
    except UsageError as e:
        return str(e)
    digests = expected.get("files_sha256") or {}
    for name in names:
        path = folder / name
        if name not in digests:
            return (f"{folder / MANIFEST} names {name}, which {BASELINE_JSON} holds no sha256 for (saved by an evals that "
                    "did not keep inspect logs): save it again from its run")
        if not path.is_file():
            return f"{path} missing from the baseline"
        if sha256_file(path) != digests[name]:
            return f"{path} does not match its sha256 in {BASELINE_JSON}: the baseline was changed after it was saved"
    return None


def load_baseline(folder: Path) -> tuple[dict[str, Run], dict[str, str]]:
    """The baseline's tasks whose files match their digests, and a problem for each that does not."""
    good, problems = verify(folder)
    runs: dict[str, Run] = {}
    for task in good:  # only the verified ones are read: a damaged task cannot break the others
        runs.update(load_run(folder / task_folder(task)))
    return runs, problems

