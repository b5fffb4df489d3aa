"""The second ear (espeak-ng) on real English lines: syllables counted by hand, rhymes by sound.

Lines are from Shakespeare (Sonnets 18 and 130), Thomas Gray's Elegy, Edward Lear, Tennyson
(The Eagle) and Blake (The Tyger), all public domain, plus the checker tests' own haiku."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bot.commands.test_poetic_forms import (
    BLAKE_TYGER,
    GRAY_ELEGY,
    HAIKU,
    LEAR_BEARD,
    SONNET_18,
    SONNET_130,
)
from worker.training import second_ear
from worker.training.form_eval import SECOND_EAR_MISSING, evaluate_forms, form_table

if shutil.which("espeak-ng") is None:  # say so loudly: these tests need the real program
    pytest.fail("espeak-ng is not installed: apt-get install espeak-ng", pytrace=False)

# (line, syllables as a reader counts them)
LINES = [
    ("Shall I compare thee to a summer's day?", 10),
    ("Thou art more lovely and more temperate:", 10),
    ("Rough winds do shake the darling buds of May,", 10),
    ("And often is his gold complexion dimm'd;", 10),
    ("So long lives this, and this gives life to thee.", 10),
    ("My mistress' eyes are nothing like the sun;", 10),
    ("Coral is far more red than her lips' red;", 10),
    ("That music hath a far more pleasing sound;", 10),
    ("The curfew tolls the knell of parting day,", 10),
    ("The lowing herd wind slowly o'er the lea,", 10),
    ("There was an Old Man with a beard,", 8),
    ('Who said, "It is just as I feared!—', 8),
    ("Two Owls and a Hen,", 5),
    ("He clasps the crag with crooked hands;", 8),
    ("Close to the sun in lonely lands,", 8),
    ("Tyger Tyger, burning bright,", 7),
    ("across the quiet water", 7),
    ("a heron stands still", 5),
    # Gutenberg Poetry Corpus lines with a syllabic "n" ("shortens", "begotten", "brighten")
    # and a linking "r" ("winter and"), which is no syllable
    ("The summer nights and shortens winter days.", 10),
    ("A moon is thus begotten and again", 10),
    ("Brighten the home of the coward and slave;", 10),
    ("Winter and summer, sojourn of delight.", 10),
]


@pytest.mark.parametrize(("line", "count"), LINES)
def test_syllables_of_real_lines(line: str, count: int) -> None:
    assert second_ear.line_syllables(line) == count


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("day", "May"),
        ("shines", "declines"),
        ("feared", "beard"),
        ("sun", "dun"),
        ("mortal", "portal"),
        ("path", "wrath"),  # American English: BATH is TRAP
    ],
)
def test_rhymes_by_sound(a: str, b: str) -> None:
    assert second_ear.rhymes(a, b)


@pytest.mark.parametrize(
    ("a", "b"), [("eye", "symmetry"), ("cough", "bough"), ("sea", "the"), ("day", "day")]
)
def test_not_rhymes(a: str, b: str) -> None:
    assert not second_ear.rhymes(a, b)


def test_weak_rhyme_only_in_sonnets() -> None:
    assert not second_ear.rhymes("temperate", "date")
    assert second_ear.rhymes("temperate", "date", slant=True)
    assert not second_ear.rhymes("sea", "liberty")
    assert second_ear.rhymes("sea", "liberty", slant=True)  # happY is FLEECE unstressed


def test_forms_heard() -> None:
    assert second_ear.meets("sonnet", SONNET_18)
    assert second_ear.meets("sonnet", SONNET_130)
    assert second_ear.meets("limerick", LEAR_BEARD)
    assert second_ear.meets("haiku", HAIKU)
    assert second_ear.meets("quatrain", GRAY_ELEGY)
    assert not second_ear.meets("quatrain", BLAKE_TYGER)  # "eye" / "symmetry"
    assert not second_ear.meets("haiku", HAIKU + "one more line\n")
    assert second_ear.meets("free", "anything") is None


def test_missing_espeak_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(second_ear, "ESPEAK", "espeak-ng-not-installed")
    second_ear.phonemes.cache_clear()
    assert not second_ear.available()
    with pytest.raises(second_ear.EspeakMissing, match="not installed"):
        second_ear.line_syllables("a line never heard")


def test_eval_reports_both_ears(tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = evaluate_forms(tiny_gpt2, forms=("haiku",), requests=2, batch_size=2, candidates=1)
    assert scores[0].second_met is not None and 0 <= scores[0].second_met <= 2
    table = form_table(scores)
    assert "met (CMUdict checker)" in table[0] and "met (espeak-ng ear)" in table[0]
    assert "not heard" not in table[2]
    # Without espeak-ng the table says so and reports only the checker's figures.
    monkeypatch.setattr(second_ear, "available", lambda: False)
    alone = evaluate_forms(tiny_gpt2, forms=("haiku",), requests=2, batch_size=2, candidates=1)
    assert alone[0].second_met is None and alone[0].met == scores[0].met
    table = form_table(alone)
    assert "not heard" in table[2] and table[-1] == SECOND_EAR_MISSING
