"""`--tasks inspect:NAME`: inspect_ai's own code runs a task file against simulators over real HTTP.

The task is `examples/inspect-task/arith.py` (its own 200 questions and scorers); the simulator
knows arithmetic questions and answers them right or wrong per (item, profile). What is shown:
each sample's epochs become records, inspect's eval log is kept beside them and named in the
manifest, the gate decides a paired comparison both ways, a failed model call is an error
record (also when the solver catches it and goes on), and a run killed midway resumes with only
the samples its log does not hold.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_evals

pytest.importorskip("inspect_ai")

TASK = "inspect:examples/inspect-task/arith.py@arith"
FOLDER = "inspect_examples_inspect-task_arith.py_arith"
MARGIN = 0.04  # 200 items decide Δ = 0 and Δ = −0.2 against it (the simulators' seed is fixed)


def config(path: Path, endpoints: dict[str, str], task: str = TASK, concurrency: int = 16, **options: Any) -> Path:
    text = "".join(f'[endpoints.{name}]\nbase_url = "{url}"\nmax_concurrency = {concurrency}\nmax_retries = 0\n\n' for name, url in endpoints.items())
    text += f'[tasks."{task}"]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    text += f'\n[gate]\nmargins = {{ "{task}" = {MARGIN} }}\n'
    path.write_text(text)
    return path


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def chat_served(server: Any) -> int:
    return server.stats()["requests"].get("/v1/chat/completions", 0)


def test_epochs_are_repeats_and_the_log_is_kept_and_named(sim, tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    server = sim()
    cfg = config(tmp_path / "evals.toml", {"sim": server.url}, limit=10, epochs=3)
    out = tmp_path / "out"
    result = run_evals("run", "sim", "--tasks", TASK, "--config", str(cfg), "--out", str(out), cwd=REPO)
    assert result.returncode == 0, result.stderr
    folder = out / "sim" / FOLDER
    lines = records(folder)
    assert sorted((r["item_id"], r["repeat"]) for r in lines) == sorted((f"q{i:03d}", e) for i in range(10) for e in range(3))
    assert all(r["error"] is None and r["score"] in (0.0, 1.0) and r["details"]["scorer"] == "answer_is" for r in lines)
    assert 0 < sum(r["score"] for r in lines) < 30  # the simulator answers some wrong
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["repeats"] == [0, 1, 2] and manifest["items"] == 10 and manifest["status"] == "complete"
    assert manifest["extra"]["binary_scores"] is True and manifest["extra"]["scorer"] == "answer_is"
    (log_name,) = manifest["extra"]["inspect_logs"]
    log = read_eval_log(str(folder / log_name))
    assert log.status == "success" and log.eval.config.epochs == 3 and len(log.samples) == 30
    # the record is the log's sample, score for score
    by_key = {(r["item_id"], r["repeat"]): r for r in lines}
    for sample in log.samples:
        assert by_key[(str(sample.id), sample.epoch - 1)]["score"] == (1.0 if sample.scores["answer_is"].value == "C" else 0.0)
    assert (folder / "inspect-home" / "inspect_ai").is_dir()  # inspect's own files, under the run folder

    # a finished run is reused as it is: no request, no new log
    served = chat_served(server)
    again = run_evals("run", "sim", "--tasks", TASK, "--config", str(cfg), "--out", str(out), cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert chat_served(server) == served and len(list((folder / "inspect-logs").iterdir())) == 1
    assert len(records(folder)) == 30

    # a baseline of it, and a candidate run now against that baseline, on its task configuration
    saved = run_evals("baseline", "save", str(out / "sim"), "arith", "--root", str(tmp_path / "baselines"), "--config", str(cfg), cwd=REPO)
    assert saved.returncode == 0, saved.stderr
    baseline = tmp_path / "baselines" / "arith"
    # the log goes with it, where the baseline's manifest says, and under a digest
    kept = baseline / FOLDER / log_name
    assert json.loads((baseline / FOLDER / "manifest.json").read_text())["extra"]["inspect_logs"] == [log_name]
    assert kept.read_bytes() == (folder / log_name).read_bytes() and len(read_eval_log(str(kept)).samples) == 30
    digests = json.loads((baseline / "baseline.json").read_text())["tasks"][TASK]["files_sha256"]
    assert digests == {log_name: hashlib.sha256(kept.read_bytes()).hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baselines", "evals.toml", "out"]  # nothing written beside it
    assert sorted(p.name for p in (tmp_path / "baselines").iterdir()) == ["arith"]

    gated = run_evals("gate", "--baseline", str(baseline), "--candidate", "sim", "--config", str(cfg), "--out", str(tmp_path / "g"), cwd=REPO)
    assert gated.returncode in (0, 3), gated.stdout + gated.stderr  # the same simulator: never REGRESSION, never ERROR
    assert chat_served(server) == served + 30 and len(records(tmp_path / "g" / "sim" / FOLDER)) == 30

    # `baseline verify` covers the log: a changed one is an ERROR naming it
    assert run_evals("baseline", "verify", str(baseline)).returncode == 0
    kept.write_bytes(kept.read_bytes() + b"\0")
    changed = run_evals("baseline", "verify", str(baseline))
    assert changed.returncode == 4 and f"{kept} does not match its sha256" in changed.stdout, changed.stdout


def test_compare_true_delta_zero_is_lossless(sim, tmp_path: Path) -> None:
    ref, cand = sim("--seed", "3"), sim("--seed", "3", "--profile", "quantized", "--delta", "0")
    cfg = config(tmp_path / "evals.toml", {"fp8": ref.url, "mxfp4": cand.url})
    out = tmp_path / "out"
    result = run_evals("compare", "fp8", "mxfp4", "--tasks", TASK, "--config", str(cfg), "--out", str(out), cwd=REPO)
    gate = json.loads((out / "gate.json").read_text())
    assert result.returncode == 0 and gate["verdict"] == "LOSSLESS", result.stdout + result.stderr
    (task,) = gate["tasks"]
    assert task["task"] == TASK and task["n"] == 200 and task["margin"] == MARGIN
    for arm in ("fp8", "mxfp4"):
        manifest = json.loads((out / arm / FOLDER / "manifest.json").read_text())
        assert manifest["records"] == 200 and manifest["errors"] == 0
        assert all((out / arm / FOLDER / log).is_file() for log in manifest["extra"]["inspect_logs"])


def test_compare_killed_midway_resumes_with_only_the_missing_samples_then_finds_the_regression(sim, tmp_path: Path) -> None:
    """True Δ = −0.2: kill -9 of `evals compare` while both arms' inspect runs are sending; the
    inspect subprocesses stop with it; the rerun says how much of each arm is done (what the logs
    hold, of the 200 samples the manifest owes since inspect loaded the task), imports it, sends
    only the rest, counts nothing twice, and the gate says REGRESSION."""
    from inspect_ai.log import read_eval_log

    servers = {"fp8": sim("--seed", "3", "--latency-ms", "60"), "mxfp4": sim("--seed", "3", "--latency-ms", "60", "--profile", "quantized", "--delta", "-0.2")}
    cfg = config(tmp_path / "evals.toml", {arm: s.url for arm, s in servers.items()}, concurrency=4)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "evals", "compare", "fp8", "mxfp4", "--tasks", TASK, "--config", str(cfg), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while min(chat_served(s) for s in servers.values()) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.kill()
    assert proc.wait(timeout=10) == -9, "the run finished before it was killed"
    time.sleep(1.5)  # the inspect subprocesses notice that evals is gone
    stopped = {arm: chat_served(s) for arm, s in servers.items()}
    time.sleep(1.5)
    assert {arm: chat_served(s) for arm, s in servers.items()} == stopped, "inspect ran on after evals was killed"

    held: dict[str, int] = {}
    for arm in servers:
        folder = out / arm / FOLDER
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "running" and manifest["items"] == 200 and manifest["dataset_fingerprint"]
        assert not (folder / "records.jsonl").exists() or not records(folder)  # nothing scored yet
        logs = list((folder / "inspect-logs").glob("*.eval"))
        assert len(logs) == 1
        try:
            held[arm] = len(read_eval_log(str(logs[0])).samples or [])
        except Exception:  # torn by the kill: all of it is run again
            held[arm] = 0
        assert held[arm] < 200
    assert any(held.values()), "no finished sample reached a log before the kill"

    result = run_evals("compare", "fp8", "mxfp4", "--tasks", TASK, "--config", str(cfg), "--out", str(out), cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    for arm in servers:
        assert f"resuming {out} ({arm}/{TASK}): {held[arm]} of 200 done" in result.stderr, result.stderr
    assert json.loads((out / "gate.json").read_text())["verdict"] == "REGRESSION"
    for arm, server in servers.items():
        folder = out / arm / FOLDER
        assert chat_served(server) - stopped[arm] == 200 - held[arm]  # only what no log held was sent again
        lines = records(folder)
        keys = [(r["item_id"], r["repeat"]) for r in lines]
        assert len(keys) == len(set(keys)) == 200  # each sample once
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["records"] == 200
        assert 1 <= len(manifest["extra"]["inspect_logs"]) <= 2 and all((folder / log).is_file() for log in manifest["extra"]["inspect_logs"])


FLAKY_SOLVER = '''
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import solver


@solver
def keeps_going():
    """Like tau2's agent loop: a failed model call is caught and the sample goes on to be scored."""
    async def solve(state, generate):
        try:
            state = await generate(state)
        except Exception:
            pass
        return state
    return solve


