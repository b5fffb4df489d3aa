"""Per-job sampling inside one batched `generate` call.

`generate` samples a whole batch from one random stream, so a job's text would depend on
its batch mates. Instead, `RowSampler` samples each row with that job's own
`torch.Generator` (seeded from the job), its own temperature, top-p and repetition penalty,
and returns logits where only the chosen token survives; `generate(do_sample=False)` then
picks exactly that token. A job's text is therefore the same alone or in any batch, up to
the tiny logit differences that left padding causes (about 1e-6 in fp32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from transformers import LogitsProcessor, StoppingCriteria

from worker.form_decoding import FormGuide


def _nucleus(
    sorted_probs: torch.Tensor, order: torch.Tensor, top_ps: torch.Tensor, draws: torch.Tensor
) -> torch.Tensor:
    """Nucleus sampling per row over probabilities sorted in descending order: keep the
    smallest head whose mass reaches top_p (the first token always stays), then pick by the
    row's uniform draw (inverse CDF). Returns (rows, 1) token ids."""
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    kept = sorted_probs.masked_fill(mass_before >= top_ps[:, None], 0.0)
    cdf = torch.cumsum(kept, dim=-1)
    picks = torch.searchsorted(cdf, draws * cdf[:, -1:], right=True)
    picks = picks.clamp_(max=cdf.shape[-1] - 1)
    return order.gather(1, picks)


