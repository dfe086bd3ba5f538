"""Any lm-evaluation-harness task, group or YAML file as a task here: `--tasks lm-eval:NAME`.

lm-eval (EleutherAI/lm-evaluation-harness, 0.4.13) is the task library, not the runner.
Its `TaskManager` builds the documents, its own few-shot sampler and seed
(`lm_eval.evaluator.simple_evaluate`'s `fewshot_random_seed`, 1234) build the contexts,
its chat rendering (`apply_chat_template`, `fewshot_as_multiturn`, `system_instruction`)
builds the messages, and its filters and `process_results` score each document. What
differs from `lm_eval --model local-completions|local-chat-completions`: our runner sends
the requests (resumable, errors as records), one request per (document, seed), and the
request body is built from lm-eval's `generation_kwargs` the way
`lm_eval/models/openai_completions.py` `_create_payload` builds it (`max_gen_toks` →
`max_tokens`, default 256; `until` → `stop`, at most 4 for chat; `temperature` default 0;
`seed`; the rest passed on). No EOS string is added to `stop` (lm-eval adds one only when
it has a tokenizer).

`loglikelihood` and `multiple_choice` tasks are scored from prompt logprobs, as lm-eval's
`local-completions` scores them, and by its own code: an instance of its `LocalCompletionsAPI`
(with the `tokenizer`, `tokenized_requests` and `max_length` options, which are its model
args) tokenizes each (context, continuation) pair (`TemplateLM.loglikelihood`), cuts it to
`max_length` (`batch_loglikelihood_requests`), builds the body (`_create_payload`: echo,
`logprobs` 1, `max_tokens` 1, temperature 0) and reads the answer (`parse_logprobs`: the
continuation's logprobs summed, greedy when each is its position's top). What differs: a
document's instances (a multiple_choice document's choices) go as one request with a list of
prompts, as lm-eval's `batch_size` > 1 sends them, so that one document is one record. Before
any request, one probe per endpoint checks that it serves prompt logprobs at all.

    evals run fp8 --tasks lm-eval:gsm8k_cot_llama
    evals compare fp8 mxfp4 --tasks lm-eval:examples/lm-eval-task/arith.yaml
    evals compare fp8 mxfp4 --tasks lm-eval:examples/lm-eval-mc/arith_mc.yaml   # tokenizer = ... in evals.toml
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from evals.errors import UsageError
from evals.records import sha256_json
from evals.tasks.base import Item, Request, Response, Scored, Task, TaskOptions

PREFIX = "lm-eval"
FEWSHOT_SEED = 1234  # lm_eval.defaults.DEFAULT_OTHER_SEED: simple_evaluate's fewshot_random_seed
MODEL_SEED = 1234  # lm-eval's API models send `seed: 1234` in every request body
DEFAULT_MAX_GEN_TOKS = 256  # TemplateAPI's `max_gen_toks` default
CHAT_MAX_STOPS = 4  # LocalChatCompletion sends `stop[:4]` (OpenAI's limit)
# lm-eval metrics whose per-document value is 0 or 1 by definition, so the gate may treat a
# task scored by them as a proportion (and a stray 0.5 as a broken record, not partial credit).
BINARY_METRICS = {"exact_match", "acc", "acc_norm", "acc_mutual_info", "prompt_level_strict_acc", "prompt_level_loose_acc"}
# Where the documents come from; they are fingerprinted as data, so a local copy of the same
# documents pairs with the hub's, and an absolute path does not tie a baseline to one machine.
LOCATION_KEYS = ("dataset_path", "dataset_name", "dataset_kwargs", "metadata")
# Output types scored from prompt logprobs (echo + logprobs on /v1/completions), and the one
# that would need them over whole documents, which no endpoint test covers yet.
LOGPROB_TYPES = ("loglikelihood", "multiple_choice")
RUNNABLE_TYPES = ("generate_until", *LOGPROB_TYPES)
PROBE_TEXT = "Question: What is 2 + 3?\nAnswer: 5"  # the probe's prompt: a few tokens in any tokenizer


class LmEvalOptions(TaskOptions):
    """`[tasks."lm-eval:NAME"]` in evals.toml."""

    num_fewshot: int | None = Field(default=None, ge=0)
    chat: bool = False  # lm-eval's --apply_chat_template: /v1/chat/completions
    fewshot_as_multiturn: bool = True
    system_instruction: str | None = None
    gen_kwargs: dict[str, Any] = Field(default_factory=dict)  # merged into the task's generation_kwargs
    metric: str | None = None  # "METRIC,FILTER", default: the first metric under the first filter
    seeds: list[int] = Field(default_factory=lambda: [MODEL_SEED], min_length=1)
    repeats: int | None = Field(default=None, gt=0)  # K: seeds 1234 .. 1234 + K - 1, for sampled generation
    data_files: dict[str, str] | None = None  # split -> local JSON/JSONL file: dataset_path = "json"
    # loglikelihood / multiple_choice: lm-eval's local-completions model args of the same names
    tokenizer: str | None = None  # the model's Hugging Face tokenizer (hub id or folder): where the answer's tokens start
    tokenized_requests: bool = True  # send token ids (lm-eval's default), else the decoded text
    max_length: int = Field(default=2048, gt=1)  # context + answer tokens kept (from the right), less the one generated

    @field_validator("metric")
    @classmethod
    def _metric_filter(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^,\s]+,[^,\s]+", value):
            raise ValueError('expected "METRIC,FILTER", e.g. "exact_match,strict-match"')
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct (each is one repeat of every document)")
        return value

    @model_validator(mode="after")
    def _repeats_as_seeds(self) -> LmEvalOptions:
        """`repeats = K` is K seeds counted from lm-eval's own (1234), so that `repeats = 1` sends
        what lm-eval sends; each seed is one record per document, and the statistics cluster by document."""
        if self.repeats is not None:
            if "seeds" in self.model_fields_set and self.seeds != [MODEL_SEED + i for i in range(self.repeats)]:
                raise ValueError("give either seeds or repeats, not both")
            self.seeds = [MODEL_SEED + i for i in range(self.repeats)]
        return self


# lm-eval's built tasks and documents, by (name, working folder, options): see LmEvalTask._loaded.
_LOADED: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {}
_DOCS: dict[str, dict[str, _Doc]] = {}
_ITEMS: dict[str, list[Item]] = {}
_ENCODERS: dict[tuple[str | None, bool, int], Any] = {}
_LOGPROB_REQUESTS: dict[str, tuple[list[Any], list[int], dict[str, Any]]] = {}


@dataclass
class _Doc:
    """One document of one lm-eval task, and the request lm-eval built for it."""

    task: Any  # lm_eval.api.task.ConfigurableTask
    doc: dict[str, Any]
    instance: Any  # lm_eval.api.instance.Instance: the first of `instances`
    group: str | None
    instances: list[Any]  # all of the document's, by idx: a multiple_choice document's choices


@contextmanager
def _quiet() -> Iterator[None]:
    """lm-eval logs every task it builds and draws progress bars (its own and `datasets'`) on
    stderr while building requests; our CLI owns stderr, and its errors come back as exceptions."""
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    _cache_templates()
    with redirect_stderr(io.StringIO()):
        yield


def _cache_templates() -> None:
    """Compile each of lm-eval's Jinja templates once. `lm_eval.utils.apply_template` compiles
    its template string on every call (`env.from_string`), which is most of the time it takes
    to build a few-shot prompt (8 shots: 17 compiles per document); a compiled template renders
    the same text, so caching the compile changes no prompt."""
    from lm_eval import utils

    if not hasattr(utils.env.from_string, "cache_info"):
        utils.env.from_string = lru_cache(maxsize=4096)(utils.env.from_string)  # type: ignore[method-assign]


def _family_dirs(name: str) -> list[Path]:
    """lm-eval's task-family folders whose YAML mentions `name`: indexing only those takes a
    second where lm-eval's full index of ~15k tasks takes twenty. Empty when nothing matches
    (then the full index is used)."""
    spec = find_spec("lm_eval")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent / "tasks"
    word = re.compile(rf"(?<![\w\-]){re.escape(name)}(?![\w\-])")
    dirs = {root / p.relative_to(root).parts[0] for p in root.rglob("*.yaml") if word.search(p.read_text(errors="replace"))}
    return sorted(d for d in dirs if d.is_dir())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _payload(context: Any, gen_kwargs: dict[str, Any], chat: bool, seed: int) -> tuple[str | None, list[dict[str, str]] | None, dict[str, Any]]:
    """The request body lm-eval's LocalCompletionsAPI / LocalChatCompletion would send."""
    gen = copy.deepcopy(gen_kwargs)
    gen.pop("do_sample", None)
    max_tokens = gen.pop("max_tokens") if "max_tokens" in gen else gen.pop("max_gen_toks", DEFAULT_MAX_GEN_TOKS)
    temperature = gen.pop("temperature", 0)
    until = gen.pop("until", None)
    stop = [until] if isinstance(until, str) else list(until or [])
    params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop[:CHAT_MAX_STOPS] if chat else stop, "seed": seed, **gen}
    if chat:
        text = context.prompt if hasattr(context, "prompt") else context
        return None, json.loads(text), params
    return context, None, params


