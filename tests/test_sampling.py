"""The sampler's shortcut (nucleus from the top few hundred or thousand tokens, a full sort
only when needed) picks exactly the token a full sort picks, for peaked and flat rows."""

from __future__ import annotations

import torch

from worker.sampling import RowSampler, _nucleus


def full_sort_tokens(logits: torch.Tensor, top_ps: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    draws = torch.stack(
        [torch.rand(1, generator=torch.Generator().manual_seed(s)) for s in seeds]
    ).view(-1, 1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    return _nucleus(sorted_probs, order, top_ps, draws)


def test_shortcut_matches_a_full_sort() -> None:
    gen = torch.Generator().manual_seed(0)
    vocab = 8192
    # Peaked rows (nucleus in the first 512), middling ones, and nearly uniform ones (a
    # full sort needed): scale decides how flat the softmax is.
    scales = torch.tensor([12.0, 8.0, 4.0, 2.0, 1.0, 0.3, 0.05, 0.0] * 4)[:, None]
    logits = torch.randn(len(scales), vocab, generator=gen) * scales
    top_ps = torch.tensor([0.95, 0.9, 0.5, 1.0] * 8)
    seeds = list(range(100, 100 + len(scales)))
    sampler = RowSampler(
        seeds=seeds,
        temperatures=[1.0] * len(seeds),
        top_ps=top_ps.tolist(),
        penalties=[1.0] * len(seeds),
        starts=[0] * len(seeds),
    )
    ids = torch.zeros(len(seeds), 3, dtype=torch.long)
    out = sampler(ids, logits.clone())  # type: ignore[arg-type]
    chosen = out.argmax(dim=-1, keepdim=True)
    assert torch.equal(chosen, full_sort_tokens(logits, top_ps, seeds))