class RowSampler(LogitsProcessor):
    def __init__(
        self,
        *,
        seeds: Sequence[int],
        temperatures: Sequence[float],
        top_ps: Sequence[float],
        penalties: Sequence[float],
        starts: Sequence[int],  # index of each row's first real token (after left padding)
        on_step: Callable[[torch.LongTensor], None] | None = None,
        guide: FormGuide | None = None,
    ) -> None:
        # CPU generators: the same seed gives the same draws whatever the model's device.
        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.temperatures = torch.tensor(list(temperatures), dtype=torch.float32)
        self.top_ps = torch.tensor(list(top_ps), dtype=torch.float32)
        self.penalties = torch.tensor(list(penalties), dtype=torch.float32)
        self.starts = list(starts)
        self.on_step = on_step
        self.guide = guide

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float().cpu()  # (rows, vocab)
        logits = self._penalise(input_ids.cpu(), logits)
        if self.guide is not None:
            logits = self.guide.mask(input_ids.cpu(), logits)
        tokens = choose(logits, self.temperatures, self.top_ps, self.generators)
        chosen = torch.full_like(scores, float("-inf"))
        chosen.scatter_(1, tokens.to(scores.device), 0.0)
        if self.on_step is not None:
            self.on_step(input_ids)
        return chosen  # type: ignore[return-value]

    def _penalise(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Repetition penalty over each row's own tokens only (never its left padding)."""
        if bool((self.penalties == 1.0).all()):
            return logits
        ids = input_ids.clone()
        for row, start in enumerate(self.starts):
            if start > 0:
                ids[row, :start] = ids[row, start]  # a duplicate of a real token: no effect
        return penalise(ids, logits, self.penalties)


def penalise(ids: torch.Tensor, logits: torch.Tensor, penalties: torch.Tensor) -> torch.Tensor:
    """Repetition penalty: each row's logits of the tokens in its `ids` (rows, length) are
    divided (positive) or multiplied (negative) by its penalty. Padding in `ids` must repeat
    one of the row's real tokens."""
    if bool((penalties == 1.0).all()):
        return logits
    picked = logits.gather(1, ids)
    pen = penalties[:, None]
    picked = torch.where(picked < 0, picked * pen, picked / pen)
    return logits.scatter(1, ids, picked)


def choose(
    logits: torch.Tensor,
    temperatures: torch.Tensor,
    top_ps: torch.Tensor,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """One token per row, (rows, 1): temperature, then nucleus sampling with one uniform draw
    from the row's own generator (inverse CDF), the token a full descending sort picks
    (equal probabilities in token order, as a stable sort ranks them).

    Sorting the vocabulary (or even its nucleus, thousands of tokens for a flat
    distribution) costs more than a small model's forward pass, yet only two places in the
    sorted order matter: where the running mass reaches top_p (the nucleus ends) and where
    it passes the draw. Tokens go in buckets by the leading bits of their probability
    (monotone in value), each bucket's mass summed in float64; only the few buckets around
    each of those two places are sorted. This is exact, not an approximation: a float32
    `cumsum` on the CPU accumulates in float64, and a float64 sum of float32 probabilities
    of at least 2**-29 (each a multiple of 2**-52, the total under 2) is never rounded, so
    it does not depend on the order of the summands. Rows where that could fail (a nucleus
    reaching such tiny probabilities, top_p of 1) take a full sort."""
    probs = torch.softmax(logits / temperatures[:, None], dim=-1)
    draws = torch.stack([torch.rand(1, generator=g) for g in generators]).view(-1)
    buckets = _Buckets(probs)
    # Where the nucleus ends: a position is kept while (its cumsum - its own p) < top_p.
    ends = buckets.window(top_ps)
    kept = ((ends.running - ends.probs) < top_ps[:, None]) & ends.valid
    last = kept.sum(dim=1) - 1
    nucleus_mass = ends.running.gather(1, last.clamp(min=0)[:, None]).view(-1)
    target = draws * nucleus_mass  # float32, as `_nucleus` multiplies
    # The pick: the first position whose cumsum exceeds the target.
    picks = buckets.window(target)
    below = ((picks.running <= target[:, None]) & picks.valid).sum(dim=1)
    found = below < picks.valid.sum(dim=1)
    tokens = picks.ids.gather(1, below.clamp(max=picks.ids.shape[1] - 1)[:, None]).view(-1)
    exact = ends.exact & picks.exact & (last >= 0) & found & (target < nucleus_mass)
    slow = (~exact).nonzero().view(-1)
    if len(slow):
        sorted_probs, order = torch.sort(probs[slow], dim=-1, descending=True, stable=True)
        tokens[slow] = _nucleus(sorted_probs, order, top_ps[slow], draws[slow, None]).view(-1)
    return tokens.view(-1, 1)


_ONE_BITS = 0x3F800000 >> 19  # 1.0's float32 bits, keeping 8 exponent and 4 mantissa bits
_EXACT_BUCKETS = 29 * 16 + 1  # 16 buckets a power of two down to 2**-29; one more below
_SLACK = 1e-6  # well above float32 rounding of a mass near 1 (6e-8)


class _Window(NamedTuple):
    probs: torch.Tensor  # (rows, width) the window's probabilities, descending; -1 pads
    ids: torch.Tensor  # (rows, width) their token ids
    running: torch.Tensor  # (rows, width) float32 cumsum from the top of the vocabulary
    valid: torch.Tensor  # (rows, width) not padding
    exact: torch.Tensor  # (rows,) the window holds the crossing and its sums are exact


class _Buckets:
    """Each row's probabilities in buckets of 1/16 of a power of two, largest first."""

    def __init__(self, probs: torch.Tensor) -> None:
        self.probs = probs
        bits = probs.view(torch.int32) >> 19  # monotone in the (non-negative) value
        self.index = (_ONE_BITS - bits).clamp_(0, _EXACT_BUCKETS).long()  # (rows, vocab)
        mass = torch.zeros(probs.shape[0], _EXACT_BUCKETS + 1, dtype=torch.float64)
        mass.scatter_add_(1, self.index, probs.double())
        self.through = torch.cumsum(mass, dim=1)  # mass of buckets 0..b, exact above 2**-29
        self.before = self.through - mass  # mass of buckets 0..b-1

    def window(self, level: torch.Tensor) -> _Window:
        """The tokens of the buckets where each row's running mass crosses `level`
        (rows,), sorted descending (ties in token order), with the float32 cumsum a full
        sort would give at each of them."""
        rows = self.probs.shape[0]
        wide = level.double()[:, None]
        first = (self.through < wide - _SLACK).sum(dim=1)  # buckets wholly before it
        stop = (self.before < wide + _SLACK).sum(dim=1)  # buckets from `stop` on: past it
        exact = (first < stop) & (stop <= _EXACT_BUCKETS)
        inside = (self.index >= first[:, None]) & (self.index < stop[:, None])
        counts = inside.sum(dim=1)
        width = max(int(counts.max()), 1)
        row, col = inside.nonzero(as_tuple=True)  # row-major: token order within a row
        offsets = torch.cumsum(counts, dim=0) - counts
        slot = torch.arange(len(row)) - offsets[row]
        probs = torch.full((rows, width), -1.0)
        ids = torch.zeros((rows, width), dtype=torch.long)
        probs[row, slot] = self.probs[row, col]
        ids[row, slot] = col
        probs, order = torch.sort(probs, dim=1, descending=True, stable=True)
        ids = ids.gather(1, order)
        valid = torch.arange(width)[None, :] < counts[:, None]
        base = self.before.gather(1, first.clamp(max=_EXACT_BUCKETS)[:, None])
        running = (base + torch.cumsum(probs.clamp(min=0).double(), dim=1)).float()
        return _Window(probs, ids, running, valid, exact)


class RowBudget(StoppingCriteria):
    """Stop each row at its own job's max_new_tokens, so jobs of different lengths share a
    batch; `generate` pads finished rows and ends when every row is done."""

    def __init__(self, prompt_length: int, budgets: Sequence[int]) -> None:
        self.prompt_length = prompt_length
        self.budgets = torch.tensor(list(budgets), dtype=torch.long)

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object
    ) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_length
        done = generated >= self.budgets
        return done.to(input_ids.device)  # type: ignore[return-value]
