"""Safe in a release pipeline: hostile names, exit codes that keep their meaning, files that can be trusted.

Everything runs the real `evals` command against simulators on 127.0.0.1 over real HTTP,
except the check of `main`'s last-resort handler, which needs a fault no input can cause.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_evals

from evals import cli
from evals.baseline import verify
from evals.errors import RecordsWarning
from evals.records import read_records


def write_config(path: Path, **endpoints: str) -> Path:
    path.write_text("".join(f'[endpoints.{name}]\nbase_url = "{url}"\nmax_retries = 1\n\n' for name, url in endpoints.items()))
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def small_run(sim, tmp_path: Path) -> tuple[Path, Path]:
    """A finished 20-item reference run: (its endpoint folder, the config)."""
    server = sim()
    cfg = write_config(tmp_path / "evals.toml", ref=server.url)
    result = run_evals("run", "ref", "--limit", "20", "--config", str(cfg), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "run" / "ref", cfg


# ---- names are names -------------------------------------------------------------------------


def main_in_process(capsys, *args: str) -> tuple[int, str]:
    """`evals ARGS` through `cli.main` in this process (what the command runs, without paying its start-up time)."""
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def test_hostile_baseline_names_are_refused_and_nothing_is_deleted(small_run, tmp_path: Path, monkeypatch, capsys) -> None:
    run_dir, _ = small_run
    work = tmp_path / "work"
    (work / "baselines" / "keep").mkdir(parents=True)
    (work / "baselines" / "keep" / "baseline.json").write_text("{}")
    (work / "precious.txt").write_text("do not delete")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("mine")
    (work / "x").mkdir()
    (work / "x" / "baseline.json").write_text("{}")  # a baseline-looking folder outside baselines/

    monkeypatch.chdir(work)
    for name in ["../x", "..", str(victim), "", ".", "a/b", "x/../.."]:
        code, err = main_in_process(capsys, "baseline", "save", str(run_dir), name, "--force")
        assert code == 2 and "not a simple name" in one_line(err), (name, err)
    result = run_evals("baseline", "save", str(run_dir), "..", "--force", cwd=work)  # and once as the real command
    assert result.returncode == 2 and "not a simple name" in one_line(result.stderr)

    assert (work / "precious.txt").read_text() == "do not delete"
    assert (work / "baselines" / "keep" / "baseline.json").exists() and (work / "x" / "baseline.json").exists()
    assert (victim / "data.txt").read_text() == "mine"
    assert sorted(p.name for p in (work / "baselines").iterdir()) == ["keep"]


def test_replacing_a_baseline_needs_force_and_only_replaces_a_baseline(small_run, tmp_path: Path) -> None:
    run_dir, _ = small_run
    root = tmp_path / "bl"
    first = run_evals("baseline", "save", str(run_dir), "ref", "--root", str(root))
    assert first.returncode == 0, first.stderr
    saved_at = json.loads((root / "ref" / "baseline.json").read_text())["saved_at"]

    again = run_evals("baseline", "save", str(run_dir), "ref", "--root", str(root))
    assert again.returncode == 2 and "--force" in one_line(again.stderr)
    assert json.loads((root / "ref" / "baseline.json").read_text())["saved_at"] == saved_at

    (root / "notes").mkdir()
    (root / "notes" / "mine.txt").write_text("keep")
    refused = run_evals("baseline", "save", str(run_dir), "notes", "--root", str(root), "--force")
    assert refused.returncode == 2 and "not a baseline" in one_line(refused.stderr)
    assert (root / "notes" / "mine.txt").read_text() == "keep"

    time.sleep(1.1)  # saved_at has a one-second resolution
    forced = run_evals("baseline", "save", str(run_dir), "ref", "--root", str(root), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((root / "ref" / "baseline.json").read_text())["saved_at"] != saved_at
    assert verify(root / "ref") == (["gsm8k"], {})
    assert sorted(p.name for p in root.iterdir()) == ["notes", "ref"]  # no staging or replaced folder left behind


def test_hostile_endpoint_names_are_refused(tmp_path: Path, capsys) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    results = tmp_path / "airline.json"
    results.write_text("{}")
    for name in ["../victim", "..", str(victim), "", "."]:
        code, err = main_in_process(capsys, "import", "tau2", str(results), "--endpoint", name, "--out", str(tmp_path / "o"))
        assert code == 2 and "not a simple name" in one_line(err), name
    assert victim.exists() and not list(victim.iterdir()) and not (tmp_path / "o").exists()

    cfg = tmp_path / "evals.toml"
    cfg.write_text('[endpoints.".."]\nbase_url = "http://127.0.0.1:1/v1"\n')
    result = run_evals("run", "..", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "not a simple name" in one_line(result.stderr)


# ---- baseline integrity ----------------------------------------------------------------------


def rewrite_gz(path: Path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(edit(lines)).encode(), mtime=0))


def test_a_tampered_baseline_is_error_not_lossless(sim, small_run, tmp_path: Path) -> None:
    run_dir, cfg = small_run
    root = tmp_path / "bl"
    assert run_evals("baseline", "save", str(run_dir), "ref", "--root", str(root)).returncode == 0
    baseline = root / "ref"
    intact = run_evals("gate", "--baseline", str(baseline), str(run_dir))
    assert intact.returncode == 3 and "ERROR" not in intact.stdout, intact.stdout + intact.stderr  # 20 items cannot prove more

    records = baseline / "gsm8k" / "records.jsonl.gz"
    original = records.read_bytes()
    for edit in (lambda lines: lines[:-5], lambda lines: [lines[0].replace('"score":1.0', '"score":0.0')] + lines[1:]):
        records.write_bytes(original)
        rewrite_gz(records, edit)
        result = run_evals("gate", "--baseline", str(baseline), str(run_dir))
        assert result.returncode == 4, result.stdout + result.stderr
        assert f"gsm8k: ERROR: {records}" in result.stdout and "sha256" in result.stdout and "LOSSLESS" not in result.stdout

    # A consistent-looking forgery (records and digest changed together) still fails the record count.
    records.write_bytes(original)
    rewrite_gz(records, lambda lines: lines[:-5])
    info = json.loads((baseline / "baseline.json").read_text())
    from evals.records import sha256_file

    info["tasks"]["gsm8k"]["records_sha256"] = sha256_file(records)
    (baseline / "baseline.json").write_text(json.dumps(info))
    result = run_evals("gate", "--baseline", str(baseline), str(run_dir))
    assert result.returncode == 4 and "holds 15 records, baseline.json says 20" in result.stdout

    # With --candidate nothing is sent to the candidate when the baseline is damaged.
    candidate = sim()
    cand_cfg = write_config(tmp_path / "cand.toml", cand=candidate.url)
    result = run_evals("gate", "--baseline", str(baseline), "--candidate", "cand", "--config", str(cand_cfg), "--out", str(tmp_path / "c"))
    assert result.returncode == 4 and "gsm8k: ERROR" in result.stdout
    assert candidate.stats()["requests"].get("/v1/completions", 0) == 0

    # An edited manifest is caught the same way.
    records.write_bytes(original)
    manifest = baseline / "gsm8k" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"items": 20', '"items": 19'))
    info["tasks"]["gsm8k"]["records_sha256"] = sha256_file(records)
    (baseline / "baseline.json").write_text(json.dumps(info))
    result = run_evals("gate", "--baseline", str(baseline), str(run_dir))
    assert result.returncode == 4 and f"{manifest} does not match its sha256" in result.stdout


def test_the_shipped_baseline_carries_matching_digests() -> None:
    shipped = REPO / "baselines" / "sim-gsm8k"
    info = json.loads((shipped / "baseline.json").read_text())
    assert len(info["tasks"]["gsm8k"]["records_sha256"]) == 64 and info["tasks"]["gsm8k"]["records"] == 200
    assert verify(shipped) == (["gsm8k"], {})


# ---- exit codes keep their meaning -----------------------------------------------------------


def test_unwritable_outputs_are_exit_4_naming_the_path(small_run, tmp_path: Path) -> None:
    run_dir, cfg = small_run
    junit = run_evals("gate", str(run_dir), str(run_dir), "--junit", "/nonexistent/j.xml")
    line = one_line(junit.stderr)
    assert junit.returncode == 4 and "--junit /nonexistent/j.xml" in line
    assert "verdict" not in junit.stdout  # no verdict printed that the exit code would contradict

    summary_dir = tmp_path / "summary-is-a-folder"
    summary_dir.mkdir()
    step = run_evals("gate", str(run_dir), str(run_dir), env={"GITHUB_STEP_SUMMARY": str(summary_dir)})
    assert step.returncode == 4 and f"GITHUB_STEP_SUMMARY {summary_dir}" in one_line(step.stderr)

    summary, junit_file = tmp_path / "step-summary.md", tmp_path / "j.xml"  # they state the verdict, which a failed --html makes exit 4
    html = run_evals("gate", str(run_dir), str(run_dir), "--html", "/nonexistent/r.html", "--junit", str(junit_file), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert html.returncode == 4 and "--html /nonexistent/r.html" in one_line(html.stderr) and not summary.exists() and not junit_file.exists()

    markdown = run_evals("gate", str(run_dir), str(run_dir), "--markdown", str(tmp_path / "none" / "g.md"))
    assert markdown.returncode == 4 and "--markdown" in one_line(markdown.stderr)

    # An --out that cannot be a folder (its parent is a file): as root, chmod cannot make one read-only.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(blocker / "out"))
    assert out.returncode == 4 and str(blocker / "out") in one_line(out.stderr)
    if os.geteuid() != 0:
        readonly = tmp_path / "ro"
        readonly.mkdir()
        readonly.chmod(0o555)
        ro = run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(readonly / "out"))
        assert ro.returncode == 4 and str(readonly / "out") in one_line(ro.stderr)


def test_a_busy_sim_port_is_one_line_exit_2(sim) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_evals("sim", "--port", str(port), timeout=60)
    line = one_line(result.stderr)
    assert result.returncode == 2 and f"port {port}" in line and "in use" in line


def test_an_unexpected_failure_is_exit_4_with_one_line(monkeypatch, capsys) -> None:
    """`main`'s last resort: whatever escapes a command is 4, one line, the traceback only with --debug."""

    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "cmd_tasks", broken)
    assert cli.main(["tasks"]) == 4
    err = capsys.readouterr().err
    assert one_line(err).startswith("evals: error: unexpected KeyError") and "--debug" in err
    assert cli.main(["tasks", "--debug"]) == 4
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("EVALS_DEBUG", "1")
    assert cli.main(["tasks"]) == 4
    assert "Traceback" in capsys.readouterr().err


