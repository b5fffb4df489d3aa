"""Bar arithmetic for metre-keeping decoding, on hand-written ABC prefixes."""

from __future__ import annotations

from fractions import Fraction

import pytest

from worker.music.bars import Metre, fits, open_bar, progresses, used

COMMON = Metre("G", "C", "1/8")  # 4/4, L:1/8: a bar is 8 units
JIG = Metre("D", "6/8", "1/8")  # 6 units
WALTZ = Metre("Am", "3/4", "1/8")  # 6 units


def test_a_full_bar_is_counted_in_units_of_l() -> None:
    assert (COMMON.bar, JIG.bar, WALTZ.bar) == (8, 6, 6)
    assert Metre("C", "C|", "1/8").bar == 8 and Metre("C", "2/4", "1/16").bar == 8


@pytest.mark.parametrize(
    ("text", "metre", "expected"),
    [
        ("GABc d2B2", COMMON, "8"),
        ("GAB", COMMON, "3"),
        ("A3/2B/ c2", COMMON, "4"),  # dotted and halved lengths
        ("d3 B2", JIG, "5"),
        ("dBA", JIG, "3"),
        ("A>B c2", WALTZ, "4"),  # broken rhythm: the pair is still two units
        ("A2 z2", WALTZ, "4"),  # rests count
        ("[CEG]2 [DF]", COMMON, "3"),  # chords count once
        ("(3ABc d2", COMMON, "4"),  # a triplet of eighths takes a quarter
        ("^F2 =G _B", COMMON, "4"),  # accidentals take no time
        ('!trill!A2 "Am"B ~c', COMMON, "4"),  # decorations and chord symbols take none
    ],
)
def test_time_used_in_a_bar(text: str, metre: Metre, expected: str) -> None:
    assert used(text) == Fraction(expected)


def test_the_open_bar_is_what_follows_the_last_bar_line() -> None:
    assert open_bar("GABc d2B2 | A2") == " A2"
    assert open_bar("|: dBA :|2 d2") == "2 d2"  # the ending's digit reads as nothing
    assert open_bar("d2 :: e") == " e"
    assert open_bar("D2") == "D2"
    assert used(open_bar("|: dBA :|2 d2")) == 2


def test_notes_that_overflow_the_bar_are_refused() -> None:
    assert fits("| GABc d2", "B2", COMMON, first_bar=False)
    assert not fits("| GABc d2", "B3", COMMON, first_bar=False)
    assert not fits("GABc d2B2", "c", COMMON, first_bar=False)  # the bar is full
    assert not fits("d3 B2", "A2", JIG, first_bar=False)
    assert fits("d3 B2", "A", JIG, first_bar=False)
    assert not fits("A2 B2", "c3", WALTZ, first_bar=False)
    assert not fits("A2 B2", "[ce]3", WALTZ, first_bar=False)
    assert fits("A2 B2", "z2", WALTZ, first_bar=False)
    assert not fits("A2 B2", "z3", WALTZ, first_bar=False)
    assert fits("A2 B2", "c>", WALTZ, first_bar=False)  # c and its partner: six in all
    assert not fits("A2 Bc2", ">", WALTZ, first_bar=False)  # no room for a c2 partner
    assert fits("A2 B2c", ">d", WALTZ, first_bar=False)  # c>d takes two: six in all
    assert not fits("A2 B2c", ">d2", WALTZ, first_bar=False)  # seven


def test_a_bar_line_only_closes_a_full_bar() -> None:
    assert fits("GABc d2B2", "|", COMMON, first_bar=False)
    assert fits("GABc d2B2", " |", COMMON, first_bar=False)
    assert fits("GABc d2B2", ":|", COMMON, first_bar=False)
    assert not fits("GABc d2", "|", COMMON, first_bar=False)
    assert fits("dBA dBA", "|", JIG, first_bar=False)
    assert not fits("dBA dB", "|", JIG, first_bar=False)
    assert fits("A3/2B/ c2 e2", "|", WALTZ, first_bar=False)  # dotted: 3/2 + 1/2 + 2 + 2
    assert fits("(3ABc d2 e2 f2", "|", COMMON, first_bar=False)  # triplet: 2 + 6


def test_a_token_that_closes_a_bar_and_opens_the_next() -> None:
    assert fits("dBA dB", "A|d", JIG, first_bar=False)
    assert not fits("dBA dB", "A|d8", JIG, first_bar=False)  # the next bar overflows
    assert not fits("dBA d", "B|", JIG, first_bar=False)  # closes a short bar


def test_a_short_first_bar_is_a_pickup_and_empty_bars_may_close() -> None:
    assert fits("d", "|", JIG, first_bar=True)  # an upbeat
    assert fits("dB", "|", COMMON, first_bar=True)
    assert not fits("dBAG d", "|", JIG, first_bar=True)  # more than half a bar: not a pickup
    assert not fits("d", "|", JIG, first_bar=False)
    assert fits(" ", "|", JIG, first_bar=False)  # `| |` or `|:` after a bar line


def test_notes_of_an_unfinished_tuplet_count_at_the_tuplets_rate() -> None:
    assert fits("d2 e2 f2 (3AB", "c", COMMON, first_bar=False)  # completes it: 8
    assert fits("d2 e2 f2 (3ABc", "|", COMMON, first_bar=False)
    assert not fits("d2 e2 f2 (3ABc", "d", COMMON, first_bar=False)
    assert used("d2 e2 (3AB") == Fraction(16, 3)
    assert fits("d2 e2 (3AB", "c", COMMON, first_bar=False)
    assert not fits("d2 e2 f2 (3AB", "c2", COMMON, first_bar=False)  # 6 + 2/3 + 2/3 + 4/3


def test_the_fast_reader_counts_as_the_abc_reader_does_on_the_corpus() -> None:
    """Every bar of 600 folk tunes: the decoder's reader and `notation.parse` agree (a tuplet
    broken by a broken-rhythm mark, which the corpus writes a handful of times, aside)."""
    pytest.importorskip("music21")
    from worker.music import notation
    from worker.music.bars import _BARLINE
    from worker.training.abc import load_abc_tunes, tune_body

    segments = [
        s for tune in load_abc_tunes("music21-folk")[:600] for s in _BARLINE.split(tune_body(tune))
    ]
    differ = []
    for segment in segments:
        tune = notation.parse(segment, key="C", meter="C", unit="1/8")
        if sum((b.length for b in tune.bars), Fraction(0)) != used(segment):
            differ.append(segment)
    assert len(segments) > 10_000
    assert len(differ) <= 5, differ


def test_after_a_space_a_token_must_add_time_or_close_the_bar() -> None:
    assert progresses("GAB", " ") and progresses("GAB ", "c") and progresses("GAB ", "|")
    assert not progresses("GAB ", " ") and not progresses("GAB\n", "\n")
    assert not progresses("GAB (", "(") and progresses("GAB (", "3")  # a tuplet's digit
