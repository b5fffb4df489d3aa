"""Form-keeping decoding: per-row token masks that steer a poem into its form as it is sampled.

A `FormPlan` says what each line needs (a syllable span, a first letter, a rhyme letter) and
how many lines the poem has. `FormGuide` holds one plan per batch row and, each step, tells
the sampler which tokens a row may not take. Inside a planned poem the model writes with
whole-word tokens (a leading-space word, or any word at the start of a line) and
punctuation; a token that would glue letters onto the previous word is masked, so every
word's syllables and rhyme are known the moment it is chosen (the vocabulary is measured
once per tokenizer with the checker's own CMUdict functions). Then, for each row:

- only words the dictionary knows (the checker counts no other), spelled over several tokens
  only where the whole is such a word ("moon" + "light");
- a word is allowed only if the line can still be finished inside its syllable span: either
  the word can end the line (the span is reached and the word rhymes as the line must), or
  room is left for the shortest word that could end it;
- a line break is allowed only once the span is reached and the last word rhymes: with an
  earlier line of its rhyme group (same rhyme key, not the same word), or, for the first
  line of a group, with enough words of the vocabulary that the rest of the group can rhyme;
- no empty lines; an acrostic line starts with its letter; no end of text before the last
  line, and end of text right after it.

It only ever masks; sampling stays the row's own (seeded) draw, so a row's text is still the
same alone or batched. When a row has nothing left to choose (a vocabulary too small for the
form), the mask steps aside for that step and the checker in `bot.commands.poetic_forms` has
the last word: the result says whether the form was met.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bot.commands.poetic_forms import (
    RHYME_SCHEMES,
    SYLLABLE_PATTERNS,
    known,
    last_word,
    line_syllables,
    rhyme_key,
    syllables,
)

Span = tuple[int, int]  # a line's syllables: at least, at most
# Forms with a line count but no exact syllable pattern get a line length that suits them.
LINE_SPANS: dict[str, tuple[int, Span]] = {
    "couplet": (2, (6, 10)),
    "quatrain": (4, (6, 10)),
    # Pentameter: ten syllables (the checker allows eleven only with a feminine ending, which
    # the guide does not plan for).
    "sonnet": (14, (10, 10)),
    "villanelle": (19, (8, 12)),
}
# A limerick's lines 1, 2 and 5 are long, lines 3 and 4 clearly shorter (the checker wants
# every short line shorter than the shortest long one).
LIMERICK: tuple[Span, ...] = ((8, 10), (8, 10), (5, 6), (5, 6), (8, 10))
CINQUAIN = (2, 4, 6, 8, 2)
ACROSTIC_SPAN: Span = (3, 10)
CONTINUATION_CANDIDATES = 24  # the likeliest word-continuing tokens checked each step
_WORD = re.compile(r"^[A-Za-z]+(?:'[A-Za-z]+)*$")


@dataclass(frozen=True)
class FormPlan:
    lines: int
    spans: tuple[Span, ...] = ()  # per line; empty: the model decides where lines end
    initials: str = ""  # per line, for an acrostic
    rhyme: str = ""  # per line, the scheme's letter ("AABBA"); empty: unrhymed


def plan_for(form: str, prompt: str) -> FormPlan | None:
    """The plan for a form, or None for free verse and unknown forms."""
    if form in SYLLABLE_PATTERNS or form == "cinquain":
        pattern = SYLLABLE_PATTERNS.get(form, CINQUAIN)
        return FormPlan(len(pattern), tuple((n, n) for n in pattern))
    scheme = RHYME_SCHEMES.get(form, ("",))[0]
    if form == "limerick":
        return FormPlan(len(LIMERICK), LIMERICK, rhyme=scheme)
    if form in LINE_SPANS:
        lines, span = LINE_SPANS[form]
        return FormPlan(lines, (span,) * lines, rhyme=scheme)
    if form == "acrostic":
        word = "".join(c for c in (prompt.split() or [""])[0] if c.isalpha())
        return FormPlan(len(word), (ACROSTIC_SPAN,) * len(word), word.upper()) if word else None
    return None


class Vocabulary:
    """What the guide needs to know about every token, measured once per tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        size = len(tokenizer)
        # A token's text as it reads after a word: SentencePiece tokenizers drop the leading
        # space when a token is decoded alone ("▁day" -> "day"), so decode it after an anchor.
        anchor = tokenizer.encode("a", add_special_tokens=False)
        prefix = len(tokenizer.decode(anchor))
        texts = [tokenizer.decode([*anchor, i])[prefix:] for i in range(size)]
        self.size = size
        self.texts = texts
        self.newline_any = torch.tensor(["\n" in t for t in texts])
        plain = tokenizer.encode("\n", add_special_tokens=False)
        self.newline = plain[0] if len(plain) == 1 else int(self.newline_any.nonzero()[0])
        self.eos = tokenizer.eos_token_id
        words = [t.strip() if _WORD.match(t.strip()) and "\n" not in t else "" for t in texts]
        self.spaced = torch.tensor([t[:1] == " " for t in texts])  # starts a word mid-line
        self.punct = torch.tensor(
            [bool(t.strip()) and not any(c.isalnum() or c in "\n\ufffd_" for c in t) for t in texts]
        )
        self.syllables = torch.tensor([syllables(w) if w else 0 for w in words])
        # A "word" with no vowel sound ("sh", "hmm") would let a line grow without end, and
        # a word the dictionary does not know never counts towards a form: neither is a word.
        words = [
            w if n and known(w) else "" for w, n in zip(words, self.syllables.tolist(), strict=True)
        ]
        self.word = torch.tensor([bool(w) for w in words])
        keys: dict[str, int] = {}
        rhyme = []
        members: defaultdict[int, set[str]] = defaultdict(set)
        self.ids_of: defaultdict[str, list[int]] = defaultdict(list)
        for i, w in enumerate(words):
            if w:
                self.ids_of[w.lower()].append(i)
            if not (w and rhyme_key(w)):  # function words carry no rhyme
                rhyme.append(-1)
                continue
            key = keys.setdefault(rhyme_key(w), len(keys))
            rhyme.append(key)
            members[key].add(w.lower())
        self.rhyme = torch.tensor(rhyme)
        self.key_of = keys
        # How many different words share each token's rhyme (0 for non-words).
        self.class_size = torch.tensor([len(members[k]) for k in range(len(keys))] + [0])
        self.rhyme_class = self.class_size[self.rhyme]  # index -1 picks the trailing 0
        first = [t.lstrip()[:1].upper() for t in texts]
        self.initial = {ch: torch.tensor([f == ch for f in first]) for ch in set(first) if ch}