# ---- files you can trust ---------------------------------------------------------------------


def test_garbage_and_torn_lines_are_reported_and_sent_again(sim, tmp_path: Path) -> None:
    server = sim()
    cfg = write_config(tmp_path / "evals.toml", ref=server.url)
    out = tmp_path / "run"
    assert run_evals("run", "ref", "--limit", "30", "--config", str(cfg), "--out", str(out)).returncode == 0
    path = out / "ref" / "gsm8k" / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "garbage \x00 not json\n"
    lines[9] = lines[9][: len(lines[9]) // 2] + "\n"  # torn in the middle of the file
    path.write_text("".join(lines))

    gate = run_evals("gate", str(out / "ref"), str(out / "ref"))
    assert gate.returncode == 4, gate.stderr  # two records missing in each arm: over max_error_rate, not a crash
    warned = [w for w in gate.stderr.splitlines() if w.startswith("evals: warning:")]
    assert any(f"{path}:5:" in w for w in warned) and any(f"{path}:10:" in w for w in warned), gate.stderr
    assert "Traceback" not in gate.stderr

    before = server.stats()["requests"]["/v1/completions"]
    rerun = run_evals("run", "ref", "--limit", "30", "--config", str(cfg), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert server.stats()["requests"]["/v1/completions"] - before == 2  # exactly the two unreadable ones
    assert f"resuming {out} (ref/gsm8k): 28 of 30 done" in rerun.stderr
    with pytest.warns(RecordsWarning) as caught:
        assert len(read_records(path)) == 30
    assert sorted(str(w.message).split(": not a record")[0] for w in caught) == [f"{path}:10", f"{path}:5"]


@pytest.mark.parametrize("content", ["", "{not json", '{"task": "gsm8k"}'])
def test_a_corrupt_manifest_is_one_line_naming_it(small_run, tmp_path: Path, content: str) -> None:
    run_dir, cfg = small_run
    manifest = run_dir / "gsm8k" / "manifest.json"
    manifest.write_text(content)
    for args in (["gate", str(run_dir), str(run_dir)], ["report", str(run_dir)], ["run", "ref", "--limit", "20", "--config", str(cfg), "--out", str(run_dir.parent)]):
        result = run_evals(*args)
        assert result.returncode == 2 and str(manifest) in one_line(result.stderr), (args, result.stderr)


def test_a_corrupt_manifest_elsewhere_does_not_break_compare(sim, tmp_path: Path) -> None:
    ref, cand = sim(), sim("--profile", "quantized", "--delta", "0")
    cfg = write_config(tmp_path / "evals.toml", fp8=ref.url, mxfp4=cand.url)
    broken = tmp_path / "outputs" / "20000101-000000" / "fp8" / "gsm8k"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{")
    (broken.parent.parent / "compare.json").write_text('{"reference": "fp8", "candidate": "mxfp4", "tasks": ["gsm8k"]}')  # same kind: --resume looks at it
    result = run_evals("compare", "fp8", "mxfp4", "--limit", "20", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode in (0, 3), result.stderr
    resumed = run_evals("compare", "fp8", "mxfp4", "--limit", "20", "--config", str(cfg), "--resume", cwd=tmp_path)
    assert resumed.returncode == 2 and "no unfinished run" in one_line(resumed.stderr)


def test_a_second_writer_is_refused(sim, tmp_path: Path) -> None:
    server = sim("--latency-ms", "200")
    cfg = write_config(tmp_path / "evals.toml", ref=server.url)
    cfg.write_text(cfg.read_text() + "max_concurrency = 1\n")  # 40 items take about 8 s
    out = tmp_path / "run"
    args = [sys.executable, "-m", "evals", "run", "ref", "--limit", "40", "--config", str(cfg), "--out", str(out)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out / "ref" / "gsm8k" / "records.jsonl").exists():
            time.sleep(0.05)
        second = run_evals("run", "ref", "--limit", "40", "--config", str(cfg), "--out", str(out))
        line = one_line(second.stderr)
        assert second.returncode == 2 and "being written by another evals process" in line and f"pid {first.pid}" in line
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
    records = read_records(out / "ref" / "gsm8k" / "records.jsonl")
    assert len(records) == 40 and len((out / "ref" / "gsm8k" / "records.jsonl").read_text().splitlines()) == 40
    # The lock went with the first process: a later run of the folder is let in.
    assert run_evals("run", "ref", "--limit", "40", "--config", str(cfg), "--out", str(out)).returncode == 0


def test_out_into_a_folder_that_is_not_a_run_is_refused_before_a_byte_is_written(sim, tmp_path: Path) -> None:
    """An independent review: `--out site` into a folder holding the user's own report.html and gate.json
    replaced both; `evals demo --out` wrote its synthetic data there first. Refused, exit 2, one line; an
    empty folder, or one an evals command made, is taken."""
    cfg = write_config(tmp_path / "evals.toml", ref=sim().url, cand=sim().url)
    site = tmp_path / "site"
    site.mkdir()
    mine = {"report.html": "<h1>my hand-written report</h1>", "gate.json": '{"mine": 1}'}
    for name, text in mine.items():
        (site / name).write_text(text)
    for command in (("compare", "ref", "cand", "--limit", "5"), ("run", "ref", "--limit", "5"), ("demo", "--limit", "5"),
                    ("import", "tau2", str(REPO / "README.md"), "--endpoint", "ref")):
        result = run_evals(*command, "--config", str(cfg), "--out", str(site)) if command[0] != "import" else run_evals(*command, "--out", str(site))
        assert result.returncode == 2 and f"--out {site}: not a run folder" in one_line(result.stderr), (command, result.stderr)
        assert sorted(p.name for p in site.iterdir()) == sorted(mine) and all((site / n).read_text() == t for n, t in mine.items())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gitkeep").write_text("")  # an empty results/ kept in git is empty
    assert run_evals("compare", "ref", "cand", "--limit", "5", "--config", str(cfg), "--out", str(empty)).returncode in (0, 3)
    assert run_evals("compare", "ref", "cand", "--limit", "5", "--config", str(cfg), "--out", str(empty)).returncode in (0, 3)  # its own: resumed
    assert run_evals("baseline", "save", str(empty / "ref"), "b", "--root", str(tmp_path / "baselines")).returncode == 0
    held = sorted(p.relative_to(tmp_path) for p in (tmp_path / "baselines").rglob("*"))
    into = run_evals("compare", "ref", "cand", "--limit", "5", "--config", str(cfg), "--out", str(tmp_path / "baselines"))  # its b/TASK/manifest.json is no run
    assert into.returncode == 2 and "a baseline, or a folder of baselines" in one_line(into.stderr)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "baselines").rglob("*")) == held


def test_a_symlinked_lock_is_refused_and_its_target_kept(sim, tmp_path: Path) -> None:
    """The lock file is truncated when taken: through a planted symlink (a shared outputs/ tree) it emptied the file it pointed to."""
    server = sim()
    cfg = write_config(tmp_path / "evals.toml", ref=server.url)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    result = run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(out))
    assert result.returncode == 2 and "is a symlink" in one_line(result.stderr), result.stderr
    assert victim.read_text() == "keep me\n"
    # so are a run's records: a rerun cut the target's last line (as torn) and appended to it
    (out / ".lock").unlink()
    assert run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(out)).returncode == 0
    victim.write_text("keep me\nno newline")
    records = out / "ref" / "gsm8k" / "records.jsonl"
    records.unlink()
    records.symlink_to(victim)
    result = run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(out))
    assert result.returncode == 2 and f"{records} is a symlink" in result.stderr.splitlines()[-1], result.stderr  # after the resume line: read, never written
    assert victim.read_text() == "keep me\nno newline"
    # a manifest that is a folder is bad input, not a crash
    records.unlink()
    (out / "ref" / "gsm8k" / "manifest.json").unlink()
    (out / "ref" / "gsm8k" / "manifest.json").mkdir()
    result = run_evals("run", "ref", "--limit", "5", "--config", str(cfg), "--out", str(out))
    assert result.returncode == 2 and "manifest.json: cannot be read" in one_line(result.stderr), result.stderr


