"""What every ABC tool accepts, beyond what our own reader accepts: abc2midi and abc2abc
(Debian's abcmidi) reject or warn about three things the melody model writes and
`worker.music.notation` reads happily:

- broken rhythm between notes of unequal length (`A>d2`, `G>D/4`): the standard defines
  `>` for two notes of the same length only; and, for abc2midi, which swings a hornpipe's
  pairs itself, a pair that does not start on a beat of its own length (`A A>B`);
- lengths that are not a power of two (`z/6`, `A/3`) and tuplets whose notes differ in
  length (`(3A2BC`), which also leave the bar off the grid;
- a pickup inside a repeat (`|: G2 | ... :|`): the second pass starts off the bar grid
  unless the repeat's last bar is short by as much, and our bars are all full.

`faults` names them; `repair` is `notation.repair` plus their fixes, and sounds as near as
it can to what the model wrote: an unequal broken pair is written out with its lengths
(`A>d2` -> `A3/2d`), an odd length is cut to the nearest shorter power of two (the bar
repair then fills the gap), a crooked tuplet becomes its first note held for the tuplet's
time, and the repeat starts after the pickup instead of before it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction

from worker.music import notation
from worker.music.notation import Bar, Item, Tune

_ARROWS = re.compile(r"[<>]+")
_SPELT = re.compile(r"(?P<spelling>.*?)(?P<length>\d*/*\d*)(?P<tie>-?)")
_WRITTEN_LENGTH = re.compile(r"(?:[A-Ga-gzx][',]*|\])(?P<num>\d*)(?P<sl>/*)(?P<den>\d*)")
_FIRST_NOTE = re.compile(r"\((?:\d:?)+(?P<spelling>\[[^\]]*\]|(?:\^\^|\^|__|_|=)?[A-Ga-g][',]*)")


def faults(tune: Tune) -> list[str]:
    """What abc2midi or abc2abc would complain about in this tune (nothing, we hope)."""
    found = []
    for n, bar in enumerate(tune.bars):
        at = Fraction(0)
        for item in bar.items:
            where = f"bar {n + 1}: {item.text}"
            if _broken_lengths(item) is not None and not _good_broken(item, at):
                found.append(f"{where}: broken rhythm between unequal notes or off the beat")
            at += item.length
            if _odd_written(item):
                found.append(f"{where}: a length that is not a power of two")
            elif _is_tuplet(item) and _crooked_tuplet(item):
                found.append(f"{where}: a tuplet of unequal notes or an odd length")
    if _pickup_repeated(tune):
        found.append("the pickup is inside a repeat (the second pass is off the bar grid)")
    return found


def repair(tune: Tune) -> Tune:
    """`notation.repair`, with the faults above fixed (before it, so that it fills the time
    a fix takes away)."""
    bars = [replace(bar, items=_portable_items(bar.items)) for bar in tune.bars]
    fixed = notation.repair(replace(tune, bars=bars))
    return _pickup_before_repeat(fixed)


# Broken rhythm -------------------------------------------------------------------------
def _broken_lengths(item: Item) -> tuple[Fraction, Fraction] | None:
    """The lengths the two notes of a broken pair were written with; None if not a pair."""
    arrows = _ARROWS.search(item.text)
    if item.plain or _is_tuplet(item) or arrows is None or len(item.events) != 2:
        return None
    shift = Fraction(1, 2 ** len(arrows.group()))
    a, b = (2 - shift, shift) if arrows.group()[0] == ">" else (shift, 2 - shift)
    return item.events[0][1] / a, item.events[1][1] / b


def _good_broken(item: Item, at: Fraction) -> bool:
    """Two notes of one length, starting on a beat of the pair's own length: `A>B` at the
    start of a bar or after `c2`, not after `c` (abc2midi swings a hornpipe's pairs itself
    and rejects an explicit pair that straddles its beat)."""
    lengths = _broken_lengths(item)
    if lengths is None or lengths[0] != lengths[1] or not _dyadic(lengths[0]):
        return False
    return at % item.length == 0


def _split_pair(item: Item) -> list[Item]:
    """`A>d2` as two notes with their lengths written out: `A3/2` `d`."""
    arrows = _ARROWS.search(item.text)
    assert arrows is not None
    halves = (item.text[: arrows.start()], item.text[arrows.end() :])
    out = []
    for k, (text, event) in enumerate(zip(halves, item.events, strict=True)):
        spelt = _SPELT.fullmatch(text)
        assert spelt is not None
        pitches, length, tie = event
        spelling = spelt.group("spelling")
        written = spelling + notation.write_length(length) + ("-" if tie else "")
        space = item.space if k == 0 else False
        out.append(Item(written, length, [(pitches, length, tie)], spelling, space))
    return out


# Lengths and tuplets -------------------------------------------------------------------
def _dyadic(length: Fraction) -> bool:
    d = length.denominator
    return d & (d - 1) == 0


def _odd_written(item: Item) -> bool:
    for m in _WRITTEN_LENGTH.finditer(item.text):
        if not _dyadic(notation.read_length(m.group("num"), m.group("sl"), m.group("den"))):
            return True
    return not _is_tuplet(item) and not _dyadic(item.length)


def _is_tuplet(item: Item) -> bool:
    return item.text.startswith("(")


def _crooked_tuplet(item: Item) -> bool:
    lengths = {length for _, length, _ in item.events}
    return len(lengths) > 1 or not _dyadic(item.length)


def _shorter_power_of_two(length: Fraction) -> Fraction:
    """The longest easily read length not longer (10/3 -> 3, 2/3 -> 1/2), at least 1/4."""
    return next((n for n in notation.NICE_LENGTHS if n <= length), Fraction(1, 4))


def _held(item: Item, spelling: str) -> Item:
    """One note (or rest) of the item's first pitch, for a length every tool reads."""
    pitches, _, tie = item.events[0]
    length = _shorter_power_of_two(item.length)
    tie = tie and len(item.events) == 1
    text = spelling + notation.write_length(length) + ("-" if tie else "")
    return Item(text, length, [(pitches, length, tie)], spelling, item.space)


def _portable_items(items: list[Item]) -> list[Item]:
    out: list[Item] = []
    at = Fraction(0)  # where the item starts in the bar, in units of L
    for item in items:
        if _broken_lengths(item) is not None and not _good_broken(item, at):
            out.extend(_portable_items(_split_pair(item)))
        elif _is_tuplet(item) and (_crooked_tuplet(item) or _odd_written(item)):
            first = _FIRST_NOTE.match(item.text)
            out.append(_held(item, first.group("spelling") if first else "z"))
        elif item.plain and _odd_written(item):
            out.append(_held(item, item.spelling))
        else:
            out.append(item)
        at += item.length
    return out


# Pickups -------------------------------------------------------------------------------
def _pickup_repeated(tune: Tune) -> bool:
    bars = tune.bars
    if not bars or bars[0].length >= tune.bar_length:
        return False
    return notation.played_order(bars).count(0) > 1


def _pickup_before_repeat(tune: Tune) -> Tune:
    """`|: G2 | E2A2A2 | ... :|` -> `G2 |: E2A2A2 | ... :|`: the pickup sounds once."""
    if not _pickup_repeated(tune):
        return tune
    bars: list[Bar] = [replace(b) for b in tune.bars]
    first = bars[0]
    if first.closes or len(bars) == 1:  # the pickup repeats alone: no repeat at all
        first.closes = False
    else:
        bars[1].opens = True
    first.opens = False
    return replace(tune, bars=bars)
