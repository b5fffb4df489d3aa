"""The ABC subset our melodies use: parse, repair, cut to length, write back, and play.

The subset is what the folk-tune corpus uses for a melody: notes with accidentals (`^ _ =`),
octave marks (`' ,`) and lengths (`2`, `/2`, `3/2`, `//`), rests (`z`), chords (`[CEG]`),
ties (`-`), broken rhythm (`> <`), tuplets (`(3`), bar lines, repeats (`|: :| ::`) and first
and second endings. Everything else a model may write (decorations, slurs, grace notes, chord
symbols, inline fields, stray letters) is dropped: it carries no pitch or time we play, and
dropping it keeps the text we post inside what we can check.

`parse` never fails: what it cannot read it drops and counts. `repair` then makes the tune
sound and well formed: every bar (but a pickup) exactly one bar long, repeats opened and
closed, endings only where a repeat makes them meaningful. `cut` keeps the first N bars as
played (a repeated bar counts twice) and `events` unfolds repeats into timed notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import pairwise

_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARPS, _FLATS = "FCGDAEB", "BEADGCF"
_MAJOR_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
_MODE_SHIFT = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "min": -3, "aeo": -3, "m": -3}
_MODE_SHIFT.update({"phr": -4, "loc": -5, "lyd": 1})

_LENGTH = r"(?P<num>\d*)(?P<slashes>/*)(?P<den>\d*)"
_NOTE = r"(?P<acc>\^\^|\^|__|_|=)?(?P<pitch>[A-Ga-g])(?P<oct>[',]*)"
_TOKENS = re.compile(
    "|".join(
        [
            r"(?P<bar>:*(?:\[\||\|\]|\|\||\|)(?::+)?)(?:(?P<bar_end>[12])(?![\d/]))?",
            r"(?P<dcolon>::)",
            r"(?P<ending>\[[12])(?![\d/])",
            r"(?P<chord>\[(?:(?:\^\^|\^|__|_|=)?[A-Ga-g][',]*\d*/*\d*-?)+\])"
            r"(?P<chord_len>\d*/*\d*)(?P<chord_tie>-?)",
            rf"{_NOTE}{_LENGTH}(?P<tie>-?)",
            r"(?P<rest>[zx])(?P<rnum>\d*)(?P<rsl>/*)(?P<rden>\d*)",
            r"(?P<tuplet>\((?P<p>[2-9])(?::(?P<q>\d)?)?(?::(?P<r>\d))?)",
            r"(?P<broken>>{1,3}|<{1,3})",
            r"(?P<space>[ \t`]+)",
            r"(?P<newline>\\?\n|\\$)",
            # Kept out of the posted text on purpose: slurs, decorations, grace notes, chord
            # symbols and annotations, inline fields.
            r"(?P<ignored>[().~HLMOPSTuv]|![^!\n]*!|\+[^+\n]*\+|\{[^}\n]*\}|\"[^\"\n]*\"|"
            r"\[[A-Za-z]:[^\]\n]*\])",
        ]
    )
)

_FIELD_LINE = re.compile(r"^[A-Za-z]:(?!\|).*$", re.MULTILINE)


# Header values ---------------------------------------------------------------------------
def key_signature(key: str) -> dict[str, int]:
    """Accidentals a key implies, by letter: `K:D` -> {"F": 1, "C": 1}; modes and minor keys
    (`Am`, `E Minor`, `Ador`, `D Mixolydian`) included. Unknown keys read as C major."""
    found = re.match(r"\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)", key)
    if not found:
        return {}
    tonic, accidental, mode = found.group(1).upper(), found.group(2), found.group(3).lower()
    fifths = _MAJOR_FIFTHS[tonic] + {"#": 7, "b": -7, "": 0}[accidental]
    fifths += _MODE_SHIFT.get(mode[:3] if mode != "m" else "m", 0)
    if fifths >= 0:
        return {letter: 1 for letter in _SHARPS[:fifths]}
    return {letter: -1 for letter in _FLATS[:-fifths]}


def meter_length(meter: str) -> Fraction:
    """A bar's length as a fraction of a whole note: `C` is 4/4, `C|` is 2/2."""
    meter = meter.strip()
    if meter in ("C", "C|"):
        return Fraction(1)
    num, _, den = meter.partition("/")
    return Fraction(int(num), int(den))


