"""Our ABC reader, repairer and writer: pitches, lengths, accidentals, repeats, broken tunes,
and the corpus's own tunes written back so that music21 (an independent reader) agrees."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from worker.generators.melody_abc import check
from worker.music import notation, portable
from worker.music.header import Request
from worker.training.abc import MUSIC21_FOLK, load_abc_tunes


def read(body: str, key: str = "C", meter: str = "C", unit: str = "1/8") -> notation.Tune:
    return notation.parse(body, key=key, meter=meter, unit=unit)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("C", {}),
        ("D", {"F": 1, "C": 1}),
        ("Bb", {"B": -1, "E": -1}),
        ("Am", {}),
        ("E Minor", {"F": 1}),
        ("Dmix", {"F": 1}),
        ("A Dorian", {"F": 1}),
        ("E Dorian", {"F": 1, "C": 1}),
        ("Gm", {"B": -1, "E": -1}),
        ("F#m", {"F": 1, "C": 1, "G": 1}),
    ],
)
def test_key_signatures_with_modes(key: str, expected: dict[str, int]) -> None:
    assert notation.key_signature(key) == expected


def test_pitches_lengths_chords_tuplets_and_broken_rhythm() -> None:
    tune = read("C,2 c'/ =F// ^G3/2 _B z | [CEG]2 (3cde A>B c<d |")
    assert tune.dropped == 0
    first, second = tune.bars
    assert [e for i in first.items for e in i.events] == [
        ((48,), F(2), False),
        ((84,), F(1, 2), False),
        ((65,), F(1, 4), False),
        ((68,), F(3, 2), False),
        ((70,), F(1), False),
        ((), F(1), False),
    ]
    events = [(p, n) for i in second.items for p, n, _ in i.events]
    assert events[0] == ((60, 64, 67), F(2))
    assert events[1:4] == [((72,), F(2, 3)), ((74,), F(2, 3)), ((76,), F(2, 3))]  # (3: 3 in 2
    assert events[4:] == [((69,), F(3, 2)), ((71,), F(1, 2)), ((72,), F(1, 2)), ((74,), F(3, 2))]
    assert second.length == F(8)


def test_accidentals_hold_to_the_bar_line_and_keys_apply() -> None:
    tune = read("F ^F F f | F", key="G")
    pitches = [e[0][0] for b in tune.bars for i in b.items for e in i.events]
    # In G, F is F#; a written ^F holds for that F in the bar, not for f an octave up.
    assert pitches == [66, 66, 66, 78, 66]
    natural = read("=F F | F", key="D")
    assert [e[0][0] for b in natural.bars for i in b.items for e in i.events] == [65, 65, 66]


def test_repeats_and_endings_unfold_in_playing_order() -> None:
    tune = read("|: A8 | B8 |1 c8 :|2 d8 |] e8 |]")
    assert notation.played_order(tune.bars) == [0, 1, 2, 0, 1, 3, 4]
    implicit = read("A8 | B8 :| c8 |]")  # `:|` with no `|:` repeats from the start
    assert notation.played_order(notation.repair(implicit).bars) == [0, 1, 0, 1, 2]
    twice = read("|: A8 :: B8 :|")
    assert notation.played_order(twice.bars) == [0, 0, 1, 1]


def test_ties_merge_equal_pitches_only() -> None:
    tune = read("A4- A4 | B4- c4 |")
    assert notation.events(tune) == [((69,), F(8)), ((71,), F(4)), ((72,), F(4))]


def test_broken_tune_is_repaired_into_checked_abc() -> None:
    body = 'A2 B2 !trill! "Am" Q% c2 | d10 | e | (3ab |: f8 | {g}a8 |\nP:B\nB,2 z'
    tune = read(body)
    assert tune.dropped > 0
    fixed = notation.repair(tune)
    assert all(bar.length == 8 for bar in fixed.bars)  # filled, trimmed
    assert fixed.bars[-1].closes  # the open repeat is closed
    assert [i.text for i in fixed.bars[-1].items] == ["B,2", "z6"]  # the P:B label is gone
    text = notation.write(fixed)
    again = read(text)
    assert again.dropped == 0 and notation.repair(again).bars == again.bars
    assert notation.events(again) == notation.events(fixed)


def test_edge_cases_never_raise() -> None:
    assert read("").bars == []
    assert read("|||::|]").bars == []
    assert read("%$#@&*").bars == [] and read("%$#@&*").dropped == 6
    long_note = notation.repair(read("A16 |"))  # one note longer than its bar
    assert [i.text for i in long_note.bars[0].items] == ["A8"]
    pickup = notation.repair(read("G | A8 |"))
    assert pickup.bars[0].length == 1  # a short upbeat stays short
    lead_in = notation.repair(read("A8 | d2 |: A8 :|"))
    assert [i.text for i in lead_in.bars[1].items] == ["z6", "d2"]  # rest, then upbeat


def test_cut_counts_bars_as_played() -> None:
    tune = notation.repair(read("G |: A8 | B8 :| c8 | d8 | e8 |]"))
    assert notation.played_length(tune) == 7  # the pickup is not a bar
    four = notation.cut(tune, 4)
    assert notation.played_length(four) == 4 and four.bars[-1].closes
    three = notation.cut(tune, 3)  # the repeat does not fit: written out once, plainly
    assert notation.played_length(three) == 3
    assert not any(b.opens or b.closes for b in three.bars) and three.bars[-1].double


def test_corpus_tunes_survive_repair_and_music21_agrees() -> None:
    music21 = pytest.importorskip("music21")
    tunes = [t for t in load_abc_tunes(MUSIC21_FOLK)[::97] if "L:1/8" in t][:24]
    assert len(tunes) >= 20
    for tune in tunes:
        head = dict(line.split(":", 1) for line in tune.split("\n") if line[1:2] == ":")
        body = "\n".join(line for line in tune.split("\n") if line[1:2] != ":")
        request = Request("t", head["K"], head["M"], 100, 8, "soft", "")
        fixed = notation.cut(portable.repair(read(body, head["K"], head["M"])), 8)
        text = notation.write(fixed)
        if notation.played_length(fixed) == 8:
            assert check(text, request) == []
        abc = request.header() + text + "\n"
        score = music21.converter.parse(abc, format="abc")
        ours = [p for p, _ in notation.events(fixed) if p]
        # music21 plays repeats only when asked; expanded, its notes are ours.
        theirs = [
            tuple(sorted(p.midi for p in n.pitches))
            for n in score.expandRepeats().flatten().notes
            if not (n.tie is not None and n.tie.type in ("stop", "continue"))
        ]
        assert theirs == [tuple(p) for p in ours], abc


@pytest.mark.parametrize(
    ("body", "key", "last_text", "last_pitch"),
    [
        ("A8 | G2 F2 E4 |]", "G", "G4", 67),  # E4 -> the nearest G
        ("A8 | d4 c'4 |]", "D", "d'4", 86),
        ("A8 | ^c2 d2 e2 c2 |]", "Am", "A2", 69),
        ("A8 | ^A2 B2 c2 d2 |]", "Am", "=A2", 69),  # the ^A would carry over: =A
        ("A8 | B2 c2 d2 e2 |]", "Bb", "B2", 70),  # the key's own B flat
        ("A8 | d6 z2 |]", "D", "z2", None),  # a rest at the end stays
    ],
)
def test_melodies_end_on_the_home_note(
    body: str, key: str, last_text: str, last_pitch: int | None
) -> None:
    tune = notation.end_on_tonic(read(body, key=key), key)
    last = tune.bars[-1].items[-1]
    assert last.text == last_text
    if last_pitch is not None:
        assert notation.events(tune)[-1] == ((last_pitch,), last.length)
    again = read(notation.write(tune), key=key)
    assert again.dropped == 0 and notation.events(again) == notation.events(tune)
