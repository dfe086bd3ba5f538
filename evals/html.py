"""The comparison as one page to look at: `report.html` (issue 13).

A verdict is a line of text; what a researcher does next is look: how far the interval is
from the margin, which questions flipped, what each endpoint answered, whether the failures
share a cause (answers cut at the token limit, wrong numbers). This module renders that page
from what is on disk — the gate's verdicts, both arms' records and manifests — and never
asks an endpoint anything.

One self-contained file: inline CSS, inline JavaScript, inline SVG, the records as embedded
JSON. It is opened from CI artifacts and on air-gapped clusters, so nothing is fetched at view
time. The numbers at the top are `report.gate_json`'s, the very dict written to gate.json.

Plots are inline SVG written by `evals.plots` (which says why not a plotting library): every
report has them, with nothing to install.

Prompts are rebuilt from the task (its manifest's configuration) and the items, not stored:
each rebuilt request is checked against the request hash its record holds, and a prompt whose
hash differs (the data changed since) is not shown. A prefix that every prompt of a task
shares (GSM8K's few-shot context) is stored once. Text is capped so the file stays small
(`TEXT_CAP`, `CONCORDANT_BUDGET`): an answer that changed correctness keeps up to `TEXT_CAP`
characters of each text, the others share a budget; a cut text says how much was cut.
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import __version__
from evals.config import public_url
from evals.gate import SequentialState, TaskVerdict
from evals.plots import (
    VERDICT_COLOURS,
    discordance_plot,
    forest_plot,
    item_means_plot,
    latency_plot,
    tokens_plot,
)
from evals.records import Manifest, Record, Run
from evals.report import gate_json, sequential_line, summarise
from evals.stats import match

REPORT_HTML = "report.html"
TEXT_CAP = 20_000  # characters per text of an item whose answers differ
CONCORDANT_BUDGET = 2_000_000  # characters shared by the texts of all other items
MIN_CONCORDANT_CAP = 400
PREFIX_MIN = 200  # a shared prompt prefix shorter than this is not worth factoring out



# ---------------------------------------------------------------- prompts and gold answers


class Prompts:
    """Rebuilds each (item, repeat)'s prompt from the task a manifest describes, checked by hash."""

    def __init__(self, manifest: Manifest, data_dir: Path | None) -> None:
        self.items: dict[str, Any] = {}
        self.task: Any = None
        self.note: str | None = None
        if "datasets" not in sys.modules:
            # a report is read-only and works offline: the local data or the hub's cache, never 25 s of retries
            # against an unreachable hub (a run in this process has already loaded, and cached, what it sent)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from evals.tasks import task_from_manifest

            task = task_from_manifest(manifest, data_dir)
            if not hasattr(task, "build_request"):
                self.note = f"{manifest.task} is run by an engine; its prompts and conversations are in that engine's logs"
                return
            self.items = {item.item_id: item for item in task.load_items()}
            self.task = task
        except Exception as e:  # noqa: BLE001 - no data here is a reason to show no prompts, not to write no report
            self.note = f"prompts not shown: the task's data could not be loaded here ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})"

    def text(self, record: Record) -> str | None:
        """The prompt sent for this record, or None when it cannot be rebuilt exactly."""
        item = self.items.get(record.item_id)
        if item is None or self.task is None:
            return None
        try:
            request = self.task.build_request(item, record.repeat)
        except Exception:  # noqa: BLE001
            return None
        if request.fingerprint() != record.request_hash:
            return None
        if isinstance(request.prompt, list):  # several prompts, maybe token ids (a multiple_choice document's): its context and each continuation
            return "\n".join([str(item.input.get("context", "")), *(f"[continuation] {c!r}" for c in item.input.get("continuations", []))])
        if request.prompt is not None:
            return request.prompt
        return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in request.messages or [])

    def gold(self, record: Record) -> tuple[str | None, str | None]:
        """The short gold answer to highlight, and the full reference solution when it says more."""
        item = self.items.get(record.item_id)
        full = item.gold if item is not None else None
        if "correct" in record.details:  # GPQA: the letter of the correct choice in this repeat's order
            return str(record.details["correct"]), full
        if full and "####" in full:  # GSM8K: the number after ####
            return full.rsplit("####", 1)[1].strip().replace(",", ""), full
        return full, None


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit:,} more characters not kept in this report]"


# ---------------------------------------------------------------- the data the browser shows


