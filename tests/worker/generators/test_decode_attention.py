"""The loader's decoding attention and LM head layout: the same numbers as transformers' own
model, on the bundled poet and on random decode-step tensors."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from worker.generators.decode_attention import NAME, decode_attention
from worker.generators.transformers_load import fuse_gelu, load_causal_lm
from worker.models import bundled_poet


def _step_tensors(
    rows: int = 16, heads: int = 4, length: int = 30, dim: int = 64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A decoding step as the model hands it over: the query split out of a fused
    projection (not contiguous), keys and values views of a cache with spare room, and a
    left-padding mask (row i pads its first i % 7 positions)."""
    gen = torch.Generator().manual_seed(3)
    fused = torch.randn(rows, 1, 3 * heads * dim, generator=gen)
    query = fused[..., : heads * dim].view(rows, 1, heads, dim).transpose(1, 2)
    room = torch.randn(2, rows, heads, length + 8, dim, generator=gen)
    key, value = room[0, :, :, :length], room[1, :, :, :length]
    mask = torch.ones(rows, 1, 1, length, dtype=torch.bool)
    for i in range(rows):
        mask[i, ..., : i % 7] = False
    return query, key, value, mask


def test_a_padded_decoding_step_matches_sdpa() -> None:
    query, key, value, mask = _step_tensors()
    module = torch.nn.Module()
    ours, _ = decode_attention(module, query, key, value, mask, scaling=0.125)
    theirs, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.125)
    assert ours.shape == theirs.shape == (16, 1, 4, 64)
    assert ours.is_contiguous()
    assert torch.allclose(ours, theirs, atol=2e-6, rtol=0)
    # Padding is left out: changing a padded key or value changes nothing.
    key[3, :, 0] += 100.0
    value[3, :, 1] -= 100.0
    again, _ = decode_attention(module, query, key, value, mask, scaling=0.125)
    assert torch.equal(again, ours)


def test_prefill_and_unpadded_steps_stay_on_sdpa() -> None:
    query, key, value, _ = _step_tensors()
    module = torch.nn.Module()  # no `is_causal`: SDPA's wrapper takes it as causal
    long_query = torch.randn(16, 4, 5, 64)
    long_mask = torch.ones(16, 1, 5, 30, dtype=torch.bool)
    for q, m in ((long_query, long_mask), (query, None)):
        ours, _ = decode_attention(module, q, key, value, m)
        theirs, _ = sdpa_attention_forward(module, q, key, value, m)
        assert torch.equal(ours, theirs)


def test_the_poet_decodes_a_padded_batch_as_transformers_does() -> None:
    """Two prompts of different lengths, prefilled left padded, then three decoding steps:
    the loader's model (decoding attention, column-major head) against transformers' own
    (SDPA, row-major head), logits within float rounding."""
    poet = bundled_poet()
    assert poet is not None, "worker/models/poet is part of the repository"
    tokenizer, ours = load_causal_lm(str(poet), device="cpu", dtype=torch.float32)
    stock: Any = AutoModelForCausalLM.from_pretrained(str(poet), dtype=torch.float32)
    stock.eval()
    fuse_gelu(stock)  # the same activation: only attention and the head's layout differ
    assert ours.config._attn_implementation == NAME
    assert stock.config._attn_implementation == "sdpa"
    head, embedding = ours.get_output_embeddings().weight, ours.get_input_embeddings().weight
    assert head.stride() == (1, head.shape[0]) and head.data_ptr() == embedding.data_ptr()
    tokenizer = AutoTokenizer.from_pretrained(str(poet))
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer(["A poem about the sea at dusk.", "Rain."], return_tensors="pt", padding=True)
    assert int(enc["attention_mask"].sum()) < enc["attention_mask"].numel()  # padded
    caches: list[Any] = [None, None]
    mask = enc["attention_mask"]
    ids = enc["input_ids"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        for _ in range(4):
            logits = []
            for k, model in enumerate((ours, stock)):
                out = model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    cache=caches[k],
                    use_cache=True,
                )
                caches[k] = out.cache
                logits.append(out.logits[:, -1, :])
            # Logits up to about 10: a millionth of that, what fp32 rounding leaves.
            torch.testing.assert_close(logits[0], logits[1], atol=1e-5, rtol=1e-5)
            ids = logits[1].argmax(dim=-1, keepdim=True)
            positions = mask.sum(dim=1, keepdim=True)
            mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