# ---- resuming is explicit --------------------------------------------------------------------


def test_without_out_every_run_is_new_and_resume_is_explicit(sim, tmp_path: Path) -> None:
    server = sim("--fault-rate", "0.3")
    cfg = tmp_path / "evals.toml"
    cfg.write_text(f'[endpoints.ref]\nbase_url = "{server.url}"\nmax_retries = 0\n')
    first = run_evals("run", "ref", "--limit", "30", "--config", str(cfg), cwd=tmp_path)
    assert first.returncode == 4
    (run,) = (tmp_path / "outputs").iterdir()
    hint = [line for line in first.stderr.splitlines() if "to retry only them:" in line]
    assert hint and hint[0].endswith(shlex.join(["--out", str(Path("outputs") / run.name)]))

    served = server.stats()["requests"]["/v1/completions"]
    second = run_evals("run", "ref", "--limit", "30", "--config", str(cfg), cwd=tmp_path)
    assert len(list((tmp_path / "outputs").iterdir())) == 2  # a new folder, nothing guessed
    assert server.stats()["requests"]["/v1/completions"] - served == 30 and "resuming" not in second.stderr

    # --resume takes the newest unfinished run of this endpoint and tasks, and says so.
    newest = max((tmp_path / "outputs").iterdir(), key=lambda p: p.stat().st_mtime)
    done = sum(r.error is None for r in read_records(newest / "ref" / "gsm8k" / "records.jsonl"))
    cfg.write_text(f'[endpoints.ref]\nbase_url = "{server.url}"\nmax_retries = 8\n')
    resumed = run_evals("run", "ref", "--limit", "30", "--config", str(cfg), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {Path('outputs') / newest.name} (ref/gsm8k): {done} of 30 done, started 20" in resumed.stderr

    # Resuming into a folder of another configuration is refused.
    other = run_evals("run", "ref", "--limit", "31", "--config", str(cfg), "--out", str(Path("outputs") / newest.name), cwd=tmp_path)
    assert other.returncode == 2 and "different" in other.stderr.splitlines()[-1]


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])  # SIGTERM: a cancelled CI job (it died silently)
def test_ctrl_c_prints_the_command_that_resumes(sim, tmp_path: Path, sent: signal.Signals, code: int) -> None:
    ref, cand = sim("--latency-ms", "1000"), sim("--latency-ms", "1000", "--profile", "quantized")  # seconds of work left when the signal comes
    cfg = write_config(tmp_path / "evals.toml", fp8=ref.url, mxfp4=cand.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "evals", "compare", "fp8", "mxfp4", "--limit", "200", "--config", str(cfg)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a suite started in the background by a non-interactive shell inherits SIGINT ignored, and so would
        # `evals`: give it the terminal's default, as a user pressing Ctrl-C has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.glob("outputs/*/fp8/gsm8k/records.jsonl")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sent)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    (run,) = (tmp_path / "outputs").iterdir()
    assert err.strip().splitlines()[-1].endswith("to resume: " + shlex.join(["evals", "compare", "fp8", "mxfp4", "--limit", "200", "--config", str(cfg), "--out", f"outputs/{run.name}"]))


def test_main_leaves_its_callers_sigterm_handler(capsys) -> None:
    """`cli.main` in a caller's process (tests, an embedding pipeline) takes SIGTERM while it runs, then gives it back."""
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["tasks"]) == 0
    assert signal.getsignal(signal.SIGTERM) == before


