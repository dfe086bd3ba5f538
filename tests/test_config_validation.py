"""Configuration that should be refused is refused before any request (issue 10): one line
naming the file and the field, or the flag, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_evals

from evals.cli import _pair, main
from evals.config import Config, EndpointConfig, load_config, same_server
from evals.errors import UsageError
from evals.tasks import validate_tasks
from evals.tasks.gpqa import GpqaDiamond, GpqaOptions
from evals.tasks.gsm8k import MAX_SHOTS, Gsm8k, Gsm8kOptions


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evals.toml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    """The one-line error for this evals.toml, whether load_config or validate_tasks finds it."""
    path = config_file(tmp_path, text)
    with pytest.raises(UsageError) as err:
        validate_tasks(load_config(path))
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


# --- [gate] ---------------------------------------------------------------------------------


@pytest.mark.parametrize("margin", ["2", "-0.02", "0", "1", "nan", "inf"])
def test_margin_outside_0_1_is_refused(tmp_path: Path, margin: str) -> None:
    message = refused(tmp_path, f"[gate]\nmargins = {{gsm8k = 0.02, gpqa_diamond = {margin}}}\n")
    assert "gate.margins.gpqa_diamond: expected a fraction of accuracy, 0 < margin < 1" in message


def test_margin_in_points_gets_a_hint(tmp_path: Path) -> None:
    assert "for 2 points write 0.02" in refused(tmp_path, "[gate]\nmargins = {gsm8k = 2}\n")


def test_margin_for_an_unknown_task_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    message = refused(tmp_path, "[gate]\nmargins = {gsmk8 = 0.02}\n")
    assert "gate.margins.gsmk8: unknown task 'gsmk8'; known tasks: gpqa_diamond, gsm8k, tau2" in message


def test_valid_margins_are_kept(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, "[gate]\nmargins = {gsm8k = 0.01, gpqa_diamond = 0.05, tau2 = 0.1}\n"))
    validate_tasks(config)
    assert config.gate.margins == {"gsm8k": 0.01, "gpqa_diamond": 0.05, "tau2": 0.1}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("alpha = 0", "gate.alpha"),
        ("alpha = 0.5", "gate.alpha"),
        ("alpha = -0.025", "gate.alpha"),
        ("power = 0.3", "gate.power"),
        ("power = 1", "gate.power"),
        ("max_error_rate = 1", "gate.max_error_rate"),
        ("max_error_rate = -0.01", "gate.max_error_rate"),
        ("marginz = {gsm8k = 0.02}", "gate.marginz: unknown field"),
    ],
)
def test_gate_parameters_out_of_bounds(tmp_path: Path, line: str, field: str) -> None:
    assert field in refused(tmp_path, f"[gate]\n{line}\n")


def test_gate_parameters_at_sensible_values_pass(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, "[gate]\nalpha = 0.05\npower = 0.9\nmax_error_rate = 0\n"))
    assert (config.gate.alpha, config.gate.power, config.gate.max_error_rate) == (0.05, 0.9, 0.0)


# --- task options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ("[tasks.gsm8k]\nlimit = 0", "tasks.gsm8k.limit"),
        ("[tasks.gsm8k]\nlimit = -5", "tasks.gsm8k.limit"),
        ("[tasks.gsm8k]\nnum_shots = -2", "tasks.gsm8k.num_shots"),
        ("[tasks.gsm8k]\nnum_shots = 5000", "tasks.gsm8k.num_shots"),
        (f"[tasks.gsm8k]\nnum_shots = {MAX_SHOTS + 1}", "tasks.gsm8k.num_shots"),
        ("[tasks.gsm8k]\nmax_tokens = 0", "tasks.gsm8k.max_tokens"),
        ("[tasks.gsm8k]\nformat = \"lm_eval\"", "tasks.gsm8k.format"),
        ("[tasks.gpqa_diamond]\nlimit = 0", "tasks.gpqa_diamond.limit"),
        ("[tasks.gpqa_diamond]\nmax_tokens = 0", "tasks.gpqa_diamond.max_tokens"),
        ("[tasks.gpqa_diamond]\nrepeats = 0", "tasks.gpqa_diamond.repeats"),
        ("[tasks.gpqa_diamond]\nseeds = [1, 2, 1]", "seeds must be distinct"),
        ("[tasks.gpqa_diamond]\nseeds = []", "seeds must be distinct"),
        ("[tasks.gpqa_diamond]\ntemperature = -0.5", "tasks.gpqa_diamond.temperature"),
        ("[tasks.gpqa_diamond]\ntemperature = inf", "tasks.gpqa_diamond.temperature"),
        ("[tasks.tau2]\ntrials = 0", "tasks.tau2.trials"),
        ("[tasks.tau2]\nlimit = 0", "tasks.tau2.limit"),
        ("[tasks.tau2]\ntemperature = -1", "tasks.tau2.temperature"),
        ("[tasks.tau2]\nmax_steps = 0", "tasks.tau2.max_steps"),
        ("[tasks.tau2]\ndomains = [\"airline\", \"airline\"]", "domains lists airline more than once"),
        ("[tasks.tau2]\ntask_ids = [\"airline/1\", \"airline/1\"]", "task_ids lists airline/1 more than once"),
        ("[tasks.gsm8kk]\nlimit = 5", "tasks.gsm8kk: unknown task 'gsm8kk'; known tasks: gpqa_diamond, gsm8k, tau2"),
        ("[endpoints.a]\nbase_url = \"http://h/v1\"\nsampling = {max_tokens = 0}", "endpoints.a.sampling.max_tokens"),
    ],
)
def test_task_options_out_of_bounds(tmp_path: Path, table: str, field: str) -> None:
    assert field in refused(tmp_path, table + "\n")


def test_shot_counts_the_task_supports(data_dir: Path) -> None:
    """0 to MAX_SHOTS shots, in both formats; a zero-shot prompt is the question alone."""
    for fmt in ("sglang", "lm-eval"):
        zero = Gsm8k(Gsm8kOptions(format=fmt, num_shots=0, limit=2), data_dir)
        item = zero.load_items()[1]
        assert zero.build_request(item, 0).prompt == f"Question: {item.input['question']}\nAnswer:"
        most = Gsm8k(Gsm8kOptions(format=fmt, num_shots=MAX_SHOTS, limit=2), data_dir)
        assert most.build_request(most.load_items()[1], 0).prompt.count("Question: ") == MAX_SHOTS + 1


def test_more_shots_than_the_shot_pool_holds(tmp_path: Path, data_dir: Path) -> None:
    """A small custom data file: sglang's shots come from test, lm-eval's from train."""
    (tmp_path / "gsm8k").mkdir()
    for split, n in (("test", 4), ("train", 3)):
        lines = (data_dir / "gsm8k" / f"{split}.jsonl").read_text().splitlines()[:n]
        (tmp_path / "gsm8k" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as err:
        Gsm8k(Gsm8kOptions(num_shots=5), tmp_path).load_items()
    assert str(err.value) == f"tasks.gsm8k.num_shots = 5, but the sglang format takes its shots from {tmp_path}/gsm8k/test.jsonl, which has 4 rows"
    with pytest.raises(UsageError) as err:
        Gsm8k(Gsm8kOptions(format="lm-eval", num_shots=4), tmp_path).load_items()
    assert str(err.value) == f"tasks.gsm8k.num_shots = 4, but the lm-eval format takes its shots from {tmp_path}/gsm8k/train.jsonl, which has 3 rows"
    assert len(Gsm8k(Gsm8kOptions(num_shots=4), tmp_path).load_items()) == 4


def test_max_tokens_is_sent_as_given(data_dir: Path) -> None:
    """The budget given is the budget sent (it once went through `or 512`); unset, the format's own."""
    for fmt, default in (("sglang", 512), ("lm-eval", 256)):
        task = Gsm8k(Gsm8kOptions(format=fmt, limit=1, max_tokens=1), data_dir)
        assert task.build_request(task.load_items()[0], 0).params["max_tokens"] == 1
        task = Gsm8k(Gsm8kOptions(format=fmt, limit=1), data_dir)
        assert task.build_request(task.load_items()[0], 0).params["max_tokens"] == default