def read_length(num: str, slashes: str, den: str) -> Fraction:
    """An ABC length multiplier: `3` -> 3, `/` -> 1/2, `//` -> 1/4, `3/2` -> 3/2."""
    top = int(num) if num else 1
    if not slashes:
        return Fraction(top)
    bottom = int(den) if den else 2 ** len(slashes)
    return Fraction(top, bottom) if bottom else Fraction(top)


def write_length(length: Fraction) -> str:
    """The shortest ABC spelling of a length multiplier (1 -> '', 1/2 -> '/', 3/2 -> '3/2')."""
    if length.denominator == 1:
        return "" if length.numerator == 1 else str(length.numerator)
    top = "" if length.numerator == 1 else str(length.numerator)
    return f"{top}/" if length.denominator == 2 else f"{top}/{length.denominator}"


# The tune model ------------------------------------------------------------------------
@dataclass
class Item:
    """One timed thing in a bar: a note, rest or chord, a broken-rhythm pair, or a tuplet.
    `events` are what it plays: (MIDI pitches, () for a rest; length in units of L; tied)."""

    text: str
    length: Fraction
    events: list[tuple[tuple[int, ...], Fraction, bool]]
    spelling: str = ""  # for a plain note, rest or chord: its text without length or tie
    space: bool = False  # a space before it (breaks the beam)

    @property
    def plain(self) -> bool:
        return bool(self.spelling)


@dataclass
class Bar:
    items: list[Item] = field(default_factory=list)
    opens: bool = False  # `|:` before it
    closes: bool = False  # `:|` after it
    ending: int = 0  # 1 or 2: a first or second ending starts here
    double: bool = False  # `||` or `|]` after it

    @property
    def length(self) -> Fraction:
        return sum((i.length for i in self.items), Fraction(0))


@dataclass
class Tune:
    bars: list[Bar]
    bar_length: Fraction  # in units of L
    dropped: int = 0  # characters or marks parse dropped


# Parsing -------------------------------------------------------------------------------
class _Reader:
    def __init__(self, signature: dict[str, int]) -> None:
        self.signature = signature
        self.bar_accidentals: dict[tuple[str, int], int] = {}

    def pitch(self, acc: str | None, letter: str, octave: str) -> int:
        base = 60 if letter.isupper() else 72
        base += 12 * (octave.count("'") - octave.count(","))
        step = (letter.upper(), base)
        if acc:
            self.bar_accidentals[step] = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}[acc]
        shift = self.bar_accidentals.get(step, self.signature.get(letter.upper(), 0))
        return base + _LETTER[letter.upper()] + shift


def parse(body: str, *, key: str, meter: str, unit: str) -> Tune:
    """Read a tune body. Never raises: unreadable text is dropped and counted."""
    reader = _Reader(key_signature(key))
    bar_length = meter_length(meter) / Fraction(unit)
    # Header fields inside the body (a part label `P:B`, words `w:`) are not music.
    fields = _FIELD_LINE.findall(body)
    parser = _Parser(reader, dropped=sum(len(f) for f in fields))
    body = _FIELD_LINE.sub("", body)
    pos = 0
    while pos < len(body):
        m = _TOKENS.match(body, pos)
        if m is None:
            parser.dropped += 1
            pos += 1
            continue
        pos = m.end()
        parser.feed(_token_kind(m), m.groupdict())
    bars = _drop_empty(parser.finish())
    return Tune(bars, bar_length, parser.dropped + drop_false_ties(bars))


def _token_kind(m: re.Match[str]) -> str | None:
    """Which alternative of `_TOKENS` matched (a note's, rest's, chord's or bar's inner
    groups can be the last one, so those are asked for by name)."""
    groups = m.groupdict()
    if groups["bar"] is not None or groups["dcolon"] is not None:
        return "bar"
    if groups["chord"] is not None:
        return "chord"
    if groups["pitch"] is not None:
        return "note"
    if groups["rest"] is not None:
        return "rest"
    return m.lastgroup


