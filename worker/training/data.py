"""Token streams for training: a split's lines encoded once, cached as a flat uint16/uint32
array, and deterministic batches drawn from it.

Batches are a pure function of (seed, step): resuming at step k draws exactly the batches an
uninterrupted run would have drawn, with no random state to save.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHUNK_LINES = 4096


def encode_lines(tokenizer: Any, lines: Sequence[str]) -> np.ndarray:
    """Encode lines joined by newlines (the poem's form) into one flat token array."""
    backend = tokenizer.backend_tokenizer
    dtype = np.uint16 if len(tokenizer) <= 65535 else np.uint32
    parts: list[np.ndarray] = []
    newline = tokenizer.encode("\n", add_special_tokens=False)
    for start in range(0, len(lines), CHUNK_LINES):
        chunk = lines[start : start + CHUNK_LINES]
        encoded = backend.encode_batch([line + "\n" for line in chunk], add_special_tokens=False)
        ids = [i for enc in encoded for i in enc.ids]
        parts.append(np.asarray(ids, dtype=dtype))
    if not parts:
        return np.asarray(newline, dtype=dtype)
    return np.concatenate(parts)


def cached_tokens(tokenizer: Any, lines: Sequence[str], path: Path) -> np.ndarray:
    """The encoded split, from `path` (.npy) when present."""
    if path.exists():
        loaded: np.ndarray = np.load(path, mmap_mode="r")
        return loaded
    tokens = encode_lines(tokenizer, lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, tokens)
    tmp.replace(path)
    return tokens


def batch_at(
    tokens: np.ndarray, *, seed: int, step: int, batch_size: int, context: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows for one step: inputs (batch, context) and next-token targets."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - context - 1, size=batch_size)
    rows = np.stack([np.asarray(tokens[s : s + context + 1], dtype=np.int64) for s in starts])
    window = torch.from_numpy(rows)
    return window[:, :-1], window[:, 1:]


def eval_windows(tokens: np.ndarray, *, context: int, limit: int | None = None) -> list[np.ndarray]:
    """Consecutive, non-overlapping windows covering the split (for loss and bits/char)."""
    windows = []
    for start in range(0, len(tokens) - 1, context):
        piece = np.asarray(tokens[start : start + context + 1], dtype=np.int64)
        if len(piece) >= 2:
            windows.append(piece)
        if limit is not None and len(windows) >= limit:
            break
    return windows
