"""Tiny real text-classification models built offline from a config (random weights), saved
to a directory that `pipeline("text-classification", model=dir)` loads like a real one.

The classifier head's weights are zeroed and its bias set, so the verdict is the same for
every text: one model always says `unsafe`, the other always `safe`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from tests.support.tiny_models import build_tokenizer

LABELS = {0: "safe", 1: "unsafe"}


def build_tiny_classifier(out: Path, *, flags: bool) -> Path:
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 64  # the position table below: longer texts are truncated
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 6.0] if flags else [6.0, 0.0]))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
