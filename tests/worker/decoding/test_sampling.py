"""The sampler's shortcut (sums per probability bucket, sorting only the buckets where the
nucleus ends and where the draw falls) picks exactly the token a full sort picks, for
peaked and flat rows. Equal probabilities rank in token order (a stable sort)."""

from __future__ import annotations

import torch

from worker.decoding.sampling import (
    _EXACT_BUCKETS,
    RowSampler,
    _bucket_index,
    _nonzero,
    _nucleus,
    choose,
    penalise,
)


def full_sort_tokens(logits: torch.Tensor, top_ps: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    draws = torch.stack(
        [torch.rand(1, generator=torch.Generator().manual_seed(s)) for s in seeds]
    ).view(-1, 1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
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


def reference_pick(
    logits: torch.Tensor,
    seen: list[int],
    temperature: float,
    top_p: float,
    penalty: float,
    generator: torch.Generator,
) -> int:
    """One row, the plain way: penalise its seen tokens, temperature, a full stable sort,
    the nucleus by running mass, inverse CDF with one draw."""
    logits = logits.clone()
    for token in set(seen):
        value = logits[token]
        logits[token] = value * penalty if value < 0 else value / penalty
    probs = torch.softmax(logits / temperature, dim=-1)
    draw = torch.rand(1, generator=generator)
    sorted_probs, order = torch.sort(probs, descending=True, stable=True)
    running = torch.cumsum(sorted_probs, dim=0)
    kept = sorted_probs.masked_fill(running - sorted_probs >= top_p, 0.0)
    cdf = torch.cumsum(kept, dim=0)
    position = int((cdf <= draw * cdf[-1]).sum())
    return int(order[min(position, len(order) - 1)])


def test_batched_choose_matches_the_per_row_reference_over_many_steps() -> None:
    gen = torch.Generator().manual_seed(7)
    rows, vocab, steps = 24, 8192, 40
    seeds = torch.randint(0, 2**31, (rows,), generator=gen).tolist()
    temperatures = (0.3 + torch.rand(rows, generator=gen) * 1.2).tolist()
    top_ps = [0.5, 0.8, 0.9, 0.95, 0.99, 1.0] * (rows // 6)
    penalties = [1.0, 1.1, 1.3, 1.05] * (rows // 4)
    # From nearly one-hot to nearly uniform rows, shuffled per step.
    scales = torch.tensor([16.0, 8.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.1] * 3)[:rows]
    batch_gens = [torch.Generator().manual_seed(s) for s in seeds]
    row_gens = [torch.Generator().manual_seed(s) for s in seeds]
    history = torch.randint(0, vocab, (rows, 5), generator=gen)
    for _ in range(steps):
        scale = scales[torch.randperm(rows, generator=gen)][:, None]
        logits = torch.randn(rows, vocab, generator=gen) * scale
        expected = [
            reference_pick(
                logits[i],
                history[i].tolist(),
                temperatures[i],
                top_ps[i],
                penalties[i],
                row_gens[i],
            )
            for i in range(rows)
        ]
        penalised = penalise(history, logits, torch.tensor(penalties))
        picked = choose(penalised, torch.tensor(temperatures), torch.tensor(top_ps), batch_gens)
        assert picked.view(-1).tolist() == expected
        history = torch.cat([history, picked], dim=1)


def test_bucket_index_and_nonzero_match_their_torch_forms() -> None:
    """The numpy helpers give what the torch expressions they replace give: the bucket from
    the float's bits (1.0, the smallest normal and subnormal floats, zero included), and
    the non-zero entries in row-major order."""
    gen = torch.Generator().manual_seed(5)
    probs = torch.softmax(torch.randn(8, 512, generator=gen) * 6, dim=-1)
    probs[0, :4] = torch.tensor([1.0, 0.0, 1e-40, 2.0**-29])
    expected = (0x3F800000 >> 19) - (probs.view(torch.int32) >> 19)
    expected = expected.clamp(0, _EXACT_BUCKETS).long()
    assert torch.equal(_bucket_index(probs), expected)
    assert _bucket_index(probs)[0, :4].tolist() == [0, _EXACT_BUCKETS, _EXACT_BUCKETS, 464]
    member = (torch.rand(8, 512, generator=gen) < 0.1).to(torch.int8) * 2
    row, col = _nonzero(member)
    want_row, want_col = member.nonzero(as_tuple=True)
    assert torch.equal(row, want_row) and torch.equal(col, want_col)
