"""Moderation of prompts and results: the built-in list, a server's own words, what the user
is told, and the notes a server's moderators get.

Matching works on whole words of a normalised text: case and accents folded, simple
leetspeak undone inside words (`s3x`, `p0rn`, `$ex`), letters repeated three or more times
squeezed (`nuuude`), and spaced-out or dotted single letters joined (`p.o.r.n`, `s e x`).
A term never matches inside a longer word, so "gloomy" is not "gloom" and "Essex" is not
"sex". The front desk (`bot.desk.front_desk`) checks prompts; the worker (`worker.loop`) checks
text results. Pure functions, except `ModLog`, which keeps the moderators' notes in Redis.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.desk.blocklist import CHILD_WORDS, EXTREME, HARD, MINORS, NEAR_WORDS, SEXUAL, SEXUAL_WORDS
from bot.jobs import Origin
from bot.keys import Keys

BUILTIN = "built-in"
SERVER = "server"
CLASSIFIER = "classifier"
IMAGE_CHECK = "image check"

CATEGORY_NAMES = {
    MINORS: "sexual content involving minors",
    EXTREME: "extreme content",
    SEXUAL: "sexual content",
}
IMAGE_POLICIES = ("strict", "blur", "off")
MODLOG_MAX = 1000  # notes kept for the adapters to post; older ones are dropped
MODLOG_TTL_S = 7 * 24 * 3600
ONCE_TTL_S = 24 * 3600
EXCERPT_CHARS = 40

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a"})
_LEET.update(str.maketrans({"$": "s", "!": "i", "|": "i"}))
_RUN = re.compile(r"[a-z0-9@$!|]+")
_REPEAT = re.compile(r"([a-z])\1{2,}")
# Sentence and line ends ("p.o.r.n" is one word, "dusk. A child" two sentences): a child word
# and a sexual word count together only within one sentence or line of a poem.
_SENTENCE = re.compile(r"[.!?;]\s|\n")


@dataclass(frozen=True)
class Flag:
    """Why a prompt or a piece was stopped. `source`: built-in, server, classifier or image
    check; `category`: a built-in category, or the classifier's label; `term`: what matched
    (a server word, a list term; never shown for the minors category)."""

    source: str
    category: str = ""
    term: str = ""
    detail: str = ""  # the classifier's or the image check's own words

    def for_moderators(self) -> str:
        if self.source == BUILTIN:
            return f"built-in list, category: {CATEGORY_NAMES.get(self.category, self.category)}"
        if self.source == SERVER:
            return f"this server's moderation word '{self.term}'"
        if self.source == CLASSIFIER:
            return f"the moderation classifier ({self.detail or self.category})"
        return self.detail or "the image safety check"


# Normalising and matching ------------------------------------------------------------------
def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    words = []
    for run in _RUN.findall(folded):
        run = run.rstrip("!|")  # "wow!" is not "wowi"
        if not any(ch.isalpha() for ch in run):
            continue  # a number stays a number
        words.append(_REPEAT.sub(r"\1", run.translate(_LEET)))
    return [w for w in words if w]


def _joined(words: Sequence[str]) -> list[str]:
    """Runs of two or more single letters joined: "p o r n" -> "porn"."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if word:
            out.append(word)
    return out


def views(text: str) -> tuple[list[str], ...]:
    """The word lists a term is looked for in (as written, and with spaced letters joined)."""
    plain = _words(text)
    joined = _joined(plain)
    return (plain,) if joined == plain else (plain, joined)


@functools.lru_cache(maxsize=4096)
def _term_words(term: str) -> tuple[str, ...]:
    return tuple(_words(term))


def _positions(words: Sequence[str], term: str) -> list[int]:
    """Where the term's words start in `words` (whole words only)."""
    parts = _term_words(term)
    n = len(parts)
    if not n:
        return []
    starts = [i for i, word in enumerate(words) if word == parts[0]]
    return [i for i in starts if tuple(words[i : i + n]) == parts]


def find_term(text: str, terms: Iterable[str]) -> str | None:
    """The first term found in text on whole words after normalising, or None."""
    found = views(text)
    present = {word for words in found for word in words}
    for term in terms:
        first = _term_words(term)[:1]
        if first and first[0] in present and any(_positions(words, term) for words in found):
            return term
    return None


# First words of the child and sexual terms: a text with none of either skips the pairing.
_FIRST_CHILD = frozenset(_words(term)[0] for term in CHILD_WORDS)
_FIRST_SEXUAL = frozenset(_words(term)[0] for term in SEXUAL_WORDS)


def _child_near_sexual(words: Sequence[str]) -> bool:
    present = set(words)
    if present.isdisjoint(_FIRST_CHILD) or present.isdisjoint(_FIRST_SEXUAL):
        return False
    children = [i for term in CHILD_WORDS for i in _positions(words, term)]
    sexual = [i for term in SEXUAL_WORDS for i in _positions(words, term)]
    return any(abs(c - s) <= NEAR_WORDS for c in children for s in sexual)


