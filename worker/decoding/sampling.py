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

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria

from worker.decoding.forms import FormGuide


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
    # Where the nucleus ends: the buckets where the running mass reaches top_p. The nucleus
    # mass lies between the mass before those buckets and the mass through them, so the
    # draw's target (draw x nucleus mass) falls in the buckets spanning draw x those two:
    # both places come out of one pass over the vocabulary.
    ends = buckets.span(top_ps, top_ps)
    least = buckets.before.gather(1, ends.first.clamp(max=_EXACT_BUCKETS)[:, None]).view(-1)
    most = buckets.through.gather(1, (ends.stop - 1).clamp(min=0)[:, None]).view(-1)
    picks = buckets.span(draws.double() * least, draws.double() * most)
    window = buckets.window(ends, picks)
    # The nucleus: positions kept while (their cumsum - their own p) < top_p.
    kept = ((window.running - window.probs) < top_ps[:, None]) & window.valid
    last = kept.sum(dim=1) - 1
    nucleus_mass = window.running.gather(1, last.clamp(min=0)[:, None]).view(-1)
    target = draws * nucleus_mass  # float32, as `_nucleus` multiplies
    # The pick: the first position whose cumsum exceeds the target (and whose mass before
    # it does not, so it is not the first past a stretch left out of the window).
    below = ((window.running <= target[:, None]) & window.valid).sum(dim=1)
    found = below < window.valid.sum(dim=1)
    at = below.clamp(max=window.ids.shape[1] - 1)[:, None]
    tokens = window.ids.gather(1, at).view(-1)
    starts = window.starts.gather(1, at).view(-1)
    exact = ends.exact & picks.exact & (last >= 0) & found & (target < nucleus_mass)
    exact &= starts <= target
    slow = (~exact).nonzero().view(-1)
    if len(slow):
        sorted_probs, order = torch.sort(probs[slow], dim=-1, descending=True, stable=True)
        tokens[slow] = _nucleus(sorted_probs, order, top_ps[slow], draws[slow, None]).view(-1)
    return tokens.view(-1, 1)


_ONE_BITS = 0x3F800000 >> 19  # 1.0's float32 bits, keeping 8 exponent and 4 mantissa bits
_EXACT_BUCKETS = 29 * 16 + 1  # 16 buckets a power of two down to 2**-29; one more below
_SLACK = 1e-6  # well above float32 rounding of a mass near 1 (6e-8)


class _Span(NamedTuple):
    first: torch.Tensor  # (rows,) the first bucket of the span
    stop: torch.Tensor  # (rows,) one past its last bucket
    exact: torch.Tensor  # (rows,) the span is not empty and its sums are exact


class _Window(NamedTuple):
    probs: torch.Tensor  # (rows, width) the window's probabilities, descending; -1 pads
    ids: torch.Tensor  # (rows, width) their token ids
    running: torch.Tensor  # (rows, width) float32 cumsum from the top of the vocabulary
    starts: torch.Tensor  # (rows, width) float32 mass of every token ranked above
    valid: torch.Tensor  # (rows, width) not padding