class LmEvalTask(Task):
    name = PREFIX  # an instance's own name is "lm-eval:NAME"
    version = "1"
    description = "any lm-evaluation-harness task, group or YAML: --tasks lm-eval:NAME or lm-eval:path/to/task.yaml"
    Options = LmEvalOptions
    options: LmEvalOptions

    def __init__(self, options: LmEvalOptions, data_dir: Path | None, spec: str = "") -> None:
        super().__init__(options, data_dir)
        if not spec:
            raise UsageError(f"task {PREFIX}: name an lm-eval task, group or YAML file, e.g. {PREFIX}:gsm8k")
        self.spec = spec
        self.name = f"{PREFIX}:{spec}"  # type: ignore[misc]  # per instance, as the user wrote it

    # ---------------------------------------------------------------- lm-eval's side
    @property
    def _key(self) -> str:
        return sha256_json([self.spec, str(Path.cwd()), self.options.model_dump(mode="json")])

    @property
    def _loaded(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        """lm-eval's tasks (leaf name -> Task), its groups, and the top-level group's name if any.

        Built once per process and configuration: both arms of a comparison share it (lm-eval
        takes seconds to build a few hundred chat prompts)."""
        if self._key not in _LOADED:
            with _quiet():
                _LOADED[self._key] = self._load()
        return _LOADED[self._key]

    def _load(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        from lm_eval.tasks import TaskManager

        path = Path(self.spec)
        is_yaml = path.suffix in (".yaml", ".yml")
        if is_yaml and not path.is_file():
            raise UsageError(f"task {self.name}: no such YAML file {path}")
        if self.options.data_files is not None:
            location = {"dataset_path": "json", "dataset_name": None, "dataset_kwargs": {"data_files": self.options.data_files}}
        # A YAML is loaded by its own name from an index of its folder, so that a group finds its
        # sibling task files (lm-eval's `--include_path DIR --tasks NAME`).
        spec: str = _yaml_name(path, self.name) if is_yaml else self.spec
        # First a narrow index (a second), then lm-eval's full one (twenty) for what it lacks:
        # a YAML group that names stock tasks, a stock group whose members live elsewhere.
        if is_yaml:
            narrow: list[Any] = [{"include_defaults": False, "include_path": str(path.parent)}]
            full = {"include_path": str(path.parent)}
        else:
            dirs = _family_dirs(self.spec)
            narrow = [{"include_defaults": False, "include_path": [str(d) for d in dirs]}] if dirs else []
            full = {}
        last: Exception | None = None
        for kwargs in [*narrow, full]:
            manager = TaskManager(**kwargs)
            if spec not in manager.all_tasks:
                last = KeyError(spec)
                continue
            _refuse_unsupported(manager, spec, self.name, self.options)  # before lm-eval downloads anything
            try:
                if self.options.data_files is None:
                    loaded = manager.load(spec)
                else:
                    loaded = _load_redirected(manager, spec, location, self.name)
            except (KeyError, ValueError, FileNotFoundError) as e:
                last = e
                continue
            except UsageError:
                raise
            except SystemExit as e:  # a task's own code giving up (lm-eval's tasks/score/utils.py, templates missing)
                raise UsageError(f"task {self.name}: lm-eval's code for it called sys.exit({e.code!r}) while building it") from None
            except Exception as e:  # datasets' errors when the hub is unreachable and nothing is cached
                raise UsageError(f"task {self.name}: lm-eval could not build it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                                 "offline, point it at local files: data_files in evals.toml, or a YAML with dataset_path: json") from None
            top = next((g for g in loaded.get("groups", {}).values() if not any(g.name in o.child_names for o in loaded["groups"].values())), None)
            return loaded["tasks"], loaded.get("groups", {}), top.name if top else ""
        if isinstance(last, KeyError):
            raise UsageError(f"task {self.name}: lm-eval knows no task, group or tag {spec!r} (`lm-eval ls tasks` lists them; a YAML path ends in .yaml)")
        raise UsageError(f"task {self.name}: lm-eval could not build it ({type(last).__name__}: {str(last).splitlines()[0] if str(last) else ''})")

    def _groups_of(self) -> dict[str, str | None]:
        """Each leaf task's group for the macro (tau2's `details.group`), or None when lm-eval
        weights by size (then pooling the documents is its aggregate) or there is one task.

        A group with `weight_by_size: false` is a macro over its direct children; a tag (no
        group of its own) is gated as a macro over its tasks, each reported beside it."""
        tasks, groups, top = self._loaded
        if len(tasks) < 2:
            return {t: None for t in tasks}
        if not top:  # a tag
            return {t: t for t in tasks}
        group = groups[top]
        aggs = group.aggregate_metric_list or []
        if aggs and all(a.weight_by_size for a in aggs):
            return {t: None for t in tasks}
        out: dict[str, str | None] = {}
        for child in group:
            leaves = [child] if not hasattr(child, "get_all_tasks") else child.get_all_tasks()
            for leaf in leaves:
                out[leaf.task_name] = child.task_name if not hasattr(child, "get_all_tasks") else child.name
        return out

    @property
    def _docs(self) -> dict[str, _Doc]:
        """Every document's request, built by lm-eval as `simple_evaluate` + `evaluate` build them."""
        if self._key not in _DOCS:
            tasks = self._loaded[0]
            with _quiet():
                _DOCS[self._key] = self._build_docs(tasks)
        return _DOCS[self._key]

    def _build_docs(self, tasks: dict[str, Any]) -> dict[str, _Doc]:
        groups = self._groups_of()
        docs: dict[str, _Doc] = {}
        for task_name, task in tasks.items():
            _check_output_type(task.get_config("output_type"), f"task {self.name}: subtask {task_name}", self.name, self.options)
            if (task.get_config("repeats") or 1) != 1:
                raise UsageError(f"task {self.name}: subtask {task_name} sets repeats = {task.get_config('repeats')}; use seeds in evals.toml instead")
            if self.options.gen_kwargs:
                task.set_config(key="generation_kwargs", value=dict(self.options.gen_kwargs), update=True)
            if self.options.num_fewshot is not None:
                if task.get_config("num_fewshot") != 0:  # simple_evaluate never overrides a configured 0
                    task.set_config(key="num_fewshot", value=self.options.num_fewshot)
            elif task.get_config("num_fewshot") is None:
                task.set_config(key="num_fewshot", value=0)
            task.set_fewshot_seed(seed=FEWSHOT_SEED)
            limit = self.options.limit
            task.build_all_requests(
                limit=limit,
                rank=0,
                world_size=1,
                system_instruction=self.options.system_instruction,
                apply_chat_template=self.options.chat,
                fewshot_as_multiturn=self.options.fewshot_as_multiturn if self.options.chat else False,
                chat_template=_json_chat if self.options.chat else None,
                tokenizer_name="",
            )
            by_doc: dict[int, list[Any]] = {}
            for instance in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
                by_doc.setdefault(instance.doc_id, []).append(instance)
            for doc_id, instances in by_doc.items():
                instance = instances[0]
                content = hashlib.sha256(json.dumps(instance.doc, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()[:12]
                item_id = f"{task_name}:{doc_id}:{content}"
                docs[item_id] = _Doc(task=task, doc=instance.doc, instance=instance, group=groups.get(task_name), instances=instances)
        return docs

    # ---------------------------------------------------------------- prompt logprobs
    @property
    def _encoder(self) -> Any:
        """lm-eval's own local-completions model, used offline: its tokenizer and its methods."""
        key = (self.options.tokenizer, self.options.tokenized_requests, self.options.max_length)
        if key not in _ENCODERS:
            with _quiet():
                _ENCODERS[key] = _make_encoder(self.name, *key)
        return _ENCODERS[key]

    def _logprob_request(self, item_id: str) -> tuple[list[Any], list[int], dict[str, Any]]:
        """The document's prompts (token ids or text), each one's context length in tokens, and the
        body's parameters, as lm-eval's local-completions builds them for its instances."""
        key = f"{self._key}:{item_id}"
        if key not in _LOGPROB_REQUESTS:
            lm = self._encoder
            encoded = lm.loglikelihood(self._docs[item_id].instances, disable_tqdm=True)  # (pair, context ids, continuation ids)
            inputs, ctxlens, _ = lm.batch_loglikelihood_requests([encoded])
            prompts = inputs if lm.tokenized_requests else lm.decode_batch(inputs)  # LocalCompletionsAPI.create_message
            params = {k: v for k, v in lm._create_payload(prompts, generate=False, seed=MODEL_SEED).items() if k not in ("model", "prompt")}
            _LOGPROB_REQUESTS[key] = (prompts, ctxlens, params)
        return _LOGPROB_REQUESTS[key]

    def _logprob_kinds(self) -> list[str]:
        return sorted({t.get_config("output_type") for t in self._loaded[0].values()} & set(LOGPROB_TYPES))

    async def preflight(self, endpoint: Any) -> None:
        """One probe of `endpoint` before any request of the run, when a subtask is scored from
        prompt logprobs: a server without them (OpenAI's 400 for echo + logprobs, a null
        `logprobs`, only the generated token's) is one line naming the task type and what is
        missing, not a run of error records."""
        kinds = self._logprob_kinds()
        if not kinds:
            return
        from evals.client import RequestFailed
        from evals.config import public_url
        from evals.tasks.base import Request

        lm = self._encoder
        ids = lm.tok_encode(PROBE_TEXT)
        prompt = [ids] if lm.tokenized_requests else [PROBE_TEXT]
        params = {k: v for k, v in lm._create_payload(prompt, generate=False, seed=MODEL_SEED).items() if k not in ("model", "prompt")}
        what = f"endpoint {endpoint.name} cannot serve {self.name}, a {' and '.join(kinds)} task"
        clash = sorted({"max_tokens", "echo", "logprobs", "n", "best_of"} & (endpoint.config.sampling.overrides().keys() | endpoint.config.extra_body.keys()))
        if clash:  # lm-eval reads the prompt's logprobs as all but the last of one generated token's
            raise UsageError(f"{what}: the endpoint's config sets {', '.join(clash)}, which these requests need as lm-eval sends them (max_tokens 1, echo, logprobs 1)")
        needs = f"it needs prompt logprobs from {public_url(endpoint.config.urls[0])}/completions (echo + logprobs, as vLLM and sglang serve them)"
        try:
            response, _ = await endpoint.send(Request(kind="completion", prompt=prompt, params=params), endpoint.config.sampling.overrides())
        except RequestFailed as e:
            raise UsageError(f"{what}: {needs}; the probe got {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        assert response.logprobs is not None  # the client checked them
        served = len(response.logprobs[0]["token_logprobs"]) - 1  # less the generated token
        if served != len(ids):
            raise UsageError(f"{what}: its tokenizer is not tokenizer = {self.options.tokenizer!r} (the probe's prompt is {served} tokens there, {len(ids)} here), "
                             "so the answer's tokens cannot be found in its logprobs; set the endpoint model's own tokenizer")

    def _score_logprobs(self, d: _Doc, item: Item, response: Response) -> Scored:
        """lm-eval's `parse_logprobs` on the answer, then its filters and `process_results`. Never
        `invalid`: every choice has a log-likelihood, so there is always an answer to read."""
        from lm_eval.api.instance import Instance
        from lm_eval.models.openai_completions import LocalCompletionsAPI

        if response.logprobs is None:  # the client refuses such answers: never score a guess
            raise ValueError(f"{self.name}: no prompt logprobs in the answer for {item.item_id}")
        _, ctxlens, _ = self._logprob_request(item.item_id)
        outputs = {"choices": [{"index": i, "logprobs": lp} for i, lp in enumerate(response.logprobs)]}
        answers = LocalCompletionsAPI.parse_logprobs(outputs=outputs, ctxlens=ctxlens)
        if len(answers) != len(d.instances):
            raise ValueError(f"{self.name}: {len(answers)} log-likelihoods for {len(d.instances)} requests of {item.item_id}")
        mine = []
        for inst, answer in zip(d.instances, answers):
            copy_ = Instance(request_type=inst.request_type, doc=inst.doc, arguments=inst.arguments, idx=inst.idx, metadata=(inst.task_name, inst.doc_id, inst.repeats))
            copy_.resps = [answer]
            mine.append(copy_)
        for ensemble in getattr(d.task, "_filters", []):
            ensemble.apply(mine)
        if not mine[0].filtered_resps:
            for one in mine:
                one.filtered_resps["none"] = one.resps[0]
        metric, flt = self._primary[d.instance.task_name]
        results = {key: d.task.process_results(d.doc, [one.filtered_resps[key] for one in mine]) for key in mine[0].filtered_resps}
        lls = [float(ll) for ll, _ in answers]
        details: dict[str, Any] = {
            "subtask": d.instance.task_name,
            "metrics": _jsonable(_plain(results)),
            "loglikelihoods": lls,
            "is_greedy": [bool(g) for _, g in answers],
            "metric": f"{metric},{flt}",
        }
        if d.group is not None:
            details["group"] = d.group
        if d.task.get_config("output_type") == "multiple_choice":
            choices = d.task.doc_to_choice(d.doc)
            extracted = str(choices[max(range(len(choices)), key=lambda i: lls[i])])
        else:
            extracted = "greedy" if answers[0][1] else "not greedy"
        return Scored(score=float(results[flt][metric]), extracted=extracted, details=details)

    @cached_property
    def _primary(self) -> dict[str, tuple[str, str]]:
        """Per leaf task, the (metric, filter) that is the record's score, checked against its config."""
        tasks, _, _ = self._loaded
        out = {}
        for task_name, task in tasks.items():
            filters = [f.name for f in getattr(task, "_filters", [])] or ["none"]
            metrics = list(task.aggregation().keys())
            if self.options.metric:
                metric, flt = self.options.metric.split(",")
            else:
                metric, flt = metrics[0], filters[0]
            if metric not in metrics or flt not in filters:
                raise UsageError(f'{self.name}: metric = "{metric},{flt}" is not one of {", ".join(f"{m},{f}" for f in filters for m in metrics)} (subtask {task_name})')
            aggregation = task.aggregation()[metric]
            if getattr(aggregation, "__name__", "") != "mean":
                raise UsageError(f"{self.name}: metric {metric} aggregates by {getattr(aggregation, '__name__', aggregation)}, not a mean of per-document scores; "
                                 "pick a mean metric with metric = \"METRIC,FILTER\"")
            out[task_name] = (metric, flt)
        return out

    # ---------------------------------------------------------------- our Task interface
    def load_items(self) -> list[Item]:
        self._primary  # noqa: B018  # a bad metric is a usage error before any request
        if self._key not in _ITEMS:
            _ITEMS[self._key] = [
                Item(item_id=item_id, index=index, input=_jsonable({"task": d.instance.task_name, "doc_id": d.instance.doc_id, "context": _context(d.instance),
                                                                     **({"continuations": [i.args[1] for i in d.instances]} if d.instance.request_type == "loglikelihood" else {})}),
                     gold=str(_jsonable(d.task.doc_to_target(d.doc))))
                for index, (item_id, d) in enumerate(self._docs.items())
            ]
        return [i.model_copy() for i in _ITEMS[self._key]]

    def repeats(self) -> list[int]:
        return list(self.options.seeds)

    def build_request(self, item: Item, repeat: int) -> Request:
        d = self._docs[item.item_id]
        if d.instance.request_type == "loglikelihood":
            prompts, _, params = self._logprob_request(item.item_id)
            return Request(kind="completion", prompt=prompts, params={**params, "seed": repeat})
        context, gen_kwargs = d.instance.args[:2]
        prompt, messages, params = _payload(context, gen_kwargs, self.options.chat, repeat)
        return Request(kind="chat" if self.options.chat else "completion", prompt=prompt, messages=messages, params=params)

    def item_details(self, item: Item) -> dict[str, Any]:
        group = self._docs[item.item_id].group
        return {} if group is None else {"group": group}

    def score(self, item: Item, repeat: int, response: Response) -> Scored:
        """lm-eval's filters and `process_results` on this one document, every filter kept; `invalid`
        when the answer is empty (a reasoning parser that filed it under reasoning_content) or the
        scored filter found nothing in it (`_fallbacks`), and it scored 0 (a YAML's fallback may be a
        real answer, "0", that is right: an independent review)."""
        from lm_eval.api.instance import Instance

        d = self._docs[item.item_id]
        if d.instance.request_type == "loglikelihood":
            return self._score_logprobs(d, item, response)
        inst = d.instance
        mine = Instance(request_type=inst.request_type, doc=inst.doc, arguments=inst.arguments, idx=inst.idx, metadata=(inst.task_name, inst.doc_id, inst.repeats))
        mine.resps = [response.text]
        for ensemble in getattr(d.task, "_filters", []):
            ensemble.apply([mine])
        if not mine.filtered_resps:
            mine.filtered_resps["none"] = response.text
        metric, flt = self._primary[inst.task_name]
        results = {key: d.task.process_results(d.doc, [filtered]) for key, filtered in mine.filtered_resps.items()}
        value = results[flt][metric]
        details: dict[str, Any] = {
            "subtask": inst.task_name,
            "metrics": _jsonable(results),
            "filtered": _jsonable(mine.filtered_resps),
            "metric": f"{metric},{flt}",
        }
        if d.group is not None:
            details["group"] = d.group
        extracted = mine.filtered_resps[flt]
        return Scored(score=float(value), extracted=extracted if isinstance(extracted, str) else json.dumps(_jsonable(extracted)),
                      invalid=float(value) == 0 and (not response.text.strip() or _is_fallback(extracted, self._fallbacks[inst.task_name])), details=details)

    @cached_property
    def _fallbacks(self) -> dict[str, list[Any]]:
        """Per leaf task, what the regex filters of its scored filter (`_primary`) return when their
        pattern finds nothing: lm-eval's `RegexFilter` (and its subclasses: `multi_choice_regex`,
        bbh's) hands back its `fallback` ("[invalid]" unless the YAML sets one) in place of an answer
        (`lm_eval/filters/extraction.py`, `RegexFilter.apply`), which the filters after it carry on
        (a `map` to its default: what they make of it is the fallback to look for). A filtered answer
        equal to one is an answer the task could not read (`Record.invalid`), as the native gsm8k's
        strict-match is; other filters (`take_first`, a custom function) say nothing of it, so only an
        empty answer marks such a task's records."""
        from lm_eval.filters.extraction import RegexFilter

        tasks, _, _ = self._loaded
        out: dict[str, list[Any]] = {}
        for name, task in tasks.items():
            flt = self._primary[name][1]
            steps = [make for ensemble in getattr(task, "_filters", []) if ensemble.name == flt for make in ensemble.filters]
            # each step is `partial(FilterClass, **kwargs)` (lm_eval.filters.build_filter_ensemble): built as lm-eval builds it, to read its fallback
            out[name] = [_carried(make().fallback, steps[i + 1:]) for i, make in enumerate(steps)
                         if isinstance(cls := getattr(make, "func", make), type) and issubclass(cls, RegexFilter)]
        return out

    def resolved_config(self) -> dict[str, Any]:
        """Each leaf task's config as lm-eval resolved it (overrides applied), without where its
        documents live (those are fingerprinted as data)."""
        tasks, _, _ = self._loaded
        out = {}
        for name, task in sorted(tasks.items()):
            config = _jsonable(task.dump_config())
            out[name] = {k: v for k, v in config.items() if k not in LOCATION_KEYS}
        return out

    def prompt_spec(self) -> dict[str, Any]:
        import lm_eval

        return {
            "lm_eval_version": lm_eval.__version__,
            "config_hash": sha256_json(self.resolved_config()),
            "fewshot_seed": FEWSHOT_SEED,
            "requests": sha256_json({i: self.build_request(it, r).fingerprint() for it in self.load_items() for r in self.repeats() for i in [f"{it.item_id}@{r}"]}),
        }

    def binary(self) -> bool:
        """Whether every score is 0 or 1 by the metric's definition (exact_match, acc)."""
        return all(metric in BINARY_METRICS for metric, _ in self._primary.values())

    def manifest_extra(self) -> dict[str, Any]:
        import lm_eval

        items = self.load_items()
        return {
            "lm_eval_version": lm_eval.__version__,
            "lm_eval_config": self.resolved_config(),
            "lm_eval_config_hash": sha256_json(self.resolved_config()),
            "metric": sorted({f"{m},{f}" for m, f in self._primary.values()}),
            "binary_scores": self.binary(),
            "request_fingerprints": {f"{it.item_id}@{r}": self.build_request(it, r).fingerprint() for it in items for r in self.repeats()},
        }


def _load_redirected(manager: Any, spec: str, location: dict[str, Any], name: str) -> dict[str, Any]:
    """One task built from its registered config with the data location replaced, as lm-eval
    builds a group member with overrides (`TaskFactory.build(entry, overrides=...)`): an inline
    `{"task": NAME, ...}` spec would be a new task without the registered config."""
    from lm_eval.tasks._index import Kind

    entry = manager.task_index.get(spec)
    if entry is None:
        raise KeyError(spec)
    if entry.kind not in (Kind.TASK, Kind.PY_TASK):
        raise UsageError(f"task {name}: data_files redirects one task's data; for a group or tag write a YAML (dataset_path: json)")
    task = manager._factory.build(entry, overrides=location, registry=manager.task_index)
    return {"tasks": {task.task_name: task}, "groups": {}}


def _refuse_unsupported(manager: Any, spec: str, name: str, options: LmEvalOptions) -> None:
    """One line naming a task's type when it is not generate_until, read from its YAML before
    lm-eval builds it (building downloads the data: offline that would fail first, and say less)."""
    from lm_eval.tasks._index import Kind
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = manager.task_index.get(spec)
    if entry is None or entry.kind != Kind.TASK or entry.yaml_path is None:
        return  # groups and tags: each subtask is checked once built
    output_type = load_yaml(entry.yaml_path, resolve_func=False, recursive=True).get("output_type", "generate_until")
    _check_output_type(output_type, f"task {name}", name, options)


def _check_output_type(output_type: str, what: str, name: str, options: LmEvalOptions) -> None:
    """One line when a task's type cannot run here, or lacks what it needs: prompt logprobs are
    per token of the model's tokenizer, and there are none on /v1/chat/completions."""
    if output_type not in RUNNABLE_TYPES:
        raise UsageError(f"{what} is a {output_type} task; the task types that run here are {', '.join(RUNNABLE_TYPES)}")
    if output_type in LOGPROB_TYPES and options.tokenizer is None:
        raise UsageError(f'{what} is a {output_type} task, scored from prompt logprobs per token: set tokenizer = "HF_ID_OR_FOLDER" '
                         f'(the model\'s tokenizer, lm-eval\'s local-completions `tokenizer`) in [tasks."{name}"]')
    if output_type in LOGPROB_TYPES and options.chat:
        raise UsageError(f"{what} is a {output_type} task, scored from prompt logprobs on /v1/completions: chat = true does not apply to it")


def _yaml_name(path: Path, name: str) -> str:
    """The `group` (else `task`) a task YAML defines, read with lm-eval's own loader."""
    from lm_eval.tasks._yaml_loader import load_yaml

    try:
        raw = load_yaml(path, resolve_func=False, recursive=True)
    except Exception as e:  # a YAML error, a missing include: the user's file, named
        raise UsageError(f"task {name}: cannot read {path} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    found = raw.get("group") if isinstance(raw, dict) else None
    found = found if isinstance(found, str) else raw.get("task") if isinstance(raw, dict) else None
    if not isinstance(found, str):
        raise UsageError(f"task {name}: {path} defines no `task:` or `group:` name")
    return found


def _json_chat(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> Any:
    """What lm-eval's API models hand back as the "chat template": the messages as JSON."""
    from lm_eval.models.api_models import JsonChatStr

    return JsonChatStr(json.dumps(messages, ensure_ascii=False))


def _context(instance: Any) -> Any:
    context = instance.args[0]
    return context.prompt if hasattr(context, "prompt") else context




def _make_encoder(name: str, tokenizer: str | None, tokenized_requests: bool, max_length: int) -> Any:
    """lm-eval's `LocalCompletionsAPI` with the task's tokenizer, whose `loglikelihood` hands back
    the encoded requests instead of sending them: lm-eval's tokenization (trailing spaces moved
    to the continuation, an empty context as the prefix token) without a copy of it here."""
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    class Encoder(LocalCompletionsAPI):  # type: ignore[misc]
        def _loglikelihood_tokens(self, requests: list[Any], **kwargs: Any) -> list[Any]:
            return requests

    path = Path(tokenizer or "")
    try:
        return Encoder(base_url="http://127.0.0.1/unused", model="unused", tokenizer=str(path.resolve()) if path.is_dir() else tokenizer,
                       tokenizer_backend="huggingface", tokenized_requests=tokenized_requests, max_length=max_length, seed=MODEL_SEED)
    except Exception as e:  # transformers' errors: no such folder, an unknown hub id, offline
        raise UsageError(f"task {name}: cannot load tokenizer = {tokenizer!r} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def _carried(fallback: Any, steps: list[Any]) -> Any:
    """A regex filter's fallback after the filters that follow it, as lm-eval's `FilterEnsemble.apply`
    runs them on one document's responses; the fallback itself where one of them needs the document
    (a custom function), which this cannot give."""
    resps: Any = [[fallback]]
    try:
        for make in steps:
            resps = list(make().apply(resps, [None]))
    except Exception:  # noqa: BLE001 - a filter of the YAML's own: any error means it needs what is not here
        return fallback
    return resps[0]


def _is_fallback(filtered: Any, fallbacks: list[Any]) -> bool:
    """Whether a filtered answer is a regex filter's fallback: the answer itself after `take_first`,
    its one element without it (a filter ensemble keeps a list per document)."""
    one = lambda x: x[0] if isinstance(x, list) and len(x) == 1 else x  # noqa: E731
    return any(one(filtered) == one(fallback) for fallback in fallbacks)


def _plain(value: Any) -> Any:
    """numpy's scalars (lm-eval's multiple_choice metrics are some) as Python numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value
