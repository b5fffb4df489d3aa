"""Composing a cento: lines retrieved by topic and mood, fitted to a form's syllables and rhymes.

Each form is a list of slots (a syllable target and a rhyme letter). Lines sharing a letter end
on the same rhyme key (CMU dictionary: last stressed vowel onward) and on different words. Lines
that share the most topic stems are preferred; the first line always carries the topic when the
index has any line that does. A `random.Random(seed)` makes every choice: same seed, same poem.
A line whose last word rhymes two ways ("wind", "lives") never fills a rhymed slot, no two
lines end on the same word (or its family: "night", "nights"), and each rhyme group has its own
sound.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from dataclasses import dataclass

from worker.cento.index import CentoIndex, Line, content_stems, stem

# (syllable target, rhyme letter or "" for unrhymed)
FORMS: dict[str, list[tuple[int, str]]] = {
    "haiku": [(5, ""), (7, ""), (5, "")],
    "tanka": [(5, ""), (7, ""), (5, ""), (7, ""), (7, "")],
    "limerick": [(8, "A"), (8, "A"), (5, "B"), (5, "B"), (8, "A")],
    "sonnet": [(10, x) for x in "ABABCDCDEFEFGG"],
    "quatrain": [(8, x) for x in "ABAB"],
    "couplet": [(10, "A"), (10, "A")],
}
TOLERANCE = {"limerick": 1}  # syllables a target may miss by either side (sonnets: none)
FREE_LINES = (4, 8)
CREDIT = "Gutenberg Poetry Corpus"


@dataclass
class Cento:
    lines: list[Line]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def sources(self) -> str:
        return "; ".join(f"{CREDIT}, line {line.number}" for line in self.lines)


class Composer:
    def __init__(self, index: CentoIndex) -> None:
        self.index = index
        self.by_syllables: dict[int, list[int]] = defaultdict(list)
        self.by_rhyme: dict[str, list[int]] = defaultdict(list)
        self._ends_memo: dict[tuple[str, tuple[int, ...], int], frozenset[str]] = {}
        self._scores_memo: dict[tuple[str, str], tuple[dict[int, int], dict[int, int]]] = {}
        for pos, line in enumerate(index.lines):
            self.by_syllables[line.syllables].append(pos)
            self.by_rhyme[line.rhyme].append(pos)

    def relevance(self, query: str) -> dict[int, int]:
        """Line position -> how many of the query's stems it holds."""
        score: dict[int, int] = defaultdict(int)
        for s in set(content_stems(query)):
            for pos in self.index.postings.get(s, ()):
                score[pos] += 1
        return score

    def compose(
        self, form: str, topic: str, mood: str = "", *, seed: int = 0, variant: int = 0
    ) -> Cento:
        """The cento for (form, topic, mood, seed); `variant` n > 0 draws the n-th other
        candidate for the same request (the generator keeps the most fluent)."""
        rng = random.Random(seed if variant == 0 else f"{seed}/{variant}")
        topical, score = self._scores(topic, mood)
        slots = FORMS.get(form)
        if slots is None:
            return self._free(rng, topical, score)
        tol = TOLERANCE.get(form, 0)
        for _ in range(40):  # a rhyme group may find too few lines: try other openings
            lines = self._fill(rng, slots, tol, topical, score)
            if lines is not None:
                return Cento(lines)
        return Cento(self._fill(rng, slots, tol, {}, {}) or [])

    def _scores(self, topic: str, mood: str) -> tuple[dict[int, int], dict[int, int]]:
        """(topic relevance, topic and mood relevance), kept for the request's other drafts."""
        key = (topic, mood)
        if key not in self._scores_memo:
            topical = self.relevance(topic)
            score = dict(topical)
            for pos, n in self.relevance(mood).items():
                score[pos] = score.get(pos, 0) + n
            if len(self._scores_memo) >= 32:
                self._scores_memo.pop(next(iter(self._scores_memo)))
            self._scores_memo[key] = (topical, score)
        return self._scores_memo[key]

    def _fits(self, pos: int, target: int, tol: int) -> bool:
        return abs(self.index.lines[pos].syllables - target) <= tol

    def _pick(self, rng: random.Random, pool: list[int], score: dict[int, int]) -> int | None:
        """A random line among the best-scoring quarter of `pool` (the pool when none score)."""
        if not pool:
            return None
        ranked = sorted(pool, key=lambda p: -score.get(p, 0))
        best = score.get(ranked[0], 0)
        top = [p for p in ranked if score.get(p, 0) == best] if best else ranked
        return rng.choice(top[: max(8, len(top))])

    def _fill(
        self,
        rng: random.Random,
        slots: list[tuple[int, str]],
        tol: int,
        topical: dict[int, int],
        score: dict[int, int],
    ) -> list[Line] | None:
        chosen: list[int] = []
        rhyme_of: dict[str, str] = {}
        for i, (target, letter) in enumerate(slots):
            used = set(chosen)
            ends = {self._end(p) for p in chosen}  # no end word twice, nor its family
            fresh = functools.partial(self._fresh, used=used, ends=ends, target=target, tol=tol)
            if letter and letter in rhyme_of:
                pool = [p for p in self.by_rhyme[rhyme_of[letter]] if fresh(p)]
            else:
                taken = set(rhyme_of.values())  # each rhyme group its own sound
                want = topical if i == 0 and topical else score
                pool = [p for p in want if fresh(p) and self.index.lines[p].rhyme not in taken]
                if letter:  # an opening rhyme needs partners enough for its group
                    need = sum(1 for _, x in slots if x == letter) - 1
                    pool = [p for p in pool if self._partners(p, slots, letter, tol) >= need]
                if not pool:
                    pool = [
                        p
                        for p in self.by_syllables[target]
                        if fresh(p)
                        and self.index.lines[p].rhyme not in taken
                        and (not letter or self._partners(p, slots, letter, tol) >= 1)
                    ][:5000]
            pos = self._pick(rng, pool, score)
            if pos is None:
                return None
            chosen.append(pos)
            if letter:
                rhyme_of.setdefault(letter, self.index.lines[pos].rhyme)
        return [self.index.lines[p] for p in chosen]

    def _fresh(self, p: int, *, used: set[int], ends: set[str], target: int, tol: int) -> bool:
        return p not in used and self._fits(p, target, tol) and self._end(p) not in ends

    def _end(self, pos: int) -> str:
        return stem(self.index.lines[pos].last)

    def _partners(self, pos: int, slots: list[tuple[int, str]], letter: str, tol: int) -> int:
        """How many other end words can rhyme with line `pos` in its group's lengths."""
        line = self.index.lines[pos]
        if not line.rhyme:
            return 0
        targets = tuple(sorted({t for t, x in slots if x == letter}))
        ends = self._ends(line.rhyme, targets, tol)
        return len(ends) - (line.last in ends)

    def _ends(self, rhyme: str, targets: tuple[int, ...], tol: int) -> frozenset[str]:
        key = (rhyme, targets, tol)
        if key not in self._ends_memo:
            self._ends_memo[key] = frozenset(
                self.index.lines[p].last
                for p in self.by_rhyme[rhyme]
                if any(self._fits(p, t, tol) for t in targets)
            )
        return self._ends_memo[key]

    def _free(self, rng: random.Random, topical: dict[int, int], score: dict[int, int]) -> Cento:
        count = rng.randint(*FREE_LINES)
        chosen: list[int] = []
        for i in range(count):
            want = topical if i == 0 and topical else score
            ends = {self._end(p) for p in chosen}
            pool = [p for p in want if p not in chosen and self._end(p) not in ends] or [
                p for p in self.by_syllables[8][:5000] if p not in chosen
            ]
            pos = self._pick(rng, pool, score)
            if pos is None:
                break
            chosen.append(pos)
        return Cento([self.index.lines[p] for p in chosen])
