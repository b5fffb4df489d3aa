"""Loading a causal LM and its tokenizer for batched, left-padded generation.

Shared by the text and melody generators: a hub id or a local directory, the tokenizer
padded on the left (every row of a batch ends where generation starts), the model moved to
the worker's device and put in eval mode, with GPT-2's tanh GELU as one fused kernel, a
padded batch's decoding steps on plain-matmul attention (`decode_attention`) and, on a CPU,
the LM head's weight laid out the way its matmul reads fastest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.activations import GELUTanh, NewGELUActivation
from transformers.utils import logging as hf_logging

from worker.generators.decode_attention import use_decode_attention


def load_causal_lm(model_id: str, *, device: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """The tokenizer and the eval-mode model of `model_id`, on `device` in `dtype`.

    A tokenizer without a pad token pads with its end-of-text token (when it has one).
    """
    hf_logging.disable_progress_bar()  # keep the worker's log readable
    local = Path(model_id).expanduser().is_dir()
    # A local directory never touches the network; a hub id downloads only because the
    # operator named it (and not at all under HF_HUB_OFFLINE=1).
    kwargs: dict[str, Any] = {"local_files_only": True} if local else {}
    source = str(Path(model_id).expanduser()) if local else model_id
    tokenizer: Any = AutoTokenizer.from_pretrained(source, **kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    fuse_gelu(model)
    use_decode_attention(model)
    model = model.to(device).eval()
    if torch.device(device).type == "cpu":
        column_major_head(model)
    return tokenizer, model


def fuse_gelu(model: torch.nn.Module) -> int:
    """Swap every `NewGELUActivation` (GPT-2's `gelu_new`: the tanh approximation written
    out as seven elementwise operators, each a pass over the MLP's activations) for
    `GELUTanh`, the same formula in torch's one fused kernel. On the bundled poet's MLP
    (64 rows x 1024) one call takes 0.11 ms instead of 0.24, one thread; the two differ
    by at most 2.4e-7. Every path that generates (static, continuous, fluency scoring)
    loads through here, so they all run the same activation. Returns how many were swapped."""
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, name, GELUTanh())
                swapped += 1
    return swapped


def column_major_head(model: Any) -> bool:
    """Store the LM head's weight (vocab, hidden) column-major: the same values, strides
    (1, vocab), so `linear` computes `x @ W.T` from a contiguous (hidden, vocab) matrix. On
    a CPU that matmul is faster for a decoding step's few rows: 64 x 256 against the bundled
    poet's 8,192 x 256 took 4.0-4.2 ms instead of 4.6-4.7, one thread, with bit-identical
    logits. A tied input embedding shares the storage (no second copy) and looks its rows
    up strided, about 0.07 ms for 64 tokens. Returns whether the weight was re-laid."""
    head = model.get_output_embeddings()
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.stride(1) != 1:
        return False
    with torch.no_grad():
        weight.data = weight.data.t().contiguous().t()
    return True
