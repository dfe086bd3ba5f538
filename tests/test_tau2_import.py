"""tau2-bench results files (real ones, from ../shared/data/tau2) as records, and the macro gate."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_evals

from evals.config import GateConfig
from evals.gate import Verdict, gate_runs
from evals.records import Record, load_run
from evals.runners.tau2_bench import import_results, tau2_command
from evals.tasks.tau2 import Tau2Options, pass_hat_k, records_from_results, trial_record


@pytest.fixture(scope="module")
def tau2_dir() -> Path:
    path = REPO.parent / "shared" / "data" / "tau2"
    if not path.exists():
        pytest.skip(f"no tau2 results under {path}")
    return path


def test_two_successful_trials(tau2_dir: Path) -> None:
    data = json.loads((tau2_dir / "mock_success_2trials.results.json").read_text())
    records = records_from_results(data, "fp8")
    assert [(r.item_id, r.repeat, r.score, r.error) for r in sorted(records, key=lambda r: r.repeat)] == [
        ("mock/create_task_1", 0, 1.0, None),
        ("mock/create_task_1", 1, 1.0, None),
    ]
    assert all(r.details["reward"] == 1.0 and r.details["group"] == "mock" for r in records)
    assert pass_hat_k(records, 1) == 1.0 and pass_hat_k(records, 2) == 1.0


def test_an_infrastructure_error_is_a_counted_failure(tau2_dir: Path) -> None:
    data = json.loads((tau2_dir / "mock_infra_error.results.json").read_text())
    (record,) = records_from_results(data, "mxfp4")
    assert record.item_id == "mock/create_task_1" and record.repeat == 0
    assert record.score == 0.0 and record.details["reward"] is None
    assert record.error.startswith("infrastructure_error: JSONDecodeError")
    assert not record.counts  # not a result of the model: the gate counts it against the candidate and toward max_error_rate
    assert pass_hat_k([record], 1) == 0.0  # kept as a failure, not dropped as tau2-bench's own metrics would


def test_an_agent_error_is_the_models_own_failure() -> None:
    record = trial_record("x", "airline", "1", 0, 0.0, "agent_error: bad tool call", model_failure=True)
    assert record.counts and record.score == 0.0


def test_an_agent_error_leaves_the_run_whole(tau2_dir: Path, tmp_path: Path) -> None:
    """An independent review: a run whose only "error" was an agent error (the model's own failure, a
    scored 0 the gate takes) was an incomplete run to `evals report` (exit 4) and to `evals run` (exit 4,
    "to retry only them", which a rerun could never do)."""
    results = json.loads((tau2_dir / "mock_success_2trials.results.json").read_text())
    results["simulations"][1]["termination_reason"] = "agent_error"
    results["simulations"][1]["info"] = {"error_type": "tool_call", "error": "malformed tool call JSON"}
    path = tmp_path / "agent_error.results.json"
    path.write_text(json.dumps(results))
    assert run_evals("import", "tau2", str(path), "--endpoint", "cand", "--out", str(tmp_path / "o")).returncode == 0
    folder = tmp_path / "o" / "cand" / "tau2"
    assert json.loads((folder / "manifest.json").read_text())["status"] == "complete"
    assert any(json.loads(line)["error"] for line in (folder / "records.jsonl").read_text().splitlines())  # it is there, scored 0
    report = run_evals("report", str(tmp_path / "o" / "cand"), "--format", "json")
    assert report.returncode == 0 and report.stderr == "", report.stderr
    assert json.loads(report.stdout)[0]["errors"] == 0


def test_pass_hat_k_by_hand() -> None:
    """Task a: 3 of 4 trials right; task b: 1 of 4. pass^1 = (3/4 + 1/4)/2, pass^2 = (C(3,2)/C(4,2) + 0)/2 = 0.25."""
    rewards = {"a": [1, 1, 0, 1], "b": [0, 0, 1, 0]}
    records = [trial_record("x", "airline", t, i, float(r), None) for t, rs in rewards.items() for i, r in enumerate(rs)]
    assert pass_hat_k(records, 1) == pytest.approx(0.5)
    assert pass_hat_k(records, 2) == pytest.approx(0.25)
    assert pass_hat_k(records, 3) == pytest.approx((1 / 4) / 2)
    assert pass_hat_k(records, 4) == 0.0
    # tau2's success rule: a reward a hair under 1 fails, the tolerance passes
    assert trial_record("x", "retail", "c", 0, 0.999, None).score == 0.0
    assert trial_record("x", "retail", "c", 0, 1 - 1e-7, None).score == 1.0


def test_import_command_and_gate(tau2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ok = run_evals("import", "tau2", str(tau2_dir / "mock_success_2trials.results.json"), "--endpoint", "fp8", "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    assert "pass^2" in ok.stdout and "mock" in ok.stdout
    broken = run_evals("import", "tau2", str(tau2_dir / "mock_infra_error.results.json"), "--endpoint", "mxfp4", "--out", str(out))
    assert broken.returncode == 0, broken.stderr

    manifest = json.loads((out / "fp8" / "tau2" / "manifest.json").read_text())
    assert manifest["items"] == 1 and manifest["repeats"] == [0, 1] and manifest["errors"] == 0
    assert manifest["extra"]["user_simulator"]["mock"]["llm"] == "openai/user-stub"
    assert "dummy" not in json.dumps(manifest)  # tau2 writes the key in clear; we do not carry it
    assert json.loads((out / "mxfp4" / "tau2" / "manifest.json").read_text())["errors"] == 1

    gate = run_evals("gate", str(out / "fp8"), str(out / "mxfp4"))
    assert gate.returncode == 4 and "tau2: ERROR" in gate.stdout


def test_error_rate_rule_applies_to_tau2(tau2_dir: Path, tmp_path: Path) -> None:
    """Same settings, but the candidate's only trial broke: ERROR on the error rate, Δ counted with the failure."""
    ok = json.loads((tau2_dir / "mock_success_2trials.results.json").read_text())
    broken = json.loads((tau2_dir / "mock_infra_error.results.json").read_text())
    ok["simulations"] = [s for s in ok["simulations"] if s["trial"] == 0]
    ok["info"]["num_trials"] = 1
    for name, data in (("ref.json", ok), ("cand.json", broken)):
        (tmp_path / name).write_text(json.dumps(data))
    reference = import_results([tmp_path / "ref.json"], "fp8", tmp_path / "r" / "tau2")
    candidate = import_results([tmp_path / "cand.json"], "mxfp4", tmp_path / "c" / "tau2")
    verdict = gate_runs(reference, candidate, GateConfig())
    assert verdict.verdict == Verdict.ERROR and "error rate" in verdict.problem
    assert verdict.errors == {"reference": 0, "candidate": 1}
    assert verdict.delta == -1.0  # the broken trial is a failure in the numbers, not a dropped item
    assert load_run(tmp_path / "c")["tau2"][1][0].error is not None


