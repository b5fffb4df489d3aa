"""Attention for a decoding step of a padded batch, in plain matmuls.

A decoding step asks one query per row against the row's cached keys. In a batch of rows
with different lengths (left padding, rows that joined later) the step needs a padding
mask, and with a mask torch's SDPA on the CPU runs its flash-attention kernel, made for
long queries: for the bundled poet's 64 rows, 4 heads and 20 to 80 positions it took
0.16-0.77 ms a layer against 0.15-0.53 ms for the two matmuls and the softmax below,
measured alone, one thread (the gap grows with the length). Inside a whole step the gain
is smaller, about 0.15 of 22 ms, since the cached keys and values come from memory either
way (longer prompts should gain more; not measured in a step). Everything else (prefill,
rows without padding, grouped-query heads, a GPU) goes to transformers' SDPA as before.

The result is the same attention up to float rounding (at most about 1e-6 apart in fp32),
the size of the differences padding itself causes; a job still gives the same text alone
or in any batch (`tests/worker/decoding/`).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "atelier_decode"  # transformers' name for this attention (its masks are SDPA's)
# Arguments this path does not implement; any of them set sends the call to SDPA.
_SDPA_ONLY = ("softcap", "position_bias", "s_aux", "sinks")


def decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: query (batch, heads, q_len, dim), key and value
    (batch, heads, length, dim), a boolean mask (batch, 1, q_len, length) where True
    attends. Returns (batch, q_len, heads, dim), as SDPA's wrapper does."""
    if not _plain_step(query, key, attention_mask, dropout, kwargs):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    assert attention_mask is not None
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(-1, -2)).mul_(scale)  # (batch, heads, 1, length)
    # Each row's own (newest) position is always real, so no row is masked out entirely.
    scores.masked_fill_(attention_mask.logical_not(), float("-inf"))
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    out = torch.matmul(weights, value)  # (batch, heads, 1, dim)
    return out.transpose(1, 2).contiguous(), None


def _plain_step(
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    dropout: float,
    kwargs: dict[str, Any],
) -> bool:
    """Whether this call is a CPU decoding step with a padding mask, one key head per
    query head, and nothing SDPA-only asked for."""
    return (
        query.shape[2] == 1
        and mask is not None
        and mask.dtype == torch.bool
        and key.shape[1] == query.shape[1]
        and query.device.type == "cpu"
        and not dropout
        and all(kwargs.get(name) is None for name in _SDPA_ONLY)
    )


def use_decode_attention(model: Any) -> bool:
    """Switch a model that runs transformers' SDPA to this attention (registered once per
    process under `NAME`, with SDPA's mask). Returns whether it switched."""
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, decode_attention)  # the same entry each time
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
