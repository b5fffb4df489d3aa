"""Bar arithmetic on ABC text as it is being written: how much of the current bar is used,
and whether a piece of text may come next without making a bar too long or closing it short.

The melody decoder (`worker.decoding.bars`) asks this for each candidate token: the text of
the bar still open, plus the token, must keep every bar it closes exactly one bar long (a
first-bar pickup of at most half a bar, and an empty bar between two bar lines, may close
too) and leave the bar still open no longer than a bar. Time is counted as our ABC reader
(`worker.music.notation`), and so the repair step, counts it: notes, rests, chords, broken
rhythm and tuplets. It has a small reader of its own, for speed (it is asked thousands of
times a melody; a test holds it to `notation.parse` on the corpus). Text is judged as it
reads now: `A` counts one unit even if a `2` may follow (`A>` counts two: its partner is
coming); the notes of a tuplet not yet
finished count at the tuplet's rate, so the bar is judged by the time they will take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from worker.music import notation

_BARLINE = re.compile(r"\||::")
_FIELD_LINE = re.compile(r"^[A-Za-z]:(?!\|).*$", re.MULTILINE)
# What takes no time and could be misread as notes: decorations, chord symbols and
# annotations, grace notes, inline fields.
_SKIP = re.compile(r'![^!\n]*!|\+[^+\n]*\+|\{[^}\n]*\}|"[^"\n]*"|\[[A-Za-z]:[^\]\n]*\]')
_LEN = r"\d*/*\d*"
_ITEM = re.compile(
    r"\((?P<p>[2-9])(?::(?P<q>\d)?)?(?::(?P<r>\d))?"
    rf"|\[(?P<chord>(?:(?:\^\^|\^|__|_|=)?[A-Ga-g][',]*{_LEN}-?)+)\](?P<clen>{_LEN})"
    rf"|(?:\^\^|\^|__|_|=)?[A-Ga-g][',]*(?P<nlen>{_LEN})"
    rf"|[zx](?P<rlen>{_LEN})"
)
_FIRST_LEN = re.compile(rf"(?:\^\^|\^|__|_|=)?[A-Ga-g][',]*(?P<len>{_LEN})")
_SPLIT_LEN = re.compile(r"(\d*)(/*)(\d*)")


@dataclass(frozen=True)
class Metre:
    key: str
    meter: str
    unit: str

    @property
    def bar(self) -> Fraction:
        """A full bar in units of L: 8 for 4/4 with L:1/8, 6 for 6/8, 6 for 3/4."""
        return notation.meter_length(self.meter) / Fraction(self.unit)


def open_bar(text: str) -> str:
    """The text of the bar still open: everything after the last bar line."""
    ends = [m.end() for m in _BARLINE.finditer(text)]
    return text[ends[-1] :] if ends else text


def used(segment: str) -> Fraction:
    """Time taken by one bar's text (no bar lines in it), in units of L."""
    return _read(segment)[0]


def progresses(bar_text: str, piece: str) -> bool:
    """Whether `piece` adds time or writes a bar line. After a space, a line break or a bare
    `(`, a piece must progress (a tuplet's digit after `(` aside): otherwise a row that is
    refused the bar line it wants can write spaces for ever."""
    if not bar_text.endswith((" ", "\t", "\n", "(")):
        return True
    if bar_text.endswith("(") and piece[:1].isdigit():
        return True
    return bool(_BARLINE.search(piece)) or used(bar_text + piece) != used(bar_text)


@lru_cache(maxsize=100_000)
def _read(segment: str) -> tuple[Fraction, bool]:
    """(time taken, whether a tuplet is still open) for one bar's text. Broken rhythm (`>`)
        moves time between two notes and adds none; a mark still waiting for its second note
    counts that note as as long as the first."""
    text = _SKIP.sub(" ", _FIELD_LINE.sub("", segment))
    total = Fraction(0)
    factor, left = Fraction(1), 0  # an open tuplet: its time factor, notes still to come
    length = Fraction(0)
    for m in _ITEM.finditer(text):
        if m.group("p") is not None:
            p = int(m.group("p"))
            q = int(m.group("q")) if m.group("q") else (3 if p in (2, 4, 8) else 2)
            factor, left = Fraction(q, p), int(m.group("r") or p)
            continue
        if m.group("chord") is not None:
            first = _FIRST_LEN.match(m.group("chord"))
            assert first is not None
            length = _length(first.group("len")) * _length(m.group("clen"))
        else:
            length = _length(m.group("nlen") if m.group("nlen") is not None else m.group("rlen"))
        if left:
            length *= factor
            left -= 1
        total += length
    if text.rstrip().endswith((">", "<")):
        total += length  # `A>` promises a partner note, as long as A (`A>B`)
    return total, left > 0


def _length(text: str) -> Fraction:
    split = _SPLIT_LEN.fullmatch(text)
    assert split is not None
    return notation.read_length(*split.groups())


def fits(bar_text: str, piece: str, metre: Metre, *, first_bar: bool) -> bool:
    """May `piece` follow the open bar `bar_text`? Every bar it closes must be full (or be a
    short pickup, or empty), and the bar left open must not be longer than a bar."""
    full = metre.bar
    segments = _BARLINE.split(bar_text + piece)
    for n, segment in enumerate(segments[:-1]):
        length = used(segment)
        pickup = first_bar and n == 0 and length <= full / 2
        if length != full and length != 0 and not pickup:
            return False
    last = segments[-1]
    return used(last) <= full