def test_macro_over_domains_in_the_gate() -> None:
    """Δ is the mean of the domains' Δ, not the pooled mean over tasks, and its test is the macro's."""
    from evals.inference import statistic, summarise
    from evals.records import Manifest

    def arm(endpoint: str, scores: dict[str, list[int]]) -> tuple[Manifest, list[Record]]:
        records = [trial_record(endpoint, d, f"t{i}", 0, float(s), None) for d, ss in scores.items() for i, s in enumerate(ss)]
        manifest = Manifest(
            task="tau2", task_version="1", task_config={}, dataset_fingerprint="d", prompt_fingerprint="p", sampling={},
            endpoint=endpoint, base_url="", model="", tool_version="", items=len(records), repeats=[0], started_at="",
        )
        return manifest, records

    ref = {"airline": [1] * 10 + [0] * 10, "retail": [1] * 50 + [0] * 50}
    cand = {"airline": [1] * 6 + [0] * 14, "retail": [1] * 50 + [0] * 50}
    verdict = gate_runs(arm("a", ref), arm("b", cand), GateConfig())
    assert verdict.delta == pytest.approx((-4 / 20 + 0) / 2)  # retail's Δ is 0; pooled would be -4/120
    groups = [summarise(np.array(ref[d], float)[:, None], np.array(cand[d], float)[:, None]) for d in ("airline", "retail")]
    t, df = statistic(groups, -0.05)
    assert verdict.se == pytest.approx(abs(verdict.delta + 0.05) / abs(t)) and verdict.df == pytest.approx(df)
    assert set(verdict.groups) == {"airline", "retail"} and "macro over 2 groups" in verdict.method


def test_tau2_bench_command_has_no_key() -> None:
    options = Tau2Options(engine="tau2-bench", domains=["airline"], trials=3, temperature=0.0, user_temperature=0.0)
    command = tau2_command("airline", "glm-fp8", "http://127.0.0.1:30000/v1", "user-sim", "http://127.0.0.1:31000/v1", options, Path("/tmp/x"))
    assert command[:4] == ["tau2", "run", "--domain", "airline"]
    assert command[command.index("--agent-llm") + 1] == "openai/glm-fp8"
    agent_args = json.loads(command[command.index("--agent-llm-args") + 1])
    assert agent_args == {"temperature": 0.0, "api_base": "http://127.0.0.1:30000/v1"}
    assert command[command.index("--num-trials") + 1] == "3"
    assert not any("key" in part.lower() for part in command)