def test_defaults_validate() -> None:
    validate_tasks(Config())
    GpqaDiamond(GpqaOptions(), None)  # no data read at construction


# --- through the CLI: exit 2, one line, and no request sent ---------------------------------


@pytest.mark.parametrize(("value", "message"), [("0", "must be ≥ 1, got 0"), ("-5", "must be ≥ 1, got -5"), ("ten", "expected a whole number ≥ 1, got 'ten'")])
@pytest.mark.parametrize("command", [["run", "http://127.0.0.1:9/v1"], ["compare", "http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"], ["demo"]])
def test_limit_flag_names_the_flag(capsys: pytest.CaptureFixture[str], command: list[str], value: str, message: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--limit", value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: argument --limit: {message}")


def test_limit_zero_is_refused_not_run_on_everything(tmp_path: Path) -> None:
    """`--limit 0` once ran all 1,319 items; `-5` blamed "(defaults): tasks.gsm8k.limit"."""
    for value in ("0", "-5"):
        result = run_evals("demo", "--limit", value, cwd=tmp_path, timeout=60)
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == f"evals demo: error: argument --limit: must be ≥ 1, got {value}"
        assert "(defaults)" not in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[gate]\nmargins = {gsm8k = 2}\n", "gate.margins.gsm8k: expected a fraction of accuracy"),
        ("[gate]\nmargins = {gsmk8 = 0.02}\n", "gate.margins.gsmk8: unknown task"),
        ("[tasks.gsm8k]\nnum_shots = -2\n", "tasks.gsm8k.num_shots"),
        ("[tasks.gsm8k]\nmax_tokens = 0\n", "tasks.gsm8k.max_tokens"),
    ],
)
def test_run_refuses_bad_config_before_any_request(sim, tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, field: str) -> None:
    server = sim()
    path = config_file(tmp_path, toml)
    assert main(["run", server.url, "--config", str(path), "--limit", "5", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"evals: error: {path}: ") and field in err
    assert server.stats()["requests"] == {} and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:9/v1"\nmax_concurrency = "3"\n', "endpoints.a.max_concurrency: Input should be a valid integer"),
        ("[gate]\nsequential = 1\n", "gate.sequential: Input should be a valid boolean"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:9/v1"\nextra_body = {max_tokens = "512"}\n', "endpoints.a.extra_body: max_tokens: expected a positive whole number"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:9/v1"\nextra_body = {max_completion_tokens = 0}\n', "max_completion_tokens: expected a positive whole number"),
        ('[tasks.gsm8k]\nnum_shots = "5"\n', "tasks.gsm8k.num_shots: Input should be a valid integer"),
        ('[tasks.gpqa_diamond]\nlenient = "false"\n', "tasks.gpqa_diamond.lenient: Input should be a valid boolean"),
        ('[tasks.tau2]\ntrials = 4.0\n', "tasks.tau2.trials: Input should be a valid integer"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_not_guessed(tmp_path: Path, toml: str, field: str) -> None:
    """An independent review: a quoted number was taken as the number, and a quoted token budget in
    `extra_body` failed every request (a TypeError record per item, exit 4) instead of the config once."""
    assert field in refused(tmp_path, toml)


def test_a_config_that_cannot_be_read_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    """Not UTF-8, or a folder: exit 2 naming the file (it was exit 4, and the decode error named no file)."""
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[gate]\n")
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    for path, why in ((binary, "not a UTF-8 text file"), (folder, "cannot be read")):
        with pytest.raises(UsageError, match=f"^{path}: {why}"):
            load_config(path)
    assert run_evals("run", "http://127.0.0.1:9/v1", "--config", str(folder)).returncode == 2


def test_toml_numbers_still_fill_float_fields(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, '[endpoints.a]\nbase_url = "http://127.0.0.1:9/v1"\ntimeout_s = 30\n[gate]\nmargins = {gsm8k = 0.02}\nalpha = 0.025\n'))
    assert config.endpoints["a"].timeout_s == 30.0 and config.gate.margins == {"gsm8k": 0.02}


def test_compare_refuses_a_misspelt_margin(sim, tmp_path: Path) -> None:
    """The real command: exit 2, one line naming the file and field, nothing sent to either endpoint."""
    ref, cand = sim(), sim("--profile", "quantized")
    path = config_file(tmp_path, "[gate]\nmargins = {gsm8k = 0.02, gpqa = 0.03}\n")
    result = run_evals("compare", ref.url, cand.url, "--config", str(path), "--limit", "5", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"evals: error: {path}: gate.margins.gpqa: unknown task 'gpqa'; known tasks: gpqa_diamond, gsm8k, tau2, or lm-eval:NAME, inspect:NAME\n"
    assert ref.stats()["requests"] == {} and cand.stats()["requests"] == {}


def test_gate_summary_refuses_an_inverted_margin(tmp_path: Path) -> None:
    """A negative margin would demand an improvement: the published table would gate the other way."""
    summary = tmp_path / "s.csv"
    summary.write_text("task,n_items,repeats,score_ref,score_cand\ngsm8k,1319,1,0.95,0.85\n")
    path = config_file(tmp_path, "[gate]\nmargins = {gsm8k = -0.02}\n")
    result = run_evals("gate", "--summary", str(summary), "--config", str(path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "verdict" not in result.stdout
    assert result.stderr.strip() == f"evals: error: {path}: gate.margins.gsm8k: expected a fraction of accuracy, 0 < margin < 1 (got -0.02)"


def test_the_example_config_passes() -> None:
    validate_tasks(load_config(Path(__file__).resolve().parents[1] / "examples" / "evals.toml"))


def test_a_bad_url_is_said_once_in_our_words(tmp_path: Path) -> None:
    message = refused(tmp_path, '[endpoints.a]\nbase_url = "localhost:8000/v1"\n')
    assert message.endswith("endpoints.a.base_url: expected an http(s) URL, got 'localhost:8000/v1'")
    assert message.count("localhost:8000/v1") == 1 and "Value error" not in message


def test_compare_refuses_two_names_for_the_same_requests_to_one_server(sim, tmp_path: Path) -> None:
    """A config whose two entries were copied would compare a server with itself and say LOSSLESS of any
    quantization: refused before any request or folder, exit 2, one line."""
    server = sim()
    path = config_file(tmp_path, f'[endpoints.fp8]\nbase_url = "{server.url}"\n\n[endpoints.mxfp4]\nbase_url = "{server.url}/"\n')
    result = run_evals("compare", "fp8", "mxfp4", "--config", str(path), "--limit", "5", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"evals: error: reference fp8 and candidate mxfp4 send the same requests to the same server ({server.url}, ")
    assert server.stats()["requests"] == {} and not (tmp_path / "outputs").exists()
    # on purpose (an A/A run): a verdict, never a usage error
    result = run_evals("compare", "fp8", "mxfp4", "--same-server", "--config", str(path), "--limit", "5", cwd=tmp_path, timeout=120)
    assert result.returncode in (0, 3) and "gsm8k:" in result.stdout, result.stderr


def test_one_server_serving_two_models_or_settings_is_two_endpoints() -> None:
    base = {"base_url": "http://127.0.0.1:8000/v1", "model": "a"}
    assert same_server(EndpointConfig(**base), EndpointConfig(**{**base, "base_url": ["http://127.0.0.1:8000/v1/"]}))
    assert not same_server(EndpointConfig(**base), EndpointConfig(**{**base, "model": "b"}))
    assert not same_server(EndpointConfig(**base), EndpointConfig(**base, extra_body={"chat_template_kwargs": {"enable_thinking": False}}))
    assert not same_server(EndpointConfig(**base), EndpointConfig(**base, api_key_env="MXFP4_KEY"))  # a gateway routing by key
    assert same_server(EndpointConfig(base_url="http://GW:80/v1", model="a"), EndpointConfig(base_url="HTTP://gw/v1/", model="a"))
    # this machine by its usual names is one server at one port; another port, or another loopback address, is not
    assert same_server(EndpointConfig(**base), EndpointConfig(**{**base, "base_url": "http://localhost:8000/v1"}))
    assert same_server(EndpointConfig(**base), EndpointConfig(**{**base, "base_url": "http://[::1]:8000/v1"}))
    assert not same_server(EndpointConfig(**base), EndpointConfig(**{**base, "base_url": "http://localhost:8001/v1"}))
    assert not same_server(EndpointConfig(**base), EndpointConfig(**{**base, "base_url": "http://127.0.0.2:8000/v1"}))


def test_an_endpoint_given_as_a_url_is_named_by_host_port_and_path_never_its_credentials() -> None:
    """The name is written to manifests and folder names; two models behind one gateway are two endpoints."""
    config = Config()
    assert config.endpoint("http://127.0.0.1:8000/v1")[0] == "127.0.0.1-8000"
    assert config.endpoint("http://user:s3cret@gw:8000/fp8/v1")[0] == "gw-8000-fp8"
    assert config.endpoint("http://gw/fp8/v1")[0] != config.endpoint("http://gw/mxfp4/v1")[0]


def test_two_urls_whose_names_collide_are_two_endpoints() -> None:
    """/a-b and /a/b on one gateway would be one folder name: each gets a suffix of its URL's hash, and
    is known by it from there on (the runners and folders), where compare said "the same endpoint"."""
    config = Config()
    names = _pair(config, "http://gw/a-b/v1", "http://gw/a/b/v1")
    assert names[0] != names[1] and all(n.startswith("gw-a-b-") for n in names)
    assert [config.endpoint(n)[1].base_url for n in names] == ["http://gw/a-b/v1", "http://gw/a/b/v1"]
    assert _pair(Config(), "http://gw/a-b/v1", "http://gw/a/b/v1") == names  # the same names on a rerun: it resumes
    with pytest.raises(UsageError, match="the same endpoint"):
        _pair(Config(), "http://gw/v1", "http://gw/v1/")