def _draw(record: Record | None, limit: int) -> list[Any] | None:
    """One arm's answer as a compact list (the page's JavaScript reads it by position)."""
    if record is None:
        return None
    return [
        _cap(record.response, limit),
        record.extracted,
        record.score,
        record.finish_reason,
        record.prompt_tokens,
        record.completion_tokens,
        None if record.latency_s is None else round(record.latency_s, 3),
        record.error,
        _cap(record.reasoning, limit),
        bool(record.counts),
    ]


def _shared_prefix(texts: Sequence[str]) -> str:
    """What every prompt of a task begins with (few-shot context), cut at a line end so that each
    item's own part reads whole ("Question: ..." rather than "...uestion: ...")."""
    prefix = os.path.commonprefix(list(texts)) if len(texts) > 1 else ""
    prefix = prefix[: prefix.rfind("\n") + 1]
    return prefix if len(prefix) >= PREFIX_MIN else ""


def browser_data(tasks: dict[str, list[Run]], data_dir: Path | None) -> dict[str, Any]:
    """Every item of every task, its arms' answers side by side, and which way its score moved.

    `tasks` maps a task to its runs, one per arm, the reference first. An item's direction is
    that of the per-item mean score over its repeats, with errors and missing answers counted
    as the gate counts them (`stats.match`): a failure in the candidate, a success in the
    reference.
    """
    out_tasks: list[dict[str, Any]] = []
    items_out: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], list[list[Record | None]], Prompts, bool]] = []
    concordant_texts = 0
    for t_index, (task, runs) in enumerate(tasks.items()):
        manifest = runs[0][0]
        prompts = Prompts(manifest, data_dir)
        by_key = [{r.key: r for r in records} for _, records in runs]
        keys = sorted({k for arm in by_key for k in arm}, key=lambda k: (k[0], k[1]))
        repeats = sorted({k[1] for k in keys})
        per_item: dict[str, list[tuple[int, list[Record | None]]]] = defaultdict(list)
        for key in keys:
            per_item[key[0]].append((key[1], [arm.get(key) for arm in by_key]))
        if len(runs) == 2:
            matched = match(runs[0][1], runs[1][1], 0, manifest.repeats or repeats)
            means = {item: (float(matched.reference[i].mean()), float(matched.candidate[i].mean())) for i, item in enumerate(matched.items)}
        else:
            means = {item: (sum(arms[0].score for _, arms in draws if arms[0] is not None and arms[0].counts) / max(1, len(draws)),)
                     for item, draws in per_item.items()}
        out_tasks.append({"name": task, "repeats": len(repeats), "prefix": "", "note": prompts.note})
        for item_id, draws in per_item.items():
            scores = means.get(item_id, (0.0, 0.0))
            direction = "same"
            if len(scores) == 2 and scores[1] != scores[0]:
                direction = "worse" if scores[1] < scores[0] else "better"
            group = next((r.details.get("group") for _, arms in draws for r in arms if r is not None and r.details.get("group")), None)
            entry = {"t": t_index, "id": item_id, "g": group, "d": direction, "s": [round(s, 4) for s in scores]}
            differs = direction != "same" or len(scores) == 1 and any(r is not None and not r.counts for _, arms in draws for r in arms)
            if not differs:
                concordant_texts += sum(1 for _, arms in draws for r in arms if r is not None) + len(draws)
            pending.append((entry, [arms for _, arms in draws], prompts, differs))
            items_out.append(entry)
    concordant_cap = max(MIN_CONCORDANT_CAP, CONCORDANT_BUDGET // max(1, concordant_texts))
    prompt_texts: dict[int, list[str]] = defaultdict(list)
    for entry, draws, prompts, differs in pending:
        limit = TEXT_CAP if differs else concordant_cap
        first = next(r for arms in draws for r in arms if r is not None)
        gold, full = prompts.gold(first)
        if "correct" in first.details:  # the letter moves with each repeat's choice order: the item's gold is the answer's text
            gold, full = full, None
        entry["gold"] = gold
        if differs and full and full != gold:
            entry["sol"] = _cap(full, TEXT_CAP)
        entry["r"] = []
        for arms in draws:
            anyone = next(r for r in arms if r is not None)
            prompt = prompts.text(anyone)
            if prompt is not None:
                prompt_texts[entry["t"]].append(prompt)
            answers = [_draw(r, limit) for r in arms]
            if len(answers) == 2 and answers[0] and answers[1] and answers[0][0] and answers[1][0] == answers[0][0]:
                answers[1][0] = 1  # the same text as the reference's, stored once
            entry["r"].append({"k": anyone.repeat, "p": prompt, "a": answers, "gold": prompts.gold(anyone)[0], "lim": limit})
    for t_index, texts in prompt_texts.items():
        prefix = _shared_prefix(texts)
        out_tasks[t_index]["prefix"] = prefix
    for entry in items_out:
        prefix = out_tasks[entry["t"]]["prefix"]
        for draw in entry["r"]:
            prompt = draw.pop("p")
            limit = draw.pop("lim")
            if prompt is not None and prefix and prompt.startswith(prefix):
                prompt = prompt[len(prefix):]
                draw["x"] = 1  # the task's shared prefix goes before it
            draw["p"] = _cap(prompt, limit)
    return {"tasks": out_tasks, "items": items_out}


# ---------------------------------------------------------------- plots


def _discordance(runs: list[Run]) -> dict[str, int]:
    """Counts over (item, repeat) draws, with errors as the gate counts them (`stats.match`)."""
    (ref_m, ref_r), (_, cand_r) = runs
    matched = match(ref_r, cand_r, ref_m.items, ref_m.repeats)
    ref, cand = matched.reference.round() == 1, matched.candidate.round() == 1
    return {"both right": int((ref & cand).sum()), "only reference right": int((ref & ~cand).sum()),
            "only candidate right": int((~ref & cand).sum()), "neither": int((~ref & ~cand).sum())}


# ---------------------------------------------------------------- the page


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, spec: str = "+.4f") -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, spec)


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no `<`, `>` or `&` (so no `</script>` or `<!--`), no U+2028/9."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _endpoint_rows(arms: Sequence[tuple[str, dict[str, Run]]]) -> str:
    """Which model answered, from where: URLs stripped of any user or password."""
    rows = []
    for role, runs in arms:
        for task, (m, _) in sorted(runs.items()):
            urls = m.base_url if isinstance(m.base_url, list) else [m.base_url]
            rows.append(f"<tr><td>{_e(role)}</td><td>{_e(m.endpoint)}</td><td>{_e(task)}</td><td>{_e(m.model)}</td>"
                        f"<td>{_e(', '.join(public_url(u) for u in urls))}</td><td>{_e(m.status)}</td><td>{_e(m.started_at)}</td></tr>")
    return ("<table class='small'><tr><th>arm</th><th>endpoint</th><th>task</th><th>model</th><th>URL</th><th>status</th><th>started</th></tr>"
            + "".join(rows) + "</table>")


