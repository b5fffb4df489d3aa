"""Train or fine-tune a small GPT-style poet (`atelier train`).

The script owns the device and dtype policy (bf16 autocast where the CPU or GPU has it), the
schedule (linear warm-up, cosine decay), clipping, periodic validation, checkpoints and
resume. Batches are a pure function of (seed, step) and dropout is off, so a resumed run
retraces an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)
from transformers.utils import logging as hf_logging

from worker.training.data import batch_at, cached_tokens, eval_windows
from worker.training.tokenizer import train_tokenizer

CHECKPOINT = "checkpoint"


@dataclass
class TrainConfig:
    out: Path
    corpus: str = "gutenberg-poetry"
    from_model: str | None = None
    arch: str = "gpt2"  # or "llama"
    layers: int = 4
    width: int = 256
    heads: int = 4
    context: int = 256
    vocab_size: int = 8192
    batch_size: int = 16
    tokens: int = 20_000_000  # training tokens in all (steps = tokens / (batch x context))
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 200
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    precision: str = "auto"  # auto, fp32, bf16
    eval_every: int = 500
    eval_windows: int = 64
    checkpoint_every: int = 500
    seed: int = 1234
    save_dtype: str = "bf16"
    resume: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return max(self.tokens // (self.batch_size * self.context), 1)


@dataclass
class TrainSummary:
    steps: int
    train_loss: float
    val_loss: float
    seconds: float
    tokens_per_s: float
    history: list[dict[str, float]]


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


def use_bf16(precision: str, device: str) -> bool:
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    return bool(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")() in {"AVX512"})


def build_model(cfg: TrainConfig, tokenizer: Any) -> Any:
    eos = tokenizer.eos_token_id
    common = dict(vocab_size=len(tokenizer), bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    if cfg.arch == "llama":
        config: Any = LlamaConfig(
            hidden_size=cfg.width,
            intermediate_size=cfg.width * 4,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            num_key_value_heads=cfg.heads,
            max_position_embeddings=cfg.context,
            tie_word_embeddings=True,
            **common,
        )
        return LlamaForCausalLM(config)
    config = GPT2Config(
        n_embd=cfg.width,
        n_layer=cfg.layers,
        n_head=cfg.heads,
        n_positions=cfg.context,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **common,
    )
    return GPT2LMHeadModel(config)


def _optimizer(model: Any, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    plain = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)


def loss_on(model: Any, x: torch.Tensor, y: torch.Tensor, bf16: bool, device: str) -> torch.Tensor:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=x.to(device)).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.to(device).reshape(-1))


@torch.no_grad()
def validate(model: Any, windows: list[np.ndarray], bf16: bool, device: str) -> float:
    model.eval()
    total, count = 0.0, 0
    for piece in windows:
        row = torch.from_numpy(piece)[None]
        loss = loss_on(model, row[:, :-1], row[:, 1:], bf16, device)
        total += float(loss) * (row.shape[1] - 1)
        count += row.shape[1] - 1
    model.train()
    return total / max(count, 1)


def train(
    cfg: TrainConfig,
    train_lines: list[str],
    val_lines: list[str],
    *,
    device: str = "cpu",
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
    stop_at: int | None = None,
) -> TrainSummary:
    """Train to `cfg.steps`; with `stop_at`, pause after that step (checkpointed), to be
    resumed later by the same command."""
    hf_logging.disable_progress_bar()
    torch.manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    ckpt = cfg.out / CHECKPOINT
    resuming = cfg.resume and (ckpt / "state.pt").exists()
    model: Any
    if resuming:
        tokenizer = AutoTokenizer.from_pretrained(ckpt)
        model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    elif cfg.from_model:
        tokenizer = AutoTokenizer.from_pretrained(cfg.from_model)
        model = AutoModelForCausalLM.from_pretrained(cfg.from_model, dtype=torch.float32)
    else:
        tokenizer = train_tokenizer(train_lines, vocab_size=cfg.vocab_size)
        model = build_model(cfg, tokenizer)
    model = model.to(device).train()
    cache = cache_dir or cfg.out / "tokens"
    vocab = json.dumps(sorted(tokenizer.get_vocab().items())).encode()
    key = f"{len(tokenizer)}-{hashlib.sha256(vocab).hexdigest()[:12]}"
    train_tokens = cached_tokens(tokenizer, train_lines, cache / f"train-{key}.npy")
    val_tokens = cached_tokens(tokenizer, val_lines, cache / f"val-{key}.npy")
    windows = eval_windows(val_tokens, context=cfg.context, limit=cfg.eval_windows)
    optimizer = _optimizer(model, cfg)
    bf16 = use_bf16(cfg.precision, device)
    start, history = 0, []
    if resuming:
        state = torch.load(ckpt / "state.pt", weights_only=False)
        _check_same_run(state.get("config", {}), cfg)
        optimizer.load_state_dict(state["optimizer"])
        start, history = int(state["step"]), list(state["history"])
        log(f"resuming at step {start} of {cfg.steps}")
    params = sum(p.numel() for p in model.parameters())
    log(
        f"training {params / 1e6:.1f}M parameters on {len(train_tokens):,} tokens, "
        f"{cfg.steps} steps of {cfg.batch_size}x{cfg.context}, {'bf16' if bf16 else 'fp32'}, "
        f"{device}"
    )
    began, seen, loss_value, val_loss = time.perf_counter(), 0, float("nan"), float("nan")
    end = min(cfg.steps, stop_at) if stop_at else cfg.steps
    for step in range(start, end):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        x, y = batch_at(
            train_tokens, seed=cfg.seed, step=step, batch_size=cfg.batch_size, context=cfg.context
        )
        loss = loss_on(model, x, y, bf16, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        loss_value, seen = float(loss.detach()), seen + x.numel()
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            val_loss = validate(model, windows, bf16, device)
            rate = seen / (time.perf_counter() - began)
            history.append(
                {"step": done, "train_loss": loss_value, "val_loss": val_loss, "tokens_per_s": rate}
            )
            log(
                f"step {done}/{cfg.steps} loss {loss_value:.3f} val {val_loss:.3f} "
                f"lr {lr_at(cfg, step):.2e} {rate:,.0f} tokens/s"
            )
        if done % cfg.checkpoint_every == 0 or done == end:
            _checkpoint(model, tokenizer, optimizer, done, history, ckpt, cfg)
    seconds = time.perf_counter() - began
    if end == cfg.steps:
        _save_final(model, tokenizer, cfg, history)
    return TrainSummary(end, loss_value, val_loss, seconds, seen / max(seconds, 1e-9), history)


# Settings that shape the run: resuming with any of them changed would not retrace it.
RUN_SHAPING = (
    "corpus",
    "from_model",
    "arch",
    "layers",
    "width",
    "heads",
    "context",
    "vocab_size",
    "batch_size",
    "tokens",
    "lr",
    "min_lr",
    "warmup",
    "weight_decay",
    "grad_clip",
    "precision",
    "seed",
)


def _check_same_run(saved: dict[str, Any], cfg: TrainConfig) -> None:
    now = _jsonable(cfg)
    changed = [k for k in RUN_SHAPING if k in saved and saved[k] != now.get(k)]
    if changed:
        raise ValueError(
            f"{cfg.out / CHECKPOINT} belongs to a run with different {', '.join(changed)}; "
            "use another --out, or --no-resume to start over."
        )


def _checkpoint(
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    step: int,
    history: list[dict[str, float]],
    ckpt: Path,
    cfg: TrainConfig,
) -> None:
    tmp = ckpt.with_name(CHECKPOINT + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "step": step,
            "history": history,
            "config": _jsonable(cfg),
        },
        tmp / "state.pt",
    )
    if ckpt.exists():
        for old in ckpt.iterdir():
            old.unlink()
        ckpt.rmdir()
    tmp.replace(ckpt)


def _save_final(
    model: Any, tokenizer: Any, cfg: TrainConfig, history: list[dict[str, float]]
) -> None:
    dtype = torch.bfloat16 if cfg.save_dtype == "bf16" else torch.float32
    final = model.to("cpu").to(dtype)
    eos = tokenizer.eos_token_id
    final.generation_config = GenerationConfig(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    final.save_pretrained(cfg.out)
    tokenizer.save_pretrained(cfg.out)
    recipe = {
        "config": _jsonable(cfg),
        "history": history,
        "command": " ".join(["atelier", *sys.argv[1:]]),
    }
    (cfg.out / "training.json").write_text(json.dumps(recipe, indent=2) + "\n")
    model.to(torch.float32)


def _jsonable(cfg: TrainConfig) -> dict[str, Any]:
    data = asdict(cfg)
    data["out"] = str(cfg.out)
    return data