def test_import_rejects_a_file_that_is_not_tau2(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    result = run_evals("import", "tau2", str(bad), "--endpoint", "fp8", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "not a tau2-bench results file" in result.stderr


def test_tau2_bench_engine_runs_tau2_and_imports_what_it_wrote(sim, tau2_dir: Path, tmp_path: Path) -> None:
    """A stand-in `tau2` on PATH (tau2-bench itself is not installable here): it records how it
    was called and writes a real results file where the real `tau2 run` would: a relative
    `--save-to` under its own DATA_DIR/simulations/ (tau2/run.py), an absolute one as it is.
    The key must reach it through the environment only. Run from a working folder with a
    relative --out, as users do; a finished run is reused, not run again."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    stand_in = bin_dir / "tau2"
    stand_in.write_text(
        "#!" + sys.executable + "\n"
        "import json, os, shutil, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], 'key': os.environ.get('OPENAI_API_KEY')}}) + '\\n')\n"
        "save_to = sys.argv[sys.argv.index('--save-to') + 1]\n"
        f"target = os.path.join({str(tmp_path / 'tau2-data' / 'simulations')!r}, save_to + '.json')  # absolute save_to wins, as with pathlib\n"
        "os.makedirs(os.path.dirname(target), exist_ok=True)\n"
        f"shutil.copy({str(tau2_dir / 'mock_success_2trials.results.json')!r}, target)\n"
    )
    stand_in.chmod(0o755)
    agent, user = sim(), sim("--model", "user-sim")
    config = tmp_path / "evals.toml"
    config.write_text(
        f'[endpoints.fp8]\nbase_url = "{agent.url}"\napi_key_env = "SECRET_KEY"\n'
        f'[endpoints.user]\nbase_url = "{user.url}"\napi_key_env = "SECRET_KEY"\n'
        '[tasks.tau2]\nengine = "tau2-bench"\ndomains = ["mock"]\ntrials = 2\nuser_model = "user"\n'
    )
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SECRET_KEY": "sk-do-not-write-me"}
    result = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", "out", "--limit", "1", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["argv"][call["argv"].index("--num-tasks") + 1] == "1"  # --limit reaches tau2
    assert call["key"] == "sk-do-not-write-me"
    assert "sk-do-not-write-me" not in json.dumps(call["argv"])
    argv = call["argv"]
    assert argv[:3] == ["run", "--domain", "mock"] and argv[argv.index("--agent-llm") + 1] == "openai/sim-reference"
    assert argv[argv.index("--user-llm") + 1] == "openai/user-sim" and argv[argv.index("--num-trials") + 1] == "2"
    records = load_run(tmp_path / "out" / "fp8")["tau2"][1]
    assert sorted((r.item_id, r.repeat, r.score) for r in records) == [("mock/create_task_1", 0, 1.0), ("mock/create_task_1", 1, 1.0)]
    assert "pass^2" in result.stdout
    assert "sk-do-not-write-me" not in "".join(p.read_text() for p in (tmp_path / "out").rglob("*.json*") if p.is_file())

    again = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", "out", "--limit", "1", cwd=tmp_path, env=env)
    assert again.returncode == 0 and len(calls.read_text().splitlines()) == 1, again.stderr  # the finished run is reused

    # a run of another configuration, or an import, never replaces it (an independent review: the
    # engine's new results replaced the finished run, and the import did too, exit 0)
    folder = tmp_path / "out" / "fp8" / "tau2"
    before = (folder / "records.jsonl").read_bytes(), (folder / "manifest.json").read_bytes()
    other = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", "out", "--limit", "2", cwd=tmp_path, env=env)
    assert other.returncode == 2 and "holds a run with a different task_config (limit)" in other.stderr.splitlines()[-1], other.stderr
    imported = run_evals("import", "tau2", str(tau2_dir / "mock_infra_error.results.json"), "--endpoint", "fp8", "--out", "out", cwd=tmp_path)
    assert imported.returncode == 2 and imported.stderr.count("\n") == 1 and "made here, not an import" in imported.stderr, imported.stderr
    assert ((folder / "records.jsonl").read_bytes(), (folder / "manifest.json").read_bytes()) == before
    assert len(calls.read_text().splitlines()) == 1

    stand_in.write_text("#!" + sys.executable + "\nimport sys\nprint('litellm.APIConnectionError: no route', file=sys.stderr)\nsys.exit(1)\n")
    failed = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", "out2", cwd=tmp_path, env=env)
    assert failed.returncode == 4, failed.stderr  # the engine failed: not a usage error
    assert failed.stderr.startswith("evals: error: tau2 run --domain mock failed (exit 1") and "no route" in failed.stderr


def test_an_import_is_gated_and_saved_as_a_baseline_but_never_run_again(tau2_dir: Path, tmp_path: Path) -> None:
    """An import's manifest comes from the one manifest builder, with options a `[tasks.tau2]` table could hold;
    it pairs with another import and makes a baseline. Running it again cannot match it (its user simulator
    was no endpoint of ours): a candidate run against it, or a resume into its folder, is one line, exit 2,
    before any request (the endpoint below does not even listen)."""
    import evals
    from evals.records import read_manifest
    from evals.tasks import task_from_manifest

    results = str(tau2_dir / "mock_success_2trials.results.json")
    for arm in ("fp8", "mxfp4"):
        assert run_evals("import", "tau2", results, "--endpoint", arm, "--out", str(tmp_path / arm)).returncode == 0
    folder = tmp_path / "fp8" / "fp8" / "tau2"
    other = run_evals("import", "tau2", str(tau2_dir / "mock_infra_error.results.json"), "--endpoint", "fp8", "--out", str(tmp_path / "fp8"))
    assert other.returncode == 2 and f"{folder} holds an import of {results}" in other.stderr, other.stderr  # other results never replace it
    assert run_evals("import", "tau2", results, "--endpoint", "fp8", "--out", str(tmp_path / "fp8")).returncode == 0  # the same files do
    manifest = read_manifest(folder)
    assert manifest.tool_version == evals.__version__ and manifest.extra["imported_from"] == [results]
    task = task_from_manifest(manifest, None)
    assert task.config() == manifest.task_config and task.prompt_fingerprint() == manifest.prompt_fingerprint
    assert task.options.engine == "tau2-bench" and task.options.trials == 2 and task.options.task_ids == ["mock/create_task_1"]
    assert task.options.user_model is None and manifest.extra["tau2_settings"]["max_errors"] == 10

    saved = run_evals("baseline", "save", str(tmp_path / "fp8" / "fp8"), "imported", "--root", str(tmp_path / "bl"))
    assert saved.returncode == 0, saved.stderr
    baseline = tmp_path / "bl" / "imported"
    gated = run_evals("gate", "--baseline", str(baseline), str(tmp_path / "mxfp4" / "mxfp4"))
    assert gated.returncode in (0, 3) and "tau2:" in gated.stdout and "ERROR" not in gated.stdout, gated.stdout + gated.stderr

    config = tmp_path / "evals.toml"
    config.write_text('[endpoints.fp8]\nbase_url = "http://127.0.0.1:9/v1"\n[endpoints.user]\nbase_url = "http://127.0.0.1:9/v1"\n'
                      '[tasks.tau2]\nengine = "tau2-bench"\ndomains = ["mock"]\ntrials = 2\nuser_model = "user"\n')
    rerun = run_evals("gate", "--baseline", str(baseline), "--candidate", "fp8", "--config", str(config), "--out", str(tmp_path / "g"))
    assert rerun.returncode == 2 and rerun.stderr.count("\n") == 1, rerun.stderr
    assert f"baseline {baseline}: tau2 on fp8 was imported from tau2-bench results" in rerun.stderr and "cannot be run again" in rerun.stderr
    before = (folder / "records.jsonl").read_bytes()
    resumed = run_evals("run", "fp8", "--tasks", "tau2", "--config", str(config), "--out", str(tmp_path / "fp8"))
    assert resumed.returncode == 2 and resumed.stderr.count("\n") == 1, resumed.stderr
    assert f"{folder}: tau2 on fp8 was imported" in resumed.stderr and "pass another --out" in resumed.stderr
    assert (folder / "records.jsonl").read_bytes() == before and read_manifest(folder) == manifest


@pytest.mark.parametrize(("change", "named"), [(("seed",), "seed"), (("user_info", "llm_args", "temperature"), "user temperature")])
def test_files_of_two_runs_are_not_imported_as_one(tau2_dir: Path, tmp_path: Path, change: tuple[str, ...], named: str) -> None:
    """The options an import's manifest holds are one run's: domains run with another seed or user temperature are refused."""
    from evals.errors import UsageError

    data = json.loads((tau2_dir / "mock_success_2trials.results.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(data))
    data["info"]["environment_info"]["domain_name"] = "other"
    *path, last = change
    target = data["info"]
    for key in path:
        target = target[key]
    target[last] = 7
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match=f"^the results files disagree on {named} "):
        import_results([tmp_path / "a.json", tmp_path / "b.json"], "fp8", tmp_path / "out")
    assert not (tmp_path / "out").exists()