def _read_item(reader: _Reader, kind: str | None, groups: dict[str, str]) -> Item | None:
    """The note, rest or chord a token spells; None for any other token."""
    item: Item | None = None
    if kind == "note":
        pitch = reader.pitch(groups["acc"], groups["pitch"], groups["oct"])
        length = read_length(groups["num"], groups["slashes"], groups["den"])
        spelling = (groups["acc"] or "") + groups["pitch"] + groups["oct"]
        tie = bool(groups["tie"])
        item = Item("", length, [((pitch,), length, tie)], spelling)
    elif kind == "rest":
        length = read_length(groups["rnum"], groups["rsl"], groups["rden"])
        item = Item("", length, [((), length, False)], "z")
    elif kind == "chord":
        inner = re.findall(_NOTE + r"(\d*/*\d*)", groups["chord"])
        pitches = tuple(sorted({reader.pitch(a or None, p, o) for a, p, o, _ in inner}))
        first = re.fullmatch(r"(\d*)(/*)(\d*)", inner[0][3])
        assert first is not None
        length = read_length(*first.groups()) * read_length(
            *re.fullmatch(r"(\d*)(/*)(\d*)", groups["chord_len"]).groups()  # type: ignore[union-attr]
        )
        spelling = "[" + "".join(a + p + o for a, p, o, _ in inner) + "]"
        item = Item("", length, [(pitches, length, bool(groups["chord_tie"]))], spelling)
    if item is not None:
        item.text = item.spelling + write_length(item.length) + ("-" if item.events[0][2] else "")
    return item


_Tuplet = tuple[int, Fraction, list[Item], str]  # notes left, time factor, notes, its text


class _Parser:
    """The state of one `parse`: the bars so far, what was dropped, and a tuplet or broken
    rhythm that is waiting for its next note."""

    def __init__(self, reader: _Reader, *, dropped: int) -> None:
        self.reader = reader
        self.bars: list[Bar] = [Bar()]
        self.dropped = dropped
        self.tuplet: _Tuplet | None = None
        self.broken: tuple[str, Item] | None = None  # the arrows and the note before them
        self.space = False

    def feed(self, kind: str | None, groups: dict[str, str]) -> None:
        if kind in ("space", "newline"):
            self.space = True
            return
        if kind == "ignored":
            self.dropped += 1
            return
        item = _read_item(self.reader, kind, groups)
        if item is not None:
            self._add_item(item)
        else:
            self._add_mark(kind, groups)

    def finish(self) -> list[Bar]:
        self._break_tuplet()
        return self.bars

    def _add_item(self, item: Item) -> None:
        item.space = self.space
        self.space = False
        if self.broken is not None:
            arrows, before = self.broken
            self.broken = None
            if before.plain and item.plain:
                item = _broken_pair(before, arrows, item)
                _last(self.bars).items.pop()  # the pair replaces the note before it
            else:
                self.dropped += len(arrows)
        if self.tuplet is not None:
            left, factor, notes, text = self.tuplet
            notes.append(item)
            if left > 1:
                self.tuplet = (left - 1, factor, notes, text)
                return
            self.tuplet = None
            item = _tuplet_item(text, factor, notes)
        _last(self.bars).items.append(item)

    def _add_mark(self, kind: str | None, groups: dict[str, str]) -> None:
        self._break_tuplet()  # anything but a note inside a tuplet breaks it
        if kind == "tuplet":
            p = int(groups["p"])
            q = int(groups["q"]) if groups["q"] else (3 if p in (2, 4, 8) else 2)
            r = int(groups["r"]) if groups["r"] else p
            self.tuplet = (r, Fraction(q, p), [], f"({p}" if not groups["q"] else groups["tuplet"])
            return
        if kind == "broken":
            items = _last(self.bars).items
            if items and self.broken is None:
                self.broken = (groups["broken"], items[-1])
            else:
                self.dropped += len(groups["broken"])
            return
        if self.broken is not None:
            self.dropped += len(self.broken[0])
            self.broken = None
        if kind == "ending":
            _last(self.bars).ending = int(groups["ending"][1])
            return
        self._bar_line(groups["bar"] or groups["dcolon"], groups["bar_end"])

    def _bar_line(self, sign: str, ending: str | None) -> None:
        """Close this bar, start the next."""
        bar = _last(self.bars)
        bar.closes = sign.startswith(":")
        bar.double = "||" in sign or "|]" in sign or "[|" in sign
        self.bars.append(Bar(opens=sign.endswith(":"), ending=int(ending or 0)))
        self.reader.bar_accidentals.clear()
        self.space = False

    def _break_tuplet(self) -> None:
        """A tuplet cut short: its mark is dropped, its notes are kept as written."""
        if self.tuplet is not None:
            self.dropped += len(self.tuplet[3])
            _last(self.bars).items.extend(self.tuplet[2])
            self.tuplet = None


