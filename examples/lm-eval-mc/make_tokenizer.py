"""Writes tokenizer/: a tiny byte-level BPE tokenizer (GPT-2's scheme, 400 tokens) trained on this
folder's questions, so that the example runs offline, end to end, against `evals sim --tokenizer`.

A real model's endpoint needs that model's own tokenizer instead (a hub id or a folder): prompt
logprobs are per token, and lm-eval finds where the answer starts by tokenizing the prompt.

    python examples/lm-eval-mc/make_tokenizer.py
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
EOS = "<|endoftext|>"


def corpus() -> list[str]:
    lines = []
    for path in sorted(HERE.glob("*.jsonl")):
        for row in map(json.loads, path.read_text().splitlines()):
            choices = row.get("choices") or [row["answer"]]
            lines.append(f"Question: {row['question']}\nAnswer: " + " ".join(choices))
    return lines


def build(folder: Path, vocab_size: int = 400) -> Path:
    """Train the tokenizer and save it as a Hugging Face tokenizer folder (AutoTokenizer loads it)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus(), trainer)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS).save_pretrained(folder)
    return folder


if __name__ == "__main__":
    build(HERE / "tokenizer")