@dataclass
class _Line:
    """Where one row stands in its current line."""

    index: int  # which line of the poem
    text: str  # the line so far
    count: int  # its syllables
    ends: list[str]  # the last words of the poem's earlier lines


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
            banned = self.banned(plan, text)
            self._allow_continuations(plan, text, logits[row], banned)
            if bool(banned.all()):  # nothing left to choose: let the model decide
                continue
            width = min(len(banned), logits.shape[-1])
            logits[row, :width] = logits[row, :width].masked_fill(banned[:width], float("-inf"))
        return logits

    def _allow_continuations(
        self, plan: FormPlan, text: str, logits: torch.Tensor, banned: torch.Tensor
    ) -> None:
        """Let the model spell a word over several tokens ("moon" + "light"): its likeliest
        continuations are checked one by one on the exact text they would make."""
        current = text.rsplit("\n", 1)[-1]
        if not plan.spans or not current[-1:].isalpha():
            return
        v = self.vocab
        width = min(v.size, logits.shape[-1])
        top = torch.topk(logits[:width], min(CONTINUATION_CANDIDATES, width)).indices.tolist()
        lines = text.split("\n")
        least, most = plan.spans[len(lines) - 1]
        for token in top:
            if not bool(v.word[token]) or bool(v.spaced[token]):
                continue
            piece = v.texts[token]
            after = current + piece
            count = line_syllables(after)
            if count > most or not known(last_word(after)):  # whole dictionary words only
                continue
            line = _Line(len(lines) - 1, after, count, [last_word(x) for x in lines[:-1]])
            ends = count >= least and self._word_may_end(plan, line, last_word(after))
            if ends or count + 1 <= most:
                banned[token] = False

    def banned(self, plan: FormPlan, text: str) -> torch.Tensor:
        """The tokens a row whose poem so far is `text` may not take next."""
        v = self.vocab
        lines = text.split("\n")
        if len(lines) - 1 >= plan.lines:  # the poem is complete: end it
            return _all_but(v.size, v.eos if v.eos is not None else v.newline)
        current = lines[-1]
        state = _Line(
            len(lines) - 1, current, line_syllables(current), [last_word(x) for x in lines[:-1]]
        )
        allowed = self._words(plan, state) | self._punctuation(state)
        if current.strip() and self._may_end(plan, state):
            allowed[v.newline] = True
        return ~allowed

    def _words(self, plan: FormPlan, line: _Line) -> torch.Tensor:
        v = self.vocab
        starting = not line.text.strip()
        words = v.word.clone() if starting else v.word & v.spaced
        if starting and plan.initials:
            letter = plan.initials[line.index]
            words &= v.initial.get(letter, torch.zeros(v.size, dtype=torch.bool))
        if not plan.spans:
            return words
        least, most = plan.spans[line.index]
        total = line.count + v.syllables
        enders = self._enders(plan, line)
        can_end = enders & (total >= least) & (total <= most)
        shortest = int(v.syllables[enders & (v.syllables > 0)].min()) if bool(enders.any()) else 1
        return words & (can_end | (total + shortest <= most))

    def _punctuation(self, line: _Line) -> torch.Tensor:
        if line.text[-1:].isalpha():
            return self.vocab.punct.clone()
        return torch.zeros(self.vocab.size, dtype=torch.bool)

    def _may_end(self, plan: FormPlan, line: _Line) -> bool:
        if plan.spans:
            least, most = plan.spans[line.index]
            if line.count < least:
                return False
            if line.count > most:  # overshot (the model had its way): end the line now
                return True
        return self._word_may_end(plan, line, last_word(line.text))

    def _word_may_end(self, plan: FormPlan, line: _Line, word: str) -> bool:
        """Whether `word` may end this line as far as rhyme goes (the scalar `_enders`)."""
        target = self._rhyme_target(plan, line)
        if target is None:
            return True
        key, used, group = target
        mine = self.vocab.key_of.get(rhyme_key(word)) if rhyme_key(word) else None
        if key is None:
            rich = self.vocab.class_size >= group + 1
            return not bool(rich.any()) or (mine is not None and bool(rich[mine]))
        if not bool((self.vocab.word & (self.vocab.rhyme == key)).any()):
            return True  # nothing in the vocabulary rhymes: cannot steer this line
        return mine == key and word.lower() not in used

    def _enders(self, plan: FormPlan, line: _Line) -> torch.Tensor:
        """Tokens whose word may end this line as far as rhyme goes."""
        v = self.vocab
        target = self._rhyme_target(plan, line)
        if target is None:
            return v.word.clone()
        key, used, group = target
        if key is None:  # the first line of its group: end on a word with enough rhymes
            rich = v.word & (v.rhyme_class >= group + 1)
            return rich if bool(rich.any()) else v.word.clone()
        rhyming = v.word & (v.rhyme == key)
        for word in used:
            rhyming[v.ids_of.get(word, [])] = False
        return rhyming if bool(rhyming.any()) else v.word.clone()

    def _rhyme_target(
        self, plan: FormPlan, line: _Line
    ) -> tuple[int | None, list[str], int] | None:
        """None for an unrhymed line; else (the group's rhyme key id, or None for the group's
        first line), the group's words so far, and the group's size."""
        if not plan.rhyme or line.index >= len(plan.rhyme):
            return None
        letter = plan.rhyme[line.index]
        group = [i for i, x in enumerate(plan.rhyme) if x == letter]
        if len(group) < 2:
            return None
        earlier = [line.ends[i].lower() for i in group if i < line.index and line.ends[i]]
        if not earlier:
            return None if line.index != group[0] else (None, [], len(group))
        key = self.vocab.key_of.get(rhyme_key(earlier[0]))
        if key is None:  # the group's first word is not a vocabulary word: cannot steer
            return None
        return key, earlier, len(group)


def _only(size: int, token: int) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool)
    mask[token] = True
    return mask


def _all_but(size: int, token: int) -> torch.Tensor:
    return ~_only(size, token)
