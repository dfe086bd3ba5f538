"""The simulator's prompt logprobs: `/v1/completions` with `echo` and `logprobs`, served as vLLM
serves them, so that lm-eval's `loglikelihood` and `multiple_choice` tasks can be run (and
compared) before any GPU exists.

The body follows vLLM's `serving_completion.py` (`request_output_to_completion_response` with
`echo`): one choice per prompt (a prompt is text, or token ids), its `text` the prompt then the
one generated token, and `logprobs` with `tokens` (each token decoded alone), `token_logprobs`
(None for the first prompt token, which nothing precedes), `top_logprobs` (None, then a dict per
position holding the token itself and the `logprobs` most likely, as vLLM includes the token
even when it is not among them) and `text_offset` (the sum of the decoded tokens' lengths).

What the numbers mean: the answer candidate is the text after the prompt's last "Answer:" (the
convention of the example tasks, examples/lm-eval-mc/), the question is recognised by the
simulator's catalogs, and `SimModel` decides per (item, seed, profile) whether the model "knows"
it. If it does, the gold answer's tokens are the most likely (greedy, and far above any other
candidate); if not, the gold answer is the least likely. Every other number is a fixed function
of (seed, token, position), so the same request always gets the same body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.simmodel import Profile, SimModel, uniform

ANSWER_MARK = "Answer:"
KNOWN_TOTAL = -0.2  # the gold answer's log-likelihood when the model knows it: above any other
UNKNOWN_TOTAL = -20.0  # ... and when it does not: below any other, also per byte (acc_norm)
GENERATED_LOGPROB = -0.05  # the one token generated after the echo (max_tokens = 1)


def load_tokenizer(path: str) -> Any:
    """A Hugging Face tokenizer (folder or hub id), as vLLM loads its model's. Imported here: the
    simulator without prompt logprobs needs no transformers."""
    import os

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(path if not Path(path).is_dir() else str(Path(path).resolve()))


def prompts_of(prompt: Any) -> list[str | list[int]]:
    """The prompts of one `/v1/completions` body: text, token ids, or a list of either."""
    if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt)):
        return [prompt]
    return list(prompt) if isinstance(prompt, list) else [str(prompt)]


def echo_choices(tokenizer: Any, body: dict[str, Any], catalogs: list[Any], model: SimModel, profile: Profile) -> tuple[list[dict[str, Any]], int]:
    """The choices of an echo + logprobs answer, and the prompt tokens they hold."""
    draw = int(body.get("seed") or 0)
    top = max(int(body.get("logprobs") or 0), 0)
    choices, prompt_tokens = [], 0
    for index, prompt in enumerate(prompts_of(body.get("prompt", ""))):
        ids = tokenizer(prompt, add_special_tokens=True).input_ids if isinstance(prompt, str) else list(prompt)
        choices.append(_choice(tokenizer, ids, index, catalogs, model, profile, draw, top))
        prompt_tokens += len(ids)
    return choices, prompt_tokens


def _choice(tokenizer: Any, ids: list[int], index: int, catalogs: list[Any], model: SimModel, profile: Profile, draw: int, top: int) -> dict[str, Any]:
    pieces = [tokenizer.decode([t]) for t in ids]
    text = "".join(pieces)
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    # The candidate answer: the tokens that start after the last "Answer:", scored as one.
    mark = text.rfind(ANSWER_MARK)
    start = mark + len(ANSWER_MARK) if mark >= 0 else len(text)
    answer = [i for i, offset in enumerate(offsets) if offset >= start and i > 0]
    total = None
    if answer:
        question = next((q for q in (c.find(text[:start]) for c in catalogs) if q is not None), None)
        candidate = text[start:].strip()
        if question is not None:
            if candidate == question.answer:
                total = KNOWN_TOTAL if model.correct(question.item_id, draw, profile) else UNKNOWN_TOTAL
            else:
                total = -2.0 - 3.0 * uniform(model.seed, question.item_id, candidate, "candidate")
    greedy = total == KNOWN_TOTAL
    generated = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else ids[-1]
    token_logprobs: list[float | None] = [None]
    top_logprobs: list[dict[str, float] | None] = [None]
    for i in range(1, len(ids) + 1):
        token = ids[i] if i < len(ids) else generated
        if i == len(ids):
            value, is_max = GENERATED_LOGPROB, True
        elif total is not None and i in answer:
            value, is_max = total / len(answer), greedy
        else:
            value, is_max = -1.0 - 2.0 * uniform(model.seed, token, i, "context"), False
        token_logprobs.append(value)
        top_logprobs.append(_top(tokenizer, token, value, is_max, top))
    pieces.append(tokenizer.decode([generated]))
    offsets.append(at)
    return {
        "index": index,
        "text": text + pieces[-1],
        "finish_reason": "length",
        "logprobs": {"tokens": pieces, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets},
    }


def _top(tokenizer: Any, token: int, value: float, is_max: bool, top: int) -> dict[str, float]:
    """The token itself and, when it is not the most likely, the `top` tokens above it."""
    out = {tokenizer.decode([token]): value}
    if not is_max:
        size = len(tokenizer)
        for k in range(top):
            other = tokenizer.decode([(token + 1 + k) % size])
            if other not in out:
                out[other] = value + 0.5 / (k + 1)
    return out
