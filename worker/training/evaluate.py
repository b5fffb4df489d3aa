"""Held-out figures and samples for a trained model (`atelier eval`), and its model card.

Bits per character do not depend on the tokenizer, so models with different vocabularies
compare fairly; perplexity per token is reported too.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from worker.training.data import encode_lines, eval_windows

SAMPLE_PROMPTS = (
    "The sea at dusk",
    "A lantern in the orchard",
    "Winter comes to the city",
    "O moon, that",
)


@dataclass
class EvalReport:
    nats_per_token: float
    perplexity: float
    bits_per_char: float
    tokens: int
    characters: int
    samples: dict[str, str]


@torch.no_grad()
def evaluate(
    model_dir: Path,
    test_lines: list[str],
    *,
    context: int = 256,
    max_windows: int | None = None,
    seed: int = 7,
) -> EvalReport:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    context = min(
        context,
        int(
            getattr(model.config, "n_positions", 0)
            or getattr(model.config, "max_position_embeddings", context)
        ),
    )
    tokens = encode_lines(tokenizer, test_lines)
    total_nats, total_tokens, total_chars = 0.0, 0, 0
    for piece in eval_windows(tokens, context=context, limit=max_windows):
        row = torch.from_numpy(piece)[None]
        logits = model(input_ids=row[:, :-1]).logits
        nll = F.cross_entropy(logits.float()[0], row[0, 1:], reduction="sum")
        total_nats += float(nll)
        total_tokens += row.shape[1] - 1
        total_chars += len(tokenizer.decode(piece[1:].tolist()))
    nats = total_nats / max(total_tokens, 1)
    return EvalReport(
        nats_per_token=nats,
        perplexity=math.exp(nats),
        bits_per_char=total_nats / math.log(2) / max(total_chars, 1),
        tokens=total_tokens,
        characters=total_chars,
        samples=_samples(model, tokenizer, seed, context),
    )


def _samples(model: Any, tokenizer: Any, seed: int, context: int) -> dict[str, str]:
    out = {}
    for prompt in SAMPLE_PROMPTS:
        torch.manual_seed(seed)
        enc = tokenizer(prompt, return_tensors="pt")
        room = max(context - int(enc["input_ids"].shape[1]), 1)
        ids = model.generate(
            **enc,
            max_new_tokens=min(60, room),
            do_sample=True,
            temperature=0.8,
            top_p=0.95,
            pad_token_id=tokenizer.pad_token_id,
        )
        out[prompt] = tokenizer.decode(ids[0], skip_special_tokens=True)
    return out


def write_card(model_dir: Path, report: EvalReport, *, command: str, data: str) -> Path:
    """The model card: data, recipe, command, figures, samples and limits."""
    recipe_file = model_dir / "training.json"
    recipe = json.loads(recipe_file.read_text()) if recipe_file.exists() else {}
    config = recipe.get("config", {})
    history = recipe.get("history", [])
    lines = [
        f"# {model_dir.name}",
        "",
        "A small poetry language model trained by Atelier's own `atelier train`.",
        "",
        "## Data",
        "",
        data,
        "",
        "## Recipe",
        "",
        "```",
        recipe.get("command", "(not recorded)"),
        "```",
        "",
        "| setting | value |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in config.items() if k not in ("extra",)),
        "",
        "## Figures (held-out test split)",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| bits per character | {report.bits_per_char:.3f} |",
        f"| nats per token | {report.nats_per_token:.3f} |",
        f"| perplexity per token | {report.perplexity:.1f} |",
        f"| tokens scored | {report.tokens:,} |",
        f"| characters scored | {report.characters:,} |",
        "",
        f"Measured with `{command}`.",
        "",
    ]
    if history:
        last = history[-1]
        lines += [
            f"Training ended at step {int(last['step'])} with validation loss "
            f"{last['val_loss']:.3f} nats/token at {last['tokens_per_s']:,.0f} tokens/s.",
            "",
        ]
    lines += ["## Samples (seed 7, temperature 0.8, top-p 0.95)", ""]
    for prompt, text in report.samples.items():
        lines += [f"**{prompt}**", "", "```", text, "```", ""]
    lines += [
        "## Limits",
        "",
        "A few million parameters trained for about an hour on two CPU cores: it has the line "
        "shapes and diction of nineteenth-century verse, not sense. It knows no facts and "
        "should not be asked for any. The corpus is public-domain poetry, with the biases of "
        "its era.",
        "",
    ]
    card = model_dir / "README.md"
    card.write_text("\n".join(lines))
    (model_dir / "eval.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return card