def builtin_flag(text: str, *, image_strict: bool = False) -> Flag | None:
    """The built-in list: the hard categories always, sexual words for strict image prompts."""
    for category, terms in HARD.items():
        term = find_term(text, terms)
        if term is not None:
            return Flag(BUILTIN, category, term)
    for sentence in _SENTENCE.split(text):
        if any(_child_near_sexual(words) for words in views(sentence)):
            return Flag(BUILTIN, MINORS)
    if image_strict:
        term = find_term(text, SEXUAL_WORDS)
        if term is not None:
            return Flag(BUILTIN, SEXUAL, term)
    return None


def screen_prompt(
    text: str, server_words: Sequence[str], *, image_strict: bool = False
) -> Flag | None:
    """Everything the front desk refuses a prompt for: the built-in list, then the server's."""
    flag = builtin_flag(text, image_strict=image_strict)
    if flag is not None:
        return flag
    word = find_term(text, server_words)
    return Flag(SERVER, term=word) if word is not None else None


def screen_result(text: str, server_words: Sequence[str]) -> Flag | None:
    """What withholds a text result: the hard built-in categories and the server's words."""
    return screen_prompt(text, server_words, image_strict=False)


# What the user is told ----------------------------------------------------------------------
def _because(flag: Flag) -> str:
    if flag.source == BUILTIN:
        return f"it matches the built-in list (category: {CATEGORY_NAMES[flag.category]})"
    if flag.source == SERVER:
        return f"it contains '{flag.term}', a word this server does not allow"
    if flag.source == CLASSIFIER:
        return f"the moderation classifier flagged it ({flag.detail or flag.category})"
    return flag.detail or "the image safety check flagged it"


def refusal_text(flag: Flag) -> str:
    if flag.source == BUILTIN and flag.category == SEXUAL:
        return (
            f"Your prompt was refused: {_because(flag)}, which this server refuses for images "
            "(image_safety: strict). Rephrase it; a server admin can choose another policy "
            "with /atelier settings key:image_safety."
        )
    return f"Your prompt was refused: {_because(flag)}. Rephrase it and try again."


def withheld_text(flag: Flag) -> str:
    return (
        f"The piece was withheld: {_because(flag)}. Try again (Regenerate uses a new seed) "
        "or change the prompt."
    )


def image_withheld_text(reason: str) -> str:
    return (
        f"The image was withheld: {reason} (this server's image policy is strict). "
        "Try another prompt or seed; a server admin can choose another policy with "
        "/atelier settings key:image_safety."
    )


def image_blurred_note(reason: str) -> str:
    return (
        f"Blurred and marked as a spoiler: {reason}. This server posts flagged images "
        "blurred (image_safety: blur); Regenerate tries another seed."
    )


def image_shown_note(reason: str) -> str:
    return f"Posted as made, though {reason}: this server's image_safety is off."


# Notes for the server's moderators ----------------------------------------------------------
def clip(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def note_text(origin: Origin, command: str, what: str, flag: Flag, excerpt: str) -> str:
    """One line for the moderation log channel: who, which command, what happened, why, and
    a clipped excerpt (none at all for the minors category)."""
    who = origin.user_name or origin.user_id or "someone"
    if origin.user_id and origin.user_name:
        who = f"{origin.user_name} ({origin.user_id})"
    line = f"Atelier {what}: /{command} by {who}. Reason: {flag.for_moderators()}."
    if excerpt and flag.category != MINORS:
        line += f" Excerpt: “{clip(excerpt)}”"
    return line


class ModLog:
    """`modlog:{platform}`: notes waiting for the adapter to post in servers' log channels.
    Writers append only when the server set `moderation_log_channel`; the adapter's
    scheduler takes them with one atomic LPOP, so two adapter replicas never post one twice."""

    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def record(
        self, origin: Origin, channel: str, command: str, what: str, flag: Flag, excerpt: str
    ) -> None:
        if not channel or not origin.guild_id:
            return
        # One note per delivery and outcome: a redelivered command or a reclaimed job that
        # is stopped again adds nothing.
        once = self.keys.once(origin.platform, f"modlog:{what}:{origin.delivery_id}")
        if not await self.redis.set(once, "1", nx=True, ex=ONCE_TTL_S):
            return
        note = {"channel": channel, "text": note_text(origin, command, what, flag, excerpt)}
        key = self.keys.modlog(origin.platform)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(note, ensure_ascii=False))
            pipe.ltrim(key, -MODLOG_MAX, -1)
            pipe.expire(key, MODLOG_TTL_S)
            await pipe.execute()

    async def take(self, platform: str, count: int = 50) -> list[tuple[str, str]]:
        """Up to `count` waiting notes as (channel, text), oldest first."""
        raw = await self.redis.lpop(self.keys.modlog(platform), count)
        notes = []
        for item in raw or []:
            try:
                data = json.loads(item)
                notes.append((str(data["channel"]), str(data["text"])))
            except (ValueError, KeyError, TypeError):
                continue
        return notes