def _verdict_table(gate: dict[str, Any]) -> str:
    rows = []
    for t in gate["tasks"]:
        colour = VERDICT_COLOURS.get(t["verdict"], "#6e7781")
        errors = t.get("errors") or {}
        flip = "–" if t.get("flip_rate") is None else f"{t['flip_rate']:.1%}"
        rows.append(
            f"<tr class='task-row' data-task='{_e(t['task'])}'><td>{_e(t['task'])}</td>"
            f"<td><span class='pill' style='background:{colour}'>{_e(t['verdict'])}</span></td>"
            f"<td>{_num(t['delta'])}</td><td>[{_num(t['ci'][0])}, {_num(t['ci'][1])}]</td><td>−{t['margin']:g}</td>"
            f"<td>{_num(t['reference_score'], '.4f')}</td><td>{_num(t['candidate_score'], '.4f')}</td>"
            f"<td>{t['n']:,}</td><td>{t['repeats']}</td><td>{errors.get('reference', 0)} / {errors.get('candidate', 0)}</td>"
            f"<td>{flip}</td><td>{_num(t.get('p_lossless'), '.3g')}</td><td>{_num(t.get('p_regression'), '.3g')}</td></tr>"
        )
        sequential = sequential_line(SequentialState(**t["sequential"])) if t.get("sequential") else None
        notes = [("advice", t.get("advice")), ("problem", t.get("problem")), ("method", t.get("method")), ("sequential", sequential), ("note", t.get("note"))]
        text = "".join(f"<div><b>{k}:</b> {_e(v)}</div>" for k, v in notes if v)
        if text:
            rows.append(f"<tr class='notes'><td></td><td colspan='12'>{text}</td></tr>")
    pct = f"{100 * (1 - 2 * gate['tasks'][0]['alpha']):g}%" if gate["tasks"] else "95%"
    head = ("<tr><th>task</th><th>verdict</th><th>Δ</th><th>" + pct + " CI</th><th>margin</th><th>reference</th><th>candidate</th>"
            "<th>n items</th><th>repeats</th><th>errors ref / cand</th><th>flip rate</th><th>p lossless</th><th>p regression</th></tr>")
    return f"<table id='verdicts'>{head}{''.join(rows)}</table>"


