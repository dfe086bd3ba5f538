"""Shared fixtures: the real GSM8K files from ../shared, and simulators on 127.0.0.1 over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("EVALS_DATA_DIR")
    path = Path(env).resolve() if env else (REPO.parent / "shared" / "data")
    if not (path / "gsm8k" / "test.jsonl").exists():
        pytest.skip(f"GSM8K files not found under {path} (set EVALS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data_dir()


class SimProcess:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/sim/stats", timeout=10) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sim(*args: str, data_dir: Path) -> SimProcess:
    """`evals sim --port 0 ARGS` in a subprocess; returns once it prints its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals", "sim", "--port", "0", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return SimProcess(proc, line.rsplit(" ", 1)[-1].strip())


@pytest.fixture
def sim(data_dir: Path) -> Iterator[Callable[..., SimProcess]]:
    started: list[SimProcess] = []

    def factory(*args: str) -> SimProcess:
        s = start_sim(*args, data_dir=data_dir)
        started.append(s)
        return s

    yield factory
    for s in started:
        s.stop()


def run_evals(*args: str, cwd: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `evals` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "evals", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