# ---- traps -----------------------------------------------------------------------------------


def test_report_on_a_run_folder_and_an_endpoint_folder(small_run, tmp_path: Path) -> None:
    run_dir, _ = small_run
    for folder in (run_dir.parent, run_dir, run_dir / "gsm8k"):
        result = run_evals("report", str(folder), "--format", "json")
        assert result.returncode == 0, result.stderr
        (summary,) = json.loads(result.stdout)
        assert summary["endpoint"] == "ref" and summary["task"] == "gsm8k" and summary["records"] == 20
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_evals("report", str(empty))
    assert result.returncode == 2 and "no run here" in one_line(result.stderr)
    # a run whose records are gone, or hold errors, is not reported as whole (it was exit 0, "errors 0")
    (run_dir / "gsm8k" / "records.jsonl").write_text("".join(line for i, line in enumerate((run_dir / "gsm8k" / "records.jsonl").read_text().splitlines(True)) if i >= 5))
    cut = run_evals("report", str(run_dir))
    assert cut.returncode == 4 and one_line(cut.stderr) == "ref/gsm8k: complete, 15 of 20 answered, 0 errors", cut.stderr
    (run_dir / "gsm8k" / "records.jsonl").unlink()
    gone = run_evals("report", str(run_dir))
    assert gone.returncode == 4 and one_line(gone.stderr) == "ref/gsm8k: complete, 0 of 20 answered, 0 errors", gone.stderr


