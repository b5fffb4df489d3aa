"""Form-keeping decoding: per-row token masks that steer a poem into its form as it is sampled.

A `FormPlan` says what each line needs (a syllable span, a first letter) and how many lines
the poem has. `FormGuide` holds one plan per batch row and, each step, tells the sampler
which tokens a row may not take:

- no line break before a line reaches its fewest syllables, and no empty lines;
- at its most syllables, a line break (or, mid-word, only the rest of that word);
- for an acrostic, each line starts with its letter;
- no end of text before the last line, and end of text right after it.

It only ever masks; sampling stays the row's own (seeded) draw, so a row's text is still the
same alone or batched. Overshoots can happen (a token that adds two syllables at once): the
checker in `bot.forms` has the last word, and the result says whether the form was met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bot.forms import SYLLABLE_PATTERNS, SYLLABLE_RANGES, line_syllables

Span = tuple[int, int]  # a line's syllables: at least, at most
# Forms with a line count but no exact syllable pattern get a line length that suits them.
LINE_SPANS: dict[str, tuple[int, Span]] = {
    "couplet": (2, (6, 12)),
    "quatrain": (4, (6, 12)),
    "sonnet": (14, SYLLABLE_RANGES["sonnet"]),
    "villanelle": (19, (8, 12)),
}
# A limerick's lines 1, 2 and 5 are long, lines 3 and 4 short.
LIMERICK: tuple[Span, ...] = ((7, 10), (7, 10), (4, 7), (4, 7), (7, 10))
CINQUAIN = (2, 4, 6, 8, 2)
ACROSTIC_SPAN: Span = (3, 10)


@dataclass(frozen=True)
class FormPlan:
    lines: int
    spans: tuple[Span, ...] = ()  # per line; empty: the model decides where lines end
    initials: str = ""  # per line, for an acrostic


def plan_for(form: str, prompt: str) -> FormPlan | None:
    """The plan for a form, or None for free verse and unknown forms."""
    if form in SYLLABLE_PATTERNS or form == "cinquain":
        pattern = SYLLABLE_PATTERNS.get(form, CINQUAIN)
        return FormPlan(len(pattern), tuple((n, n) for n in pattern))
    if form == "limerick":
        return FormPlan(len(LIMERICK), LIMERICK)
    if form in LINE_SPANS:
        lines, span = LINE_SPANS[form]
        return FormPlan(lines, (span,) * lines)
    if form == "acrostic":
        word = "".join(c for c in (prompt.split() or [""])[0] if c.isalpha())
        return FormPlan(len(word), (ACROSTIC_SPAN,) * len(word), word.upper()) if word else None
    return None


class Vocabulary:
    """What the guide needs to know about every token, computed once per tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        size = len(tokenizer)
        texts = [tokenizer.decode([i]) for i in range(size)]
        self.size = size
        self.newline_any = torch.tensor(["\n" in t for t in texts])
        plain = tokenizer.encode("\n", add_special_tokens=False)
        self.newline = plain[0] if len(plain) == 1 else int(self.newline_any.nonzero()[0])
        self.eos = tokenizer.eos_token_id
        # A token that starts a new word: leading space, or punctuation/newline.
        self.starts_word = torch.tensor([t[:1].isspace() for t in texts])
        first = [t.lstrip()[:1].upper() for t in texts]
        self.initial = {ch: torch.tensor([f == ch for f in first]) for ch in set(first) if ch}


class FormGuide:
    def __init__(
        self,
        tokenizer: Any,
        vocab: Vocabulary,
        plans: Sequence[FormPlan | None],
        prompt_length: int,
    ) -> None:
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.plans = list(plans)
        self.prompt_length = prompt_length

    def mask(self, input_ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Logits (rows, vocab) with the tokens each row may not take set to -inf."""
        for row, plan in enumerate(self.plans):
            if plan is None:
                continue
            generated = input_ids[row, self.prompt_length :].tolist()
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            banned = self._banned(plan, text)
            if bool(banned.all()):  # nothing left to choose: let the model decide
                continue
            width = min(len(banned), logits.shape[-1])
            logits[row, :width] = logits[row, :width].masked_fill(banned[:width], float("-inf"))
        return logits

    def _banned(self, plan: FormPlan, text: str) -> torch.Tensor:
        v = self.vocab
        done_lines = text.count("\n")
        current = text.rsplit("\n", 1)[-1]
        if done_lines >= plan.lines:  # the poem is complete: end it
            return _all_but(v.size, v.eos if v.eos is not None else v.newline)
        banned = torch.zeros(v.size, dtype=torch.bool)
        if v.eos is not None:
            banned[v.eos] = True  # never end before the last line
        if not current.strip():
            banned |= v.newline_any  # no empty lines
            letter = plan.initials[done_lines] if plan.initials else ""
            if letter and letter in v.initial:
                banned |= ~v.initial[letter]
            return banned
        if not plan.spans:
            return banned
        least, most = plan.spans[done_lines]
        count = line_syllables(current)
        if count < least:
            return banned | v.newline_any
        if count < most:
            return banned  # long enough: the model may end the line or go on
        if current[-1:].isalpha():  # maybe mid-word: finish the word or break the line
            return banned | (v.starts_word & ~_only(v.size, v.newline))
        return _all_but(v.size, v.newline)


def _only(size: int, token: int) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool)
    mask[token] = True
    return mask


def _all_but(size: int, token: int) -> torch.Tensor:
    return ~_only(size, token)