class _Buckets:
    """Each row's probabilities in buckets of 1/16 of a power of two, largest first."""

    def __init__(self, probs: torch.Tensor) -> None:
        self.probs = probs
        self.index = _bucket_index(probs)  # (rows, vocab) each token's bucket
        mass = torch.zeros(probs.shape[0], _EXACT_BUCKETS + 1, dtype=torch.float64)
        mass.scatter_add_(1, self.index, _widen(probs, np.float64))
        self.through = torch.cumsum(mass, dim=1)  # mass of buckets 0..b, exact above 2**-29
        self.before = self.through - mass  # mass of buckets 0..b-1

    def span(self, low: torch.Tensor, high: torch.Tensor) -> _Span:
        """The buckets where each row's running mass crosses a level between `low` and
        `high` (rows,), with a margin for float32 rounding."""
        first = (self.through < low.double()[:, None] - _SLACK).sum(dim=1)  # wholly before
        stop = (self.before < high.double()[:, None] + _SLACK).sum(dim=1)  # from here: past
        return _Span(first, stop, (first < stop) & (stop <= _EXACT_BUCKETS))

    def window(self, one: _Span, other: _Span) -> _Window:
        """The tokens of two spans of buckets (one range where they overlap or touch),
        sorted descending (ties in token order), with the float32 cumsum a full sort would
        give at each of them: the mass of the buckets before the window, plus the mass
        between the two spans for the tokens of the later one."""
        rows = self.probs.shape[0]
        top = one.first <= other.first  # (rows,) which span comes first (larger probs)
        a_first = torch.where(top, one.first, other.first)
        a_stop = torch.where(top, one.stop, other.stop)
        b_first = torch.where(top, other.first, one.first)
        b_stop = torch.where(top, other.stop, one.stop)
        merged = b_first <= a_stop
        a_stop = torch.where(merged, torch.maximum(a_stop, b_stop), a_stop)
        b_first = torch.where(merged, b_stop, b_first)  # an empty second span
        # Which span each bucket is in (1, 2 or 0 for neither), then each token's by its
        # bucket: one gather over the vocabulary.
        buckets = torch.arange(_EXACT_BUCKETS + 1)[None, :]
        spans = _between(buckets, a_first, a_stop) + 2 * _between(buckets, b_first, b_stop)
        member = spans.to(torch.int8).gather(1, self.index)
        row, col = _nonzero(member)  # row-major: token order within a row
        counts = torch.bincount(row, minlength=rows)
        in_a = torch.bincount(row[member[row, col] == 1], minlength=rows)
        width = max(int(counts.max()), 1) if len(row) else 1
        offsets = torch.cumsum(counts, dim=0) - counts
        slot = torch.arange(len(row)) - offsets[row]
        probs = torch.full((rows, width), -1.0)
        ids = torch.zeros((rows, width), dtype=torch.long)
        probs[row, slot] = self.probs[row, col]
        ids[row, slot] = col
        probs, order = torch.sort(probs, dim=1, descending=True, stable=True)
        ids = ids.gather(1, order)
        positions = torch.arange(width)[None, :]
        valid = positions < counts[:, None]
        base = self.before.gather(1, a_first.clamp(max=_EXACT_BUCKETS)[:, None])
        gap = self.before.gather(
            1, b_first.clamp(max=_EXACT_BUCKETS)[:, None]
        ) - self.before.gather(1, a_stop.clamp(max=_EXACT_BUCKETS)[:, None])
        base = base + torch.where(positions >= in_a[:, None], gap, 0.0)
        wide = probs.clamp(min=0).double()
        running = base + torch.cumsum(wide, dim=1)
        return _Window(probs, ids, running.float(), (running - wide).float(), valid)


def _between(buckets: torch.Tensor, first: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
    """(rows, buckets) 1 where first <= bucket < stop, else 0."""
    return ((buckets >= first[:, None]) & (buckets < stop[:, None])).long()


def _bucket_index(probs: torch.Tensor) -> torch.Tensor:
    """(rows, vocab) int64: each probability's bucket, 0 for 1.0 and up, one more every
    1/16 of a power of two down, `_EXACT_BUCKETS` for all below 2**-29. From the float's
    bits (monotone in a non-negative value). In numpy: torch's integer shift and subtract
    took 0.2-0.7 ms here for 64 x 8192, numpy's vectorised ones about half that."""
    index = probs.numpy().view(np.int32) >> 19
    np.subtract(_ONE_BITS, index, out=index)
    np.clip(index, 0, _EXACT_BUCKETS, out=index)
    return torch.from_numpy(index.astype(np.int64))


def _nonzero(member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (row, column) indices of a 2-D tensor's non-zero entries, row-major, as
    `nonzero(as_tuple=True)` gives them. numpy's `flatnonzero` on a bool view: 0.38 ms
    against torch's 0.65 for 64 x 8192 entries, one thread."""
    flat = torch.from_numpy(np.flatnonzero(member.bool().numpy()))
    width = member.shape[1]
    return flat // width, flat % width


def _widen(t: torch.Tensor, dtype: type[np.generic]) -> torch.Tensor:
    """A CPU tensor converted to a wider dtype. numpy's conversion: torch's own ran 3 to 20
    times slower on freshly computed probabilities here (0.6-3 ms against 0.13 ms for
    64 x 8192), for reasons we did not pin down."""
    return torch.from_numpy(t.numpy().astype(dtype))


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
