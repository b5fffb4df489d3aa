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

import torch
from transformers import LogitsProcessor, StoppingCriteria

from worker.form_decoding import FormGuide

NUCLEUS_HEADS = (512, 2048)  # tokens looked at, in turn, before a full sort


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
    from the row's own generator (inverse CDF)."""
    probs = torch.softmax(logits / temperatures[:, None], dim=-1)
    draws = torch.stack([torch.rand(1, generator=g) for g in generators]).view(-1, 1)
    tokens = torch.empty(len(generators), 1, dtype=torch.long)
    # Sorting the whole vocabulary every step costs more than a small model's forward
    # pass. The nucleus usually lies within the most likely few hundred or thousand
    # tokens: take those (topk returns them sorted) and widen only for the rows whose
    # head does not reach top_p, sorting in full last. Either way a row gets the token a
    # full sort would give it.
    todo = torch.ones(len(generators), dtype=torch.bool)
    for head in (*NUCLEUS_HEADS, probs.shape[-1]):
        rows = todo.nonzero().view(-1)
        if head >= probs.shape[-1]:
            head_probs, head_order = torch.sort(probs[rows], dim=-1, descending=True)
            done = torch.ones(len(rows), dtype=torch.bool)
        else:
            head_probs, head_order = torch.topk(probs[rows], head, dim=-1)
            done = head_probs.sum(dim=-1) >= top_ps[rows]
        picked = rows[done]
        if len(picked):
            tokens[picked] = _nucleus(
                head_probs[done], head_order[done], top_ps[picked], draws[picked]
            )
            todo[picked] = False
        if not bool(todo.any()):
            break
    return tokens


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
