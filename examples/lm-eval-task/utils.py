"""Scoring for the example `arith` tasks: lm-eval calls `process_results` once per filter."""


def _number(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """exact_match is 0/1; closeness gives partial credit, 1 − relative error, floored at 0."""
    gold, pred = int(doc["answer"]), _number(results[0])
    exact = float(pred == gold)
    closeness = 0.0 if pred is None else max(0.0, 1.0 - abs(pred - gold) / max(abs(gold), 1))
    return {"exact_match": exact, "closeness": closeness}