@task
def swallowed():
    return Task(dataset=[Sample(id=i, input=f"What is {i} + {i}?", target="") for i in range(1, 4)], solver=keeps_going(), scorer=match())
'''


def test_failed_model_calls_are_error_records_never_scores(sim, tmp_path: Path) -> None:
    broken = sim("--fault-rate", "1.0")
    # inspect's own sample errors (the model call raised out of generate())
    cfg = config(tmp_path / "evals.toml", {"broken": broken.url}, limit=4)
    result = run_evals("run", "broken", "--tasks", TASK, "--config", str(cfg), "--out", str(tmp_path / "a"), cwd=REPO)
    assert result.returncode == 4, result.stdout + result.stderr
    lines = records(tmp_path / "a" / "broken" / FOLDER)
    assert len(lines) == 4 and all(r["error"].startswith("inspect sample error") and r["score"] == 0.0 for r in lines)

    # a solver that catches the failed call and goes on: inspect scores the sample, we do not
    (tmp_path / "swallow.py").write_text(FLAKY_SOLVER)
    task = f"inspect:{tmp_path / 'swallow.py'}@swallowed"
    cfg = config(tmp_path / "evals2.toml", {"broken": broken.url}, task=task)
    result = run_evals("run", "broken", "--tasks", task, "--config", str(cfg), "--out", str(tmp_path / "b"))
    assert result.returncode == 4, result.stdout + result.stderr
    (folder,) = (tmp_path / "b" / "broken").iterdir()
    lines = records(folder)
    assert len(lines) == 3 and all("model call(s) failed inside the solver loop" in r["error"] and r["score"] == 0.0 for r in lines)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["errors"] == 3 and manifest["status"] == "incomplete"


def test_a_rerun_keeps_the_answers_to_the_samples_that_errored(sim, tmp_path: Path) -> None:
    """An independent review: a rerun sent the errored samples again and inspect's new log held their
    answers, but an error record counted as held, so the answers were dropped and the errors stayed
    for ever (8 of 20 on every rerun, each spending the requests again). A malformed answer strikes a
    request afresh on each try here, so every rerun answers some of what is left."""
    flaky = sim("--fault", "malformed:0.4")
    cfg = config(tmp_path / "evals.toml", {"flaky": flaky.url}, limit=20)
    folder = tmp_path / "a" / "flaky" / FOLDER
    errors, sent = [], []
    for _ in range(3):
        before = chat_served(flaky)
        result = run_evals("run", "flaky", "--tasks", TASK, "--config", str(cfg), "--out", str(tmp_path / "a"), cwd=REPO)
        assert result.returncode in (0, 4), result.stdout + result.stderr
        held: dict[tuple[str, int], bool] = {}
        for r in records(folder):
            held[(r["item_id"], r["repeat"])] = held.get((r["item_id"], r["repeat"]), False) or r["error"] is None
        assert len(held) == 20
        errors.append(sum(not ok for ok in held.values()))
        sent.append(chat_served(flaky) - before)
    assert errors[0] >= 4 and errors[0] > errors[1] >= errors[2], errors
    assert sent == [20, errors[0], errors[1]]  # a rerun sends only what errored
    assert json.loads((folder / "manifest.json").read_text())["errors"] == errors[2]


@pytest.mark.parametrize(("fault", "named"), [("abort", "finish_reason 'abort'"), ("null", "null message.content")])
def test_an_answer_the_server_did_not_give_is_an_error_record_never_a_score(sim, tmp_path: Path, fault: str, named: str) -> None:
    """Independent reviews: inspect turns a finish_reason it does not know (sglang's `abort`, with half the
    text) into stop_reason "unknown", and null content into "", and raises nothing; the answers were scored,
    and a candidate whose server aborted 20% of its requests, or lost 20% of its answers, got REGRESSION
    with "errors 0/0" at a true Δ of 0."""
    broken = sim("--fault", f"{fault}:1.0")
    cfg = config(tmp_path / "evals.toml", {"broken": broken.url}, limit=4)
    result = run_evals("run", "broken", "--tasks", TASK, "--config", str(cfg), "--out", str(tmp_path / "a"), cwd=REPO)
    assert result.returncode == 4, result.stdout + result.stderr
    lines = records(tmp_path / "a" / "broken" / FOLDER)
    assert len(lines) == 4 and all("nothing the native client would score" in r["error"] and named in r["error"] and r["score"] == 0.0 for r in lines), lines


@pytest.mark.parametrize(("finish", "broken"), [("eos_token", False), ("repetition", False), ("stop_sequence", False), ("abort", True), (None, True), ("error", True),
                                                ({"type": "stop", "matched": 2}, False), ({"type": "abort", "message": "x"}, True)])  # sglang's dict, as the native client reads it
def test_a_finish_inspect_does_not_know_is_judged_by_the_servers_own_word(finish: str | dict[str, object] | None, broken: bool) -> None:
    """inspect says "unknown" for TGI's eos_token and vLLM's repetition too, answers the native client
    scores; taking every "unknown" as broken failed every sample of such a server (an independent
    review). Where inspect kept the raw response, its finish_reason decides, as the native client's would."""
    from inspect_ai.event import ModelEvent
    from inspect_ai.model import GenerateConfig, ModelCall, ModelOutput

    from evals.runners.inspect_eval import refused_answer

    output = ModelOutput.from_content("m", "#### 4")
    output.choices[0].stop_reason = "unknown"
    call = ModelCall(request={}, response={"choices": [{"finish_reason": finish, "text": "#### 4"}]})
    event = ModelEvent(model="m", input=[], tools=[], tool_choice="auto", config=GenerateConfig(), output=output, call=call)
    assert (refused_answer(event) is not None) == broken
    assert refused_answer(event.model_copy(update={"call": None})) is not None  # no raw response kept: inspect's word stands


def test_the_scorer_named_in_the_config_is_the_score(sim, tmp_path: Path) -> None:
    server = sim()
    task = "inspect:examples/inspect-task/arith.py@arith_graded"
    ambiguous = run_evals("run", "sim", "--tasks", task, "--config", str(config(tmp_path / "a.toml", {"sim": server.url}, task=task, limit=5)),
                          "--out", str(tmp_path / "a"), cwd=REPO)
    assert ambiguous.returncode == 2 and ambiguous.stderr.count("\n") == 1, ambiguous.stderr
    assert "several scorers (answer_is, closeness)" in ambiguous.stderr and task in ambiguous.stderr
    cfg = config(tmp_path / "b.toml", {"sim": server.url}, task=task, limit=20, scorer="closeness")
    result = run_evals("run", "sim", "--tasks", task, "--config", str(cfg), "--out", str(tmp_path / "b"), cwd=REPO)
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "b" / "sim").iterdir()
    lines = records(folder)
    assert {r["details"]["scorer"] for r in lines} == {"closeness"} and any(0 < r["score"] < 1 for r in lines)
    assert json.loads((folder / "manifest.json").read_text())["extra"]["binary_scores"] is False


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("inspect:examples/inspect-task/nothere.py@arith", "no such task file examples/inspect-task/nothere.py"),
        ("inspect:examples/inspect-task/arith.py@nope", "defines no @task 'nope' (it defines arith, arith_graded)"),
        ("inspect:examples/inspect-task/arith.py", "defines several tasks (arith, arith_graded); name one"),
    ],
)
def test_usage_errors_are_one_line_naming_the_task(task: str, message: str, tmp_path: Path) -> None:
    cfg = tmp_path / "evals.toml"
    cfg.write_text('[endpoints.sim]\nbase_url = "http://127.0.0.1:9/v1"\n')
    result = run_evals("run", "sim", "--tasks", task, "--config", str(cfg), "--out", str(tmp_path / "o"), cwd=REPO)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and task in result.stderr


def test_an_unknown_registry_name_is_one_line(sim, tmp_path: Path) -> None:
    """Registry names go the same way as tau2's (`inspect_evals/tau2_airline`, tests/test_tau2_inspect.py)."""
    server = sim()
    task = "inspect:inspect_evals/no_such_task"
    result = run_evals("run", "sim", "--tasks", task, "--config", str(config(tmp_path / "evals.toml", {"sim": server.url}, task=task)),
                       "--out", str(tmp_path / "o"), cwd=REPO)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"task {task}: inspect knows no task inspect_evals/no_such_task" in result.stderr
    assert chat_served(server) == 0


def test_without_inspect_ai_the_task_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.errors import UsageError
    from evals.tasks import inspect_task

    monkeypatch.setattr(inspect_task, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"^task inspect:x.py@t needs inspect_ai, which is not installed: pip install"):
        inspect_task.InspectTask(inspect_task.InspectOptions(), None, "x.py@t")


def test_evals_tasks_explains_the_prefixes() -> None:
    result = run_evals("tasks")
    assert result.returncode == 0
    assert "inspect:NAME" in result.stdout and "lm-eval:NAME" in result.stdout and "inspect_evals" in result.stdout


# ---------------------------------------------------------------- answers inspect's scorers could not read

REASONING_ONLY = "<reasoning only>"  # a reasoning parser filed the whole answer under reasoning_content
UNREAD_CASES = {
    # scorer: [(completion, unread)], each a sample of one inspect run through inspect's own solver and scorer
    "match": [("So 2 + 2 = 4.", False), ("I cannot tell.", True), ("", True), (" \n", True), (REASONING_ONLY, True)],
    "choice": [("ANSWER: A", False), ("ANSWER: B", False), ("It is the first one.", True), ("", True), (REASONING_ONLY, True)],
    "answer": [("ANSWER: B", False), ("It is B.", True), ("", True)],
    # no signal of its own (answer None whether or not it found one): only an empty completion
    "answer_is": [("The answer is 4", False), ("no idea", False), ("", True)],
    # a custom scorer that leaves `answer` "" on every score (inspect_evals' gdm_self_proliferation does:
    # an independent review): "" is choice()'s and match()'s signal only, else every comparison was ERROR
    "blank": [("4", False), ("no idea", False), ("", True)],
}


def unread_task(name: str) -> Any:
    """A task of inspect's own scorer `name` (the example file's `answer_is` for a custom one), one
    sample per case; the sample's id says which completion the model gives."""
    import importlib.util

    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, answer, choice, match, scorer
    from inspect_ai.solver import TaskState, generate, multiple_choice

    spec = importlib.util.spec_from_file_location("arith_example", REPO / "examples" / "inspect-task" / "arith.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    @scorer(metrics=[accuracy()])
    def blank() -> Any:
        async def score(state: TaskState, target: Target) -> Score:
            return Score(value=CORRECT if state.output.completion.strip() == target.text else INCORRECT, answer="")

        return score

    cases = UNREAD_CASES[name]
    if name == "choice":
        samples = [Sample(id=i, input=f"case {i}: which is 4?", choices=["4", "5", "6"], target="A") for i in range(len(cases))]
        return Task(dataset=samples, solver=multiple_choice(), scorer=choice())
    samples = [Sample(id=i, input=f"case {i}: what is 2 + 2?", target="B" if name == "answer" else "4") for i in range(len(cases))]
    scorer = {"match": lambda: match(numeric=True), "answer": lambda: answer("letter"), "answer_is": example.answer_is, "blank": blank}[name]()
    return Task(dataset=samples, solver=generate(), scorer=scorer)


@pytest.mark.parametrize("name", list(UNREAD_CASES))
def test_an_answer_inspects_scorer_could_not_read_is_invalid(name: str, tmp_path: Path) -> None:
    """A server whose every answer is unreadable (vLLM's reasoning parser leaving content empty) gave
    0 against 0 through inspect, which the gate could not see: the record is `invalid` when inspect's
    own scorer says it found no answer (evals.runners.inspect_eval.answer_unread), and never when it
    read one. Run by inspect itself, offline (its mockllm model), read back from its eval log."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import ChatMessageAssistant, ContentReasoning, ModelOutput, ModelUsage, get_model

    from evals.runners.inspect_eval import read_log_samples, sample_record

    cases = UNREAD_CASES[name]

    def reply(messages: list[Any], *_: Any) -> ModelOutput:
        case = int(next(m.text for m in messages if m.role == "user").split("case ", 1)[1].split(":")[0])
        text = cases[case][0]
        if text == REASONING_ONLY:
            output = ModelOutput.from_message(ChatMessageAssistant(content=[ContentReasoning(reasoning="2 + 2 = 4. ANSWER: A")], model="mockllm"))
        else:
            output = ModelOutput.from_content("mockllm", text)
        output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)  # else mockllm counts them with a tokenizer it downloads
        return output

    (log,) = inspect_eval(unread_task(name), model=get_model("mockllm/model", custom_outputs=reply), log_dir=str(tmp_path), display="none")
    read = read_log_samples(Path(log.location.removeprefix("file://")))
    assert read is not None
    records = {int(s.id): sample_record(s, "inspect:t", "sim", None) for s in read[1]}
    assert len(records) == len(cases) and all(r.error is None for r in records.values())
    assert [records[i].invalid for i in range(len(cases))] == [unread for _, unread in cases], [(c, records[i].extracted) for i, (c, _) in enumerate(cases)]
    assert all(r.score == 0.0 for r in records.values() if r.invalid)  # scored failures, as the native tasks' are
    assert any(r.score == 1.0 for r in records.values())  # a read answer can be right: the cases are not all failures