def test_a_baseline_without_digests_is_error_until_resaved_in_place(small_run, tmp_path: Path) -> None:
    run_dir, _ = small_run
    root = tmp_path / "bl"
    assert run_evals("baseline", "save", str(run_dir), "old", "--root", str(root)).returncode == 0
    info = json.loads((root / "old" / "baseline.json").read_text())
    for key in ("records_sha256", "manifest_sha256", "records", "records_file"):
        del info["tasks"]["gsm8k"][key]  # as an older evals wrote it
    (root / "old" / "baseline.json").write_text(json.dumps(info))
    records_before = (root / "old" / "gsm8k" / "records.jsonl.gz").read_bytes()

    gated = run_evals("gate", "--baseline", str(root / "old"), str(run_dir))
    assert gated.returncode == 4 and "holds no sha256" in gated.stdout
    checked = run_evals("baseline", "verify", str(root / "old"))
    assert checked.returncode == 4 and "gsm8k: ERROR" in checked.stdout

    resaved = run_evals("baseline", "save", str(root / "old"), "old", "--root", str(root), "--force")
    assert resaved.returncode == 0, resaved.stderr
    assert (root / "old" / "gsm8k" / "records.jsonl.gz").read_bytes() == records_before  # same records, same bytes
    assert run_evals("baseline", "verify", str(root / "old")).stdout == "gsm8k: ok\n"
    assert run_evals("gate", "--baseline", str(root / "old"), str(run_dir)).returncode == 3