def drop_false_ties(bars: list[Bar]) -> int:
    """A tie joins two notes of the same pitch; the corpus also writes `-` between different
    notes (a slur, really). Those ties go, so every reader hears what we hear."""
    items = [item for bar in bars for item in bar.items]
    dropped = 0
    for item, after in pairwise(items):
        pitches, length, tie = item.events[-1]
        if tie and (not pitches or after.events[0][0] != pitches) and item.text.endswith("-"):
            item.events[-1] = (pitches, length, False)
            item.text = item.text[:-1]
            dropped += 1
    if items and items[-1].events[-1][2] and items[-1].text.endswith("-"):
        pitches, length, _ = items[-1].events[-1]
        items[-1].events[-1] = (pitches, length, False)
        items[-1].text = items[-1].text[:-1]
        dropped += 1
    return dropped


def _last(bars: list[Bar]) -> Bar:
    return bars[-1]


def _broken_pair(before: Item, arrows: str, after: Item) -> Item:
    """`A>B`: the first note dotted, the second shortened (`<` the other way round)."""
    shift = Fraction(1, 2 ** len(arrows))
    long_, short = 2 - shift, shift
    a, b = (long_, short) if arrows[0] == ">" else (short, long_)
    events = [
        (before.events[0][0], before.length * a, before.events[0][2]),
        (after.events[0][0], after.length * b, after.events[0][2]),
    ]
    text = before.text + arrows + after.text
    return Item(text, before.length + after.length, events, space=before.space)


def _tuplet_item(mark: str, factor: Fraction, notes: list[Item]) -> Item:
    events = [(p, n * factor, t) for note in notes for p, n, t in note.events]
    text = mark + "".join((" " if n.space and k else "") + n.text for k, n in enumerate(notes))
    return Item(text, sum((n for _, n, _ in events), Fraction(0)), events, space=notes[0].space)


def _drop_empty(bars: list[Bar]) -> list[Bar]:
    """Bars with no notes go; their repeat marks move to their neighbours."""
    kept: list[Bar] = []
    carry_opens, carry_ending = False, 0
    for bar in bars:
        if not bar.items:
            if kept and (bar.closes or bar.double):
                kept[-1].closes |= bar.closes
                kept[-1].double |= bar.double
            carry_opens |= bar.opens
            carry_ending = bar.ending or carry_ending
            continue
        bar.opens |= carry_opens
        bar.ending = bar.ending or carry_ending
        carry_opens, carry_ending = False, 0
        kept.append(bar)
    return kept


# Repair --------------------------------------------------------------------------------
def repair(tune: Tune) -> Tune:
    """Every bar but a pickup exactly one bar long; repeats and endings well formed."""
    bars = _fix_repeats(tune.bars)
    fitted = [
        _fit(bar, tune.bar_length, pickup=n == 0, lead_in=n + 1 < len(bars) and bars[n + 1].opens)
        for n, bar in enumerate(bars)
    ]
    return replace(tune, bars=fitted)