def _page(title: str, header: str, sections: list[tuple[str, str]], data: dict[str, Any]) -> str:
    body = "".join(f"<section id='{_e(anchor)}'>{content}</section>" for anchor, content in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # no network at view time: nothing may be loaded from anywhere, not even by a response's text
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{header}{body}"
        f"<script type='application/json' id='evals-data'>{_json_for_script(data)}</script><script>{JS}</script></body></html>\n"
    )


def _group_by_task(*arms: dict[str, Run]) -> dict[str, list[Run]]:
    """Tasks every arm holds, in name order, each with its runs in the arms' order."""
    names = sorted(set.intersection(*(set(a) for a in arms))) if arms else []
    return {t: [a[t] for a in arms] for t in names}


def comparison_html(reference: str, candidate: str, verdicts: Sequence[TaskVerdict], reference_runs: dict[str, Run], candidate_runs: dict[str, Run],
                    data_dir: Path | None) -> str:
    """The comparison page: verdicts (gate.json's numbers), plots, and the answer browser."""
    gate = gate_json(reference, candidate, list(verdicts))
    tasks = _group_by_task(reference_runs, candidate_runs)
    arms = (reference, candidate)
    flips = {t["task"]: t.get("flip_rate") for t in gate["tasks"]}

    plots = [("forest", forest_plot(gate))]
    if tasks:
        plots.append(("discordance", discordance_plot({t: _discordance(runs) for t, runs in tasks.items()}, flips)))
    for task, runs in tasks.items():
        if len(runs[0][0].repeats) > 1:
            (ref_m, ref_r), (_, cand_r) = runs
            matched = match(ref_r, cand_r, ref_m.items, ref_m.repeats)
            plots.append((f"items-{task}", item_means_plot(task, matched.reference.mean(axis=1), matched.candidate.mean(axis=1), len(ref_m.repeats), arms)))
    if tasks:
        plots += [("tokens", tokens_plot(tasks, arms)), ("latency", latency_plot(tasks, arms))]
    overall = gate["verdict"]
    colour = VERDICT_COLOURS.get(overall, "#6e7781")
    header = (
        f"<header><h1>{_e(reference)} → {_e(candidate)}</h1>"
        f"<div id='verdict-banner' class='banner' style='background:{colour}'>verdict: <b>{_e(overall)}</b> "
        f"<span class='exit'>(exit {gate['exit_code']})</span></div>"
        f"<p class='meta'>reference <b>{_e(reference)}</b>, candidate <b>{_e(candidate)}</b>; written {_e(_now())} by evals {_e(__version__)}. "
        "LOSSLESS: the drop is, with confidence, smaller than the margin; REGRESSION: larger; INCONCLUSIVE: the data cannot tell.</p></header>"
    )
    sections = [("summary", "<h2>Verdict per task</h2>" + _verdict_table(gate) + _group_tables(gate))]
    sections.append(("plots", _plot_section(plots)))
    sections.append(("answers", _browser_section(arms, comparison=True)))
    sections.append(("endpoints", "<h2>Endpoints</h2>" + _endpoint_rows([("reference", reference_runs), ("candidate", candidate_runs)])))
    data = browser_data(tasks, data_dir)
    data.update(arms=list(arms), comparison=True)
    return _page(f"evals: {reference} vs {candidate}: {overall}", header, sections, data)


