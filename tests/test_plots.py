"""report.html's hand-written SVG plots (evals/plots.py): well-formed, on the right scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evals.plots import (
    discordance_plot,
    forest_plot,
    latency_plot,
    ticks,
    tokens_plot,
)

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (-0.0312, 0.0117), (20, 22), (0.043, 0.287), (0, 1319), (-0.3, 0.0), (5, 5)])
def test_ticks_are_round_evenly_spaced_and_inside_the_range(lo: float, hi: float) -> None:
    found = ticks(lo, hi)
    values = [v for v, _ in found]
    assert len(values) >= 2 or lo == hi
    assert all(lo - 1e-12 <= v <= max(hi, lo + 1) + 1e-12 for v in values)
    steps = {round(b - a, 12) for a, b in zip(values, values[1:])}
    assert len(steps) <= 1
    for v, label in found:  # the label says the value (with a true minus sign)
        assert float(label.replace("−", "-").replace(",", "")) == pytest.approx(v, abs=1e-9)


def _forest(delta: float, ci: tuple[float, float], margin: float, verdict: str) -> ET.Element:
    gate = {"tasks": [{"task": "gsm8k", "delta": delta, "ci": list(ci), "margin": margin, "verdict": verdict, "alpha": 0.025}]}
    return ET.fromstring(forest_plot(gate))


def test_forest_plot_puts_margin_estimate_and_zero_in_order() -> None:
    svg = _forest(-0.01, (-0.03, 0.01), 0.02, "INCONCLUSIVE")
    margin = svg.find(".//s:line[@id='forest-task-gsm8k']", NS)
    assert margin is not None and margin.get("stroke-dasharray")
    diamond = svg.find(".//s:path[@fill]", NS)
    assert diamond is not None and "Δ -0.0100" in diamond.findtext("s:title", namespaces=NS).replace("+", "")
    x_diamond = float(re.match(r"M([\d.]+),", diamond.get("d")).group(1))
    x_margin = float(margin.get("x1"))
    zero = [line for line in svg.findall("s:line", NS) if line.get("stroke") == "#8c959f"]
    assert len(zero) == 1
    x_zero = float(zero[0].get("x1"))
    # −0.02, −0.01 and 0 are equally spaced on a linear scale
    assert x_margin < x_diamond < x_zero
    assert x_diamond - x_margin == pytest.approx(x_zero - x_diamond, abs=0.2)


def test_discordance_bars_are_shares_of_the_draws() -> None:
    counts = {"gsm8k": {"both right": 99, "only reference right": 13, "only candidate right": 5, "neither": 33}}
    svg = ET.fromstring(discordance_plot(counts, {"gsm8k": 0.12}))
    bars = [r for r in svg.findall("s:rect", NS) if r.find("s:title", NS) is not None]
    widths = [float(r.get("width")) for r in bars]
    total = sum(widths)
    for r, kind in zip(bars, counts["gsm8k"], strict=True):
        assert kind in r.findtext("s:title", namespaces=NS)
        assert float(r.get("width")) / total == pytest.approx(counts["gsm8k"][kind] / 150, abs=0.002)


def test_runs_without_latency_or_tokens_still_plot(tmp_path: Path, data_dir: Path) -> None:
    """An engine's records (tau2 through inspect) may carry no latency and no token counts for an
    arm: that arm's row is empty, the plot is still drawn."""
    from evals.synthetic import comparison_runs, write_gpqa_like

    data = write_gpqa_like(tmp_path / "data", n=20)
    (data / "gsm8k").symlink_to(data_dir / "gsm8k")
    reference, candidate = comparison_runs(data, data, gpqa_repeats=2)
    for _, records in candidate.values():
        for r in records:
            r.latency_s = None
            r.completion_tokens = None
    tasks = {t: [reference[t], candidate[t]] for t in sorted(reference)}
    latency = ET.fromstring(latency_plot(tasks, ("reference", "candidate")))
    boxes = [r for r in latency.findall("s:rect", NS) if r.find("s:title", NS) is not None]
    assert len(boxes) == len(tasks)  # the reference's boxes only
    ET.fromstring(tokens_plot(tasks, ("reference", "candidate")))