def _fit(bar: Bar, full: Fraction, *, pickup: bool, lead_in: bool) -> Bar:
    """Trim a long bar from its end; fill a short one: a rest before a lead-in to a repeat
    (the notes stay an upbeat), else the last note held longer. A first-bar pickup of at most
    half a bar stays as it is."""
    items = list(bar.items)
    while items and sum((i.length for i in items), Fraction(0)) > full:
        items.pop()
    total = sum((i.length for i in items), Fraction(0))
    if not items:
        first = bar.items[0]
        spelling = first.spelling or "z"
        pitches = first.events[0][0] if first.plain else ()
        items = [Item(spelling + write_length(full), full, [(pitches, full, False)], spelling)]
    elif total < full and not (pickup and total <= full / 2):
        gap = full - total
        last = items[-1]
        if lead_in:
            items = [*_rests(gap), *items]
        elif last.plain and last.length + gap in NICE_LENGTHS:
            length = last.length + gap
            pitches, _, tie = last.events[0]
            text = last.spelling + write_length(length) + ("-" if tie else "")
            items[-1] = Item(text, length, [(pitches, length, tie)], last.spelling, last.space)
        else:
            items.extend(_rests(gap))
    return replace(bar, items=items)


NICE_LENGTHS = tuple(Fraction(n) for n in ("12", "9", "8", "6", "4", "3", "2", "3/2", "1", "1/2"))


def _rests(gap: Fraction) -> list[Item]:
    """Rests filling `gap`, in lengths a player reads easily (4, 2, 1, 1/2...)."""
    out = []
    while gap > 0:
        piece = next((n for n in NICE_LENGTHS if n <= gap), None)
        if piece is None:  # an odd remainder below half a unit: one rest of exactly that
            piece = gap
        out.append(Item("z" + write_length(piece), piece, [((), piece, False)], "z"))
        gap -= piece
    return out


def _fix_repeats(bars: list[Bar]) -> list[Bar]:
    """Open and close every repeat; keep an ending only where a repeat gives it meaning."""
    bars = [replace(b) for b in bars]
    start = 0  # where the current section (and its repeat, if any) starts
    open_at: int | None = None
    for n, bar in enumerate(bars):
        if bar.opens:
            if open_at is not None:
                bars[open_at].opens = False  # a second `|:` moves the start
            open_at = n
        if bar.ending == 2 and not (n > 0 and bars[n - 1].closes):
            bar.ending = 0
        if bar.closes:
            if open_at is None:
                bars[start].opens = True  # `:|` without `|:` repeats from the section start
            open_at = None
            start = n + 1
        elif bar.double:
            start = n + 1
            if open_at is not None:  # a repeat left open at a double bar: close it there
                bar.closes = True
                open_at = None
    if open_at is not None:
        bars[-1].closes = True
    for n, bar in enumerate(bars):  # a first ending must close within its repeat
        if bar.ending == 1 and not any(b.closes for b in bars[n:]):
            bar.ending = 0
    return bars


# Length and playback ---------------------------------------------------------------------
def played_order(bars: list[Bar]) -> list[int]:
    """Indices of the bars in the order they sound, repeats and endings unfolded."""
    order: list[int] = []
    start, second, jumped_from, in_first = 0, False, -1, False
    n = 0
    while n < len(bars):
        bar = bars[n]
        if bar.opens and not (second and n <= jumped_from):
            start, second = n, False
        if bar.ending == 1:
            in_first = True
        elif bar.ending == 2:
            in_first = False
        if second and n > jumped_from and bar.ending != 2:
            second = False
        if not (second and in_first):
            order.append(n)
        if bar.closes:
            in_first = False
            if not second:
                second, jumped_from, n = True, n, start
                continue
        n += 1
    return order


def cut(tune: Tune, played_bars: int) -> Tune:
    """The first `played_bars` bars as they sound. A repeat that would run past the end is
    written out plainly instead of being repeated; the tune ends on a final bar line."""
    bars = tune.bars
    kept: list[Bar] = []
    played = 0
    n = 0
    while n < len(bars) and played < played_bars:
        if bars[n].opens:
            end = next((k for k in range(n, len(bars)) if bars[k].closes), len(bars) - 1)
            if end + 1 < len(bars) and bars[end + 1].ending == 2:
                end += 1
            block = bars[n : end + 1]
            order = played_order(block)
            # The pickup is not a bar, however often it sounds.
            cost = _full_bars(block, order, tune.bar_length) if n == 0 else len(order)
            if played + cost <= played_bars:
                kept.extend(block)
                played += cost
                n = end + 1
                continue
        kept.append(replace(bars[n], opens=False, closes=False, ending=0, double=False))
        played += 0 if n == 0 and bars[0].length < tune.bar_length else 1
        n += 1
    if kept:
        last = kept[-1]
        kept[-1] = replace(last, double=not last.closes)
    drop_false_ties(kept)
    return replace(tune, bars=kept)