def run_html(endpoints: dict[str, dict[str, Run]], data_dir: Path | None) -> str:
    """A single run's page (one or more endpoints, no pairing): its numbers, plots and answers."""
    summaries = [summarise(m, r, m.extra.get("wall_s")) for runs in endpoints.values() for m, r in runs.values()]
    rows = "".join(
        f"<tr class='task-row' data-task='{_e(s.task)}'><td>{_e(s.endpoint)}</td><td>{_e(s.task)}</td><td>{s.items:,}</td><td>{_num(s.accuracy, '.4f')}</td>"
        f"<td>{_num(s.se, '.4f')}</td><td>{_num(s.invalid_rate, '.3f')}</td><td>{s.truncated}</td><td>{s.errors}</td></tr>"
        for s in summaries
    )
    table = ("<table id='runs'><tr><th>endpoint</th><th>task</th><th>n items</th><th>accuracy</th><th>std err</th><th>invalid</th>"
             f"<th>truncated</th><th>errors</th></tr>{rows}</table>")
    sections_data: dict[str, list[Run]] = {}
    per_task: dict[str, dict[str, list[Run]]] = {}
    for endpoint, runs in endpoints.items():
        for task, run in sorted(runs.items()):
            per_task.setdefault(endpoint, {})[task] = [run]
            sections_data[f"{endpoint}/{task}"] = [run]

    plots = []
    for endpoint, tasks in per_task.items():
        plots += [(f"tokens-{endpoint}", tokens_plot(tasks, [endpoint])), (f"latency-{endpoint}", latency_plot(tasks, [endpoint]))]
    names = ", ".join(endpoints)
    header = f"<header><h1>run: {_e(names)}</h1><p class='meta'>written {_e(_now())} by evals {_e(__version__)}; one run, nothing to pair: no verdict.</p></header>"
    sections = [("summary", "<h2>Per task</h2>" + table), ("plots", _plot_section(plots)), ("answers", _browser_section(tuple(endpoints), comparison=False)),
                ("endpoints", "<h2>Endpoints</h2>" + _endpoint_rows([("run", runs) for runs in endpoints.values()]))]
    data = browser_data(sections_data, data_dir)
    data.update(arms=["answer"], comparison=False)
    return _page(f"evals run: {names}", header, sections, data)


def _group_tables(gate: dict[str, Any]) -> str:
    parts = []
    for t in gate["tasks"]:
        key, what = ("groups", "group") if t.get("groups") else ("subtasks", "subtask")  # a size-weighted lm-eval group's members: shown, not gated
        if not t.get(key):
            continue
        rows = "".join(f"<tr><td>{_e(g)}</td><td>{s['n']}</td><td>{_num(s['reference_score'], '.4f')}</td><td>{_num(s['candidate_score'], '.4f')}</td>"
                       f"<td>{_num(s['delta'])}</td><td>{_num(s['se'], '.4f')}</td><td>{'–' if s.get('flip_rate') is None else format(s['flip_rate'], '.1%')}</td></tr>"
                       for g, s in t[key].items())
        parts.append(f"<h3>{_e(t['task'])} by {what}</h3><table class='small'><tr><th>{what}</th><th>n</th><th>reference</th><th>candidate</th>"
                     f"<th>Δ</th><th>SE</th><th>flip rate</th></tr>{rows}</table>")
    return "".join(parts)


def _plot_section(plots: list[tuple[str, str]]) -> str:
    figures = "".join(f"<figure class='plot' id='plot-{_e(name)}'>{svg}</figure>" for name, svg in plots)
    return f"<h2>Plots</h2><div class='plots'>{figures}</div>"


def _browser_section(arms: Sequence[str], comparison: bool) -> str:
    directions = ("<option value='differ'>score differs (either way)</option><option value='worse'>candidate worse</option>"
                  "<option value='better'>candidate better</option><option value='all'>all items</option>") if comparison else (
                  "<option value='all'>all items</option><option value='wrong'>not fully right</option>")
    return (
        "<h2>Answers</h2>"
        "<div class='filters'><label>task <select id='f-task'><option value=''>all</option></select></label> "
        "<label>domain <select id='f-group'><option value=''>all</option></select></label> "
        f"<label>show <select id='f-dir'>{directions}</select></label> "
        "<label>item id <input id='f-id' size='16'></label> <span id='f-count'></span></div>"
        "<div id='items'></div><button id='more' hidden>show more</button>"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1f2328}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
