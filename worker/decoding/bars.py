"""Metre-keeping decoding for the melody model: per-row token masks that keep every bar the
right length as the tune body is sampled, the way `worker.decoding.forms` keeps a poem in form.

Each row's body so far (earlier rounds included) is tracked as text. Each step the guide
looks at a row's likeliest tokens (those that together hold `MASS` of the probability at the
sampling temperature, at most `CANDIDATES`) and keeps only those that
`worker.music.bars.fits`: a note, rest or chord that would run past the end of the bar is
masked, and so is a bar line before the bar is full (a short first-bar pickup and empty bars
excepted). When the bar is full the notes no longer fit, so the model writes a bar line (or
a space, a tie, a repeat sign) next; after a space or a line break the next token must add
time or write a bar line (`bars.progresses`), or a row refused its bar line could write
spaces for ever. Tokens outside the candidates are masked too: with
top-p 0.95 they are almost never sampled anyway, and judging the whole vocabulary each step
would cost more than the model.

Tokens made only of marks our ABC reader drops (staccato dots, slur ends, decorations,
chord-symbol quotes) are masked outright: they never reach the posted tune, and once a row
writes a few of them the model tends to write nothing else (a bare `(` stays allowed: it
opens a tuplet). A small penalty on accidentals (`^ _ =`) keeps the tune in its key unless
the model strongly wants a chromatic note.

The guide only masks and lowers logits; each row still draws with its own seeded generator
(`sampling.RowSampler`), so a melody is the same alone or in a batch. A bar whose text
runs past `LOST_BAR` characters (the model lost in stray marks) is left to the model until
its next bar line: masking there only feeds the loop. When none of a row's candidates fits,
the tokens that write a bar line or a space are judged; if still none fits, the guide steps
aside for that step and the repair step has the last word.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor

from worker.music.bars import Metre, fits, open_bar, progresses

CANDIDATES = 24  # at most, tokens judged per row and step, likeliest first
LOST_BAR = 40  # characters in one open bar: the model has lost the thread; let it close
MASS = 0.99  # probability the judged tokens hold together (at the sampling temperature)
DROPPED_MARKS = frozenset('().~HLMOPSTuv!+{}"')  # what the reader drops, one character each
ACCIDENTAL_PENALTY = 1.0  # logits, on tokens that write a sharp, flat or natural


class BarGuide(LogitsProcessor):
    def __init__(
        self,
        tokenizer: Any,
        *,
        metres: Sequence[Metre],
        bodies: Sequence[str],  # each row's body written in earlier rounds ("" at first)
        prompt_length: int,
        temperature: float = 1.0,
        candidates: int = CANDIDATES,
        accidental_penalty: float = ACCIDENTAL_PENALTY,
    ) -> None:
        self.texts = token_texts(tokenizer)
        self.metres = list(metres)
        self.rows = list(bodies)
        self.seen = prompt_length
        self.candidates, self.temperature = candidates, temperature
        # Fallbacks when no likely token fits: bar lines and spaces, which add no time.
        self.structural = [i for i, t in enumerate(self.texts) if t.strip(" :|") == "" and t]
        accidental = torch.tensor([any(c in t for c in "^_=") for t in self.texts])
        self.penalty = accidental.float() * accidental_penalty
        dropped = [bool(t) and set(t) <= DROPPED_MARKS and set(t) != {"("} for t in self.texts]
        self.penalty[torch.tensor(dropped)] = float("inf")
        self.fallbacks = 0  # steps where the guide had to step aside

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        ids = input_ids.cpu()
        for pos in range(self.seen, ids.shape[1]):
            for r, token in enumerate(ids[:, pos].tolist()):
                self.rows[r] += self.texts[token]
        self.seen = ids.shape[1]
        logits = scores.float().cpu()
        # A model's vocabulary may be padded past the tokenizer's: those ids are never judged.
        penalty = torch.zeros(logits.shape[1])
        size = min(len(self.penalty), logits.shape[1])
        penalty[:size] = self.penalty[:size]
        logits = logits - penalty
        out = torch.full_like(logits, float("-inf"))
        k = min(self.candidates, logits.shape[1])
        _, top_ids = torch.topk(logits, k, dim=-1)
        probs = torch.softmax(logits / self.temperature, dim=-1).gather(1, top_ids)
        # Keep the head holding MASS of the probability (always at least one token).
        wanted = ((torch.cumsum(probs, dim=-1) - probs) < MASS).sum(dim=-1).tolist()
        for r, top in enumerate(top_ids.tolist()):
            allowed = self._allowed(r, top[: wanted[r]], logits[r])
            if not allowed:
                allowed = self._allowed(r, self.structural, logits[r])
            if not allowed:
                self.fallbacks += 1
                out[r] = logits[r]
                continue
            out[r, allowed] = logits[r, allowed]
        return out.to(scores.device, scores.dtype)  # type: ignore[return-value]

    def _allowed(self, row: int, tokens: list[int], logits: torch.Tensor) -> list[int]:
        text = self.rows[row]
        bar = open_bar(text)
        first = bar == text  # no bar line yet: this bar may be a pickup
        metre = self.metres[row]
        finite = torch.isfinite(logits)
        if len(bar) > LOST_BAR:
            return [t for t in tokens if t < len(self.texts) and bool(finite[t])]
        return [
            t
            for t in tokens
            if t < len(self.texts) and bool(finite[t]) and _fits(bar, self.texts[t], metre, first)
        ]


@lru_cache(maxsize=200_000)
def _fits(bar: str, piece: str, metre: Metre, first: bool) -> bool:
    return progresses(bar, piece) and fits(bar, piece, metre, first_bar=first)


def token_texts(tokenizer: Any) -> list[str]:
    """Each token's text as it reads inside a tune body."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [tokenizer.convert_tokens_to_string([t]) if t else "" for t in tokens]
