"""The shared loader: GPT-2's tanh GELU runs as torch's fused kernel, the same function."""

from __future__ import annotations

import math

import torch
from transformers.activations import GELUTanh, NewGELUActivation

from worker.generators.transformers_load import fuse_gelu, load_causal_lm
from worker.models import bundled_poet


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's `gelu_new`, written out."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def test_the_poet_loads_with_the_fused_gelu_and_the_same_function() -> None:
    poet = bundled_poet()
    assert poet is not None, "worker/models/poet is part of the repository"
    _, model = load_causal_lm(str(poet), device="cpu", dtype=torch.float32)
    acts = [block.mlp.act for block in model.transformer.h]
    assert acts and all(type(act) is GELUTanh for act in acts)
    assert not any(type(m) is NewGELUActivation for m in model.modules())
    x = torch.randn(64, 1024, generator=torch.Generator().manual_seed(0)) * 4
    assert torch.allclose(acts[0](x), _gelu_new(x), atol=1e-6, rtol=0)
    assert fuse_gelu(model) == 0  # nothing left to swap


def test_fuse_gelu_swaps_nested_activations_only() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), NewGELUActivation(), torch.nn.Sequential(NewGELUActivation())
    )
    assert fuse_gelu(model) == 2
    assert type(model[1]) is GELUTanh and type(model[2][0]) is GELUTanh
    assert type(model[0]) is torch.nn.Linear