.banner{color:#fff;padding:10px 14px;border-radius:6px;font-size:20px}.banner .exit{font-size:14px;opacity:.85}
.meta{color:#57606a;font-size:13px}table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}table.small{font-size:12px}tr.notes td{font-size:12px;color:#424a53;border-bottom:2px solid #d0d7de}
.pill{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plot{margin:0;max-width:100%}.plot svg{max-width:100%;height:auto}
.filters{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #d0d7de;z-index:1}
.item{border:1px solid #d0d7de;border-radius:6px;margin:10px 0;padding:8px 10px}.item h3{font-size:14px;margin:0 0 6px}
.dir{border-radius:10px;padding:1px 8px;font-size:12px;color:#fff}.dir.worse{background:#cf222e}.dir.better{background:#0969da}.dir.same{background:#8c959f}
.arms{display:grid;grid-template-columns:1fr 1fr;gap:10px}.arms.one{grid-template-columns:1fr}.arm{background:#f6f8fa;border-radius:6px;padding:6px 8px;min-width:0}
.arm.right{border-left:4px solid #1a7f37}.arm.wrong{border-left:4px solid #cf222e}.arm.missing{border-left:4px solid #6e7781}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;max-height:420px;overflow:auto}
mark.ans{background:#fff8c5;outline:1px solid #d4a72c}mark.gold{background:#dafbe1;outline:1px solid #1a7f37}
.chip{display:inline-block;border-radius:4px;padding:0 6px;margin-right:6px;font:12px ui-monospace,monospace;background:#eaeef2}
.chip.gold{background:#dafbe1}.chip.ok{background:#dafbe1}.chip.bad{background:#ffebe9}.err{color:#cf222e;font-size:12px}.facts{font-size:12px;color:#57606a}
details>summary{cursor:pointer;color:#0969da;font-size:12px}.missing{color:#bf8700}
"""

JS = r"""
(function(){
'use strict';
const D = JSON.parse(document.getElementById('evals-data').textContent);
const $ = id => document.getElementById(id);
const PAGE = 50;
let shown = 0, list = [];
function el(tag, cls, text){const e=document.createElement(tag); if(cls) e.className=cls; if(text!==undefined&&text!==null) e.textContent=String(text); return e;}
function option(sel, value){const o=el('option',null,value); o.value=value; sel.appendChild(o);}
D.tasks.forEach(t => option($('f-task'), t.name));
[...new Set(D.items.map(i => i.g).filter(g => g))].sort().forEach(g => option($('f-group'), g));
if(!D.items.some(i => i.g)) $('f-group').parentNode.hidden = true;
// text with the last occurrence of each needle marked; built from text nodes only, never innerHTML
function marked(text, needles){
  const pre = el('pre'); if(text===null||text===undefined){pre.appendChild(el('i',null,'(no text)')); return pre;}
  const spans = [];
  needles.forEach(([needle, cls]) => { if(!needle) return; const at = text.lastIndexOf(needle); if(at>=0) spans.push([at, at+needle.length, cls]); });
  spans.sort((a,b)=>a[0]-b[0]);
  let pos = 0;
  for(const [a,b,cls] of spans){ if(a<pos) continue; pre.appendChild(document.createTextNode(text.slice(pos,a))); pre.appendChild(el('mark',cls,text.slice(a,b))); pos=b; }
  pre.appendChild(document.createTextNode(text.slice(pos)));
  return pre;
}
function armBox(name, a, gold){
  if(!a){ const box = el('div','arm missing'); box.appendChild(el('b',null,name)); box.appendChild(el('div','err','no record: counted as the gate counts a missing answer')); return box; }
  const [resp, extracted, score, finish, ptok, ctok, lat, error, reasoning, counts] = a;
  const box = el('div','arm ' + (score >= 1 ? 'right' : 'wrong'));
  box.appendChild(el('b',null,name+' '));
  box.appendChild(el('span','chip ' + (score >= 1 ? 'ok' : 'bad'), 'extracted: ' + (extracted===null ? '(none)' : extracted)));
  box.appendChild(el('span','chip','score ' + score));
  box.appendChild(el('div','facts','finish: ' + (finish||'–') + ' · prompt tokens ' + (ptok??'–') + ' · completion tokens ' + (ctok??'–') + ' · latency ' + (lat===null?'–':lat+'s')));
  if(error) box.appendChild(el('div','err','error: ' + error + (counts ? ' (scored as the model\'s failure)' : ' (counted against the claim)')));
  if(reasoning){ const d = el('details'); d.appendChild(el('summary',null,'reasoning (' + reasoning.length.toLocaleString() + ' chars)')); d.appendChild(el('pre',null,reasoning)); box.appendChild(d); }
  box.appendChild(marked(resp, [[extracted,'ans'], [gold && gold.length > 1 && gold!==extracted ? gold : null,'gold']]));
  return box;
}
function card(it){
  const t = D.tasks[it.t];
  const c = el('div','item'); c.dataset.item = it.id;
  const h = el('h3');
  h.appendChild(el('span','dir '+it.d, it.d==='worse'?'candidate worse':it.d==='better'?'candidate better':(D.comparison?'same score':'')));
  h.appendChild(document.createTextNode(' ' + t.name + (it.g ? ' · ' + it.g : '') + ' · ' + it.id + ' · mean score ' + it.s.join(' → ')));
  c.appendChild(h);
  if(it.gold!==null && it.gold!==undefined) c.appendChild(el('span','chip gold','gold: ' + it.gold));
  if(it.sol){ const d = el('details'); d.appendChild(el('summary',null,'reference solution')); d.appendChild(el('pre',null,it.sol)); c.appendChild(d); }
  // with repeats, the draws where the arms scored alike go in one collapsed block below the others
  const score = a => a ? a[2] : null;
  const differs = dr => dr.a.length > 1 && score(dr.a[0]) !== score(dr.a[1]);
  const alike = t.repeats > 1 && D.comparison ? it.r.filter(dr => !differs(dr)) : [];
  it.r.filter(dr => !alike.includes(dr)).forEach(dr => c.appendChild(drawBox(t, it, dr)));
  if(alike.length){ const d = el('details'); d.appendChild(el('summary',null,alike.length + ' repeat(s) the arms scored alike')); alike.forEach(dr => d.appendChild(drawBox(t, it, dr))); c.appendChild(d); }
  return c;
}
function drawBox(t, it, dr){
  const box = el('div','draw');
  if(t.repeats > 1) box.appendChild(el('div','facts','repeat ' + dr.k + (dr.gold ? ' · gold ' + dr.gold : '')));
  const d = el('details','prompt'); d.appendChild(el('summary',null,'prompt'));
  if(dr.p===null||dr.p===undefined) d.appendChild(el('div','facts', t.note || 'prompt not shown: the rebuilt request does not match the one sent'));
  else { if(dr.x){ const s = el('details'); s.appendChild(el('summary',null,'shared prefix of every ' + t.name + ' prompt (' + t.prefix.length.toLocaleString() + ' chars)')); s.appendChild(el('pre',null,t.prefix)); d.appendChild(s);} d.appendChild(el('pre',null,dr.p)); }
  box.appendChild(d);
  const arms = el('div','arms' + (dr.a.length===1?' one':''));
  dr.a.forEach((a,i) => arms.appendChild(armBox(D.arms[i], a && a[0] === 1 ? [dr.a[0][0], ...a.slice(1)] : a, dr.gold)));
  box.appendChild(arms);
  return box;
}
function keep(it){
  const task = $('f-task').value, group = $('f-group').value, dir = $('f-dir').value, id = $('f-id').value.trim();
  if(task && D.tasks[it.t].name!==task) return false;
  if(group && it.g!==group) return false;
  if(id && !it.id.includes(id)) return false;
  if(dir==='differ') return it.d!=='same';
  if(dir==='worse'||dir==='better') return it.d===dir;
  if(dir==='wrong') return it.s[0] < 1;
  return true;
}
function more(){
  const box = $('items'), end = Math.min(list.length, shown + PAGE);
  const frag = document.createDocumentFragment();
  for(let i=shown;i<end;i++) frag.appendChild(card(list[i]));
  box.appendChild(frag); shown = end;
  $('more').hidden = shown >= list.length;
  $('more').textContent = 'show more (' + (list.length - shown).toLocaleString() + ' left)';
}
function update(){
  list = D.items.filter(keep); shown = 0; $('items').textContent = '';
  $('f-count').textContent = list.length.toLocaleString() + ' of ' + D.items.length.toLocaleString() + ' items';
  if(!list.length) $('items').appendChild(el('p','facts', D.comparison && $('f-dir').value!=='all' ? 'no item scored differently between the arms here; choose “all items” to browse them' : 'no items'));
  more();
}
['f-task','f-group','f-dir'].forEach(id => $(id).addEventListener('change', update));
$('f-id').addEventListener('input', update);
$('more').addEventListener('click', more);
update();
document.body.dataset.ready = '1';
})();
"""