def played_length(tune: Tune) -> int:
    """Bars as they sound, a pickup (a short first bar) not counted."""
    return _full_bars(tune.bars, played_order(tune.bars), tune.bar_length)


def _full_bars(bars: list[Bar], order: list[int], full: Fraction) -> int:
    pickup = bool(bars) and bars[0].length < full
    return sum(1 for n in order if not (n == 0 and pickup))


def write(tune: Tune, *, bars_per_line: int = 4) -> str:
    """The tune body as ABC text."""
    out: list[str] = []
    line: list[str] = []
    for n, bar in enumerate(tune.bars):
        head = ""
        if n == 0 and bar.opens:
            head = "|:"
        if bar.ending:
            head += f"[{bar.ending}"
        music = "".join((" " if i.space and k else "") + i.text for k, i in enumerate(bar.items))
        nxt = tune.bars[n + 1] if n + 1 < len(tune.bars) else None
        if nxt is None:
            sign = ":|" if bar.closes else "|]"
        elif bar.closes and nxt.opens:
            sign = "::"
        else:
            sign = (":" if bar.closes else "") + ("||" if bar.double else "|")
            sign += ":" if nxt.opens else ""
        line.append(f"{head} {music} {sign}".strip() if head else f"{music} {sign}")
        if len(line) == bars_per_line or nxt is None:
            out.append(" ".join(line))
            line = []
    return "\n".join(out)


def events(tune: Tune) -> list[tuple[tuple[int, ...], Fraction]]:
    """Notes as they sound, in order: (MIDI pitches, () for a rest; length in L units), with
    repeats unfolded and tied notes of equal pitch merged."""
    out: list[tuple[tuple[int, ...], Fraction]] = []
    tied = False
    for n in played_order(tune.bars):
        for item in tune.bars[n].items:
            for pitches, length, tie in item.events:
                if tied and out and out[-1][0] == pitches and pitches:
                    out[-1] = (pitches, out[-1][1] + length)
                else:
                    out.append((pitches, length))
                tied = tie
    return out


def end_on_tonic(tune: Tune, key: str) -> Tune:
    """The last note moved to the key's home note, in the octave nearest to it, so a melody
    cut anywhere still sounds finished. Rests, chords and tuplets at the end are left alone."""
    found = re.match(r"\s*([A-Ga-g])", key)
    if not tune.bars or not found:
        return tune
    bar = tune.bars[-1]
    last = bar.items[-1]
    if not last.plain or len(last.events) != 1 or len(last.events[0][0]) != 1:
        return tune
    old = last.events[0][0][0]
    letter = found.group(1).upper()
    shift = key_signature(key).get(letter, 0)
    spellings = [letter + ",", letter, letter.lower(), letter.lower() + "'"]
    pitches = [48, 60, 72, 84]
    best = min(range(4), key=lambda k: abs(pitches[k] + _LETTER[letter] + shift - old))
    pitch = pitches[best] + _LETTER[letter] + shift
    # An accidental earlier in the bar would carry over to our note: spell it out.
    marked = any(
        i.plain and i.spelling[0] in "^_=" and i.spelling.lstrip("^_=")[0].upper() == letter
        for i in bar.items[:-1]
    )
    mark = {1: "^", -1: "_", 0: "="}[shift] if marked else ""
    spelling = mark + spellings[best]
    text = spelling + write_length(last.length)
    ending = Item(text, last.length, [((pitch,), last.length, False)], spelling, last.space)
    return replace(tune, bars=[*tune.bars[:-1], replace(bar, items=[*bar.items[:-1], ending])])
