"""A second ear for poetic forms: syllables and rhymes from espeak-ng, not from CMUdict.

The form checker (`bot.commands.poetic_forms`) hears through the CMU Pronouncing Dictionary.
Judging our own poems with the same dictionary the decoder steered by would hide its mistakes,
so `atelier eval --forms` also asks espeak-ng, a text-to-speech front end with its own
letter-to-sound rules and lexicon, to hear each poem, and reports both.

espeak-ng is run as ``espeak-ng -q -x --sep=_ -v en-us`` on one line at a time: it prints the
line's phonemes in its ASCII mnemonics, one ``_`` between phonemes and a space between words,
stress as ``'`` (primary) or ``,`` (secondary) before a vowel. A syllable is a vowel phoneme
(a diphthong is one phoneme, and so is "aI3" in "fire"; "aI@" in "quiet" counts two; a
syllabic "@L" is a vowel too, and so is a syllabic nasal such as "n-"; quote marks and other
punctuation are not sent, as espeak-ng reads some of them as pauses). A rhyme is the last
word's phonemes from its last stressed vowel on (the last vowel if none is stressed); function
words carry no rhyme, as in the checker. The form rules themselves (line counts, syllable
patterns, rhyme schemes, pentameter with feminine endings, weak rhymes in sonnets) are the
checker's: only the ear differs.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass

from bot.commands.poetic_forms import (
    FUNCTION_WORDS,
    RHYME_SCHEMES,
    SLANT_RHYME_FORMS,
    SYLLABLE_PATTERNS,
    SYLLABLE_RANGES,
    last_word,
)

ESPEAK = "espeak-ng"
VOICE = "en-us"  # CMUdict is American English; compare like with like
_VOWEL_STARTS = frozenset("aeiouAEIOUV03@")
_MARKS = "',"
_NOT_PHONEMES = frozenset({";", "", "-"})
# A syllabic nasal ("n-" after the glottal stop in "brighten", "shortens") is a syllable of its
# own; "r-" is a linking r ("winter and"), not a syllable.
_SYLLABIC = frozenset({"n-", "m-"})
# "aI@" ("quiet", "lion", "science") is one phoneme to espeak-ng but two syllables to a reader;
# before an r ("aI3": "fire", "wires") verse usually says it as one.
_TWO_SYLLABLES = frozenset({"aI@", "aU@"})
_SPOKEN = re.compile(r"[^\w'\s-]")


class EspeakMissing(RuntimeError):
    """espeak-ng is not installed (apt-get install espeak-ng)."""


def available() -> bool:
    return shutil.which(ESPEAK) is not None


@dataclass(frozen=True)
class Phoneme:
    name: str  # the mnemonic without stress marks ("aI@", "E", "t")
    stress: int  # 2 primary, 1 secondary, 0 none

    @property
    def vowel(self) -> bool:
        return self.name[:1] in _VOWEL_STARTS or self.name in _SYLLABIC


@functools.lru_cache(maxsize=16384)
def phonemes(text: str) -> tuple[tuple[Phoneme, ...], ...]:
    """espeak-ng's phonemes for a line of text, one tuple per spoken word."""
    if not available():
        raise EspeakMissing(f"{ESPEAK} is not installed; install it (apt-get install espeak-ng)")
    done = subprocess.run(
        [ESPEAK, "-q", "-x", "--sep=_", "-v", VOICE, _SPOKEN.sub(" ", text)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    words = []
    for word in done.stdout.split():
        parsed = tuple(_phoneme(p) for p in word.split("_") if p not in _NOT_PHONEMES)
        if parsed:
            words.append(parsed)
    return tuple(words)


def _phoneme(raw: str) -> Phoneme:
    stress = 2 if "'" in raw else 1 if "," in raw else 0
    return Phoneme(raw.strip(_MARKS).replace("'", "").replace(",", ""), stress)


def line_syllables(line: str) -> int:
    """Syllables in a line as espeak-ng says it: its vowel phonemes."""
    if not line.strip():
        return 0
    said = [p for word in phonemes(line) for p in word if p.vowel]
    return len(said) + sum(p.name in _TWO_SYLLABLES for p in said)


def _last_spoken_word(line: str) -> tuple[Phoneme, ...]:
    word = last_word(line)
    said = phonemes(word) if word else ()
    return tuple(p for w in said for p in w)


# American English says NORTH and FORCE alike ("mortal" / "portal"), and BATH as TRAP ("path" /
# "wrath"); espeak-ng's en-us voice spells them apart but says them alike. Its happY vowel "i"
# ("liberty") is the FLEECE vowel unstressed ("sea"), the weak rhyme of many a sonnet.
_SAME_SOUND = {"o@": "O@", "aa": "a", "i": "i:"}


def _normal(name: str) -> str:
    # espeak marks reduced variants with digits and "#" ("I2", "a#"); the sound rhymes alike.
    bare = name.rstrip("0123456789#") or name
    return _SAME_SOUND.get(bare, bare)


def rhyme_key(word: str) -> str:
    """The word's phonemes from its last stressed vowel on; "" for a function word."""
    if word.strip().lower().strip("'") in FUNCTION_WORDS:
        return ""
    said = _last_spoken_word(word)
    vowels = [i for i, p in enumerate(said) if p.vowel]
    if not vowels:
        return ""
    stressed = [i for i in vowels if said[i].stress]
    start = (stressed or vowels)[-1]
    return " ".join(_normal(p.name) for p in said[start:])


def rhymes(a: str, b: str, *, slant: bool = False) -> bool:
    """Whether two words rhyme to espeak-ng's ear; a word does not rhyme with itself."""
    wa, wb = last_word(a).lower(), last_word(b).lower()
    if not wa or not wb or wa == wb:
        return False
    ka, kb = rhyme_key(wa), rhyme_key(wb)
    if not ka or not kb:
        return False
    return ka == kb or (slant and _weak_rhyme(_last_spoken_word(wa), _last_spoken_word(wb)))


def _weak_rhyme(a: tuple[Phoneme, ...], b: tuple[Phoneme, ...]) -> bool:
    """Same final consonants, and the same final vowel or one of them unstressed."""

    def final(said: tuple[Phoneme, ...]) -> tuple[str, list[str], bool]:
        last = max((i for i, p in enumerate(said) if p.vowel), default=0)
        tail = [_normal(p.name) for p in said[last + 1 :]]
        return _normal(said[last].name), tail, said[last].stress == 0

    (va, ca, ua), (vb, cb, ub) = final(a), final(b)
    return ca == cb and (va == vb or (bool(ca) and (ua or ub)))


def _feminine(line: str) -> bool:
    said = _last_spoken_word(line)
    vowels = [p for p in said if p.vowel]
    return len(vowels) >= 2 and vowels[-1].stress == 0


def _scheme_ok(lines: list[str], scheme: str, slant: bool) -> bool:
    for i, letter in enumerate(scheme[: len(lines)]):
        earlier = [j for j in range(i) if scheme[j] == letter]
        if earlier and not any(rhymes(lines[j], lines[i], slant=slant) for j in earlier):
            return False
    return True


def meets(form: str, text: str) -> bool | None:
    """Whether espeak-ng hears `text` as `form`; None for forms it does not judge."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    counts = [line_syllables(line) for line in lines]
    if form in SYLLABLE_PATTERNS:
        return tuple(counts) == SYLLABLE_PATTERNS[form]
    if form not in RHYME_SCHEMES:
        return None
    schemes = RHYME_SCHEMES[form]
    if len(lines) != len(schemes[0]):
        return False
    if not any(_scheme_ok(lines, s, form in SLANT_RHYME_FORMS) for s in schemes):
        return False
    if form == "limerick":
        return max(counts[2], counts[3]) < min(counts[0], counts[1], counts[4])
    if form == "sonnet":
        low, high = SYLLABLE_RANGES[form]
        return all(
            n == low or (n == high and _feminine(line))
            for n, line in zip(counts, lines, strict=True)
        )
    return True
