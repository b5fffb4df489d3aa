"""Picture words and mood words of a text, for pieces made from other pieces: an image drawn
from a poem's imagery, a melody in its mood. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.commands.catalogue import MOOD

IMAGERY_WORDS = 8
# Words that carry no picture: an illustration is drawn from the rest, in the text's order.
_PLAIN = """a an the and or but nor of to in on at by for with from into onto upon over under
    as is are was were be been being am it its it's this that these those i you he she we
    they me my mine your yours our ours their his her hers them us all any no not so then
    than there here what when where who whom whose which while till until up down out off
    more most some such each every one ones only just too very can could will would shall
    should may might must do does did done has have had having let lets like again ever
    never now yet still how why if else once own same other another back away"""
PLAIN_WORDS = frozenset(_PLAIN.split())
DEFAULT_MOOD = "calm"
# Words that suggest each of the catalogue's moods (the melody command's style table knows
# them all); a word counts when it starts with a cue, so "shadows" counts for "shadow".
MOOD_CUES: dict[str, tuple[str, ...]] = {
    "calm": ("calm", "still", "quiet", "soft", "gentle", "peace", "rest", "hush", "slow"),
    "joyful": ("joy", "bright", "laugh", "sing", "danc", "glad", "delight", "sun", "merry"),
    "melancholy": ("sorrow", "tear", "grey", "gray", "lost", "alone", "weep", "fad", "ache"),
    "eerie": ("ghost", "shadow", "fog", "mist", "strange", "whisper", "haunt", "dark"),
    "romantic": ("love", "heart", "kiss", "rose", "belov", "tender", "darling"),
    "hopeful": ("hope", "dawn", "spring", "rising", "morning", "bloom", "new", "seed"),
    "defiant": ("fight", "storm", "rage", "stand", "iron", "roar", "defy", "fist"),
    "playful": ("play", "skip", "giggl", "tumbl", "kitten", "bounc", "silly", "game"),
    "nostalgic": ("remember", "memor", "childhood", "yesterday", "ago", "old", "home"),
    "solemn": ("grave", "prayer", "bell", "solemn", "silence", "stone", "mourn", "hymn"),
}
_WORD = re.compile(r"[a-z][a-z'-]*")


def words_of(text: str) -> list[str]:
    return [w.strip("'-") for w in _WORD.findall(text.lower())]


def picture_words(lines: Iterable[str], limit: int = IMAGERY_WORDS) -> list[str]:
    """The first `limit` distinct words that carry a picture, in the text's order."""
    words: list[str] = []
    for line in lines:
        for word in words_of(line):
            if len(word) > 2 and word not in PLAIN_WORDS and word not in words:
                words.append(word)
    return words[:limit]


def imagery_prompt(theme: str, lines: Iterable[str]) -> str:
    """An image prompt drawn from a text: its theme, then its picture words in order."""
    picked = ", ".join(picture_words(lines))
    theme = theme.strip()
    return f"{theme}: {picked}" if theme and picked else theme or picked or "a poem"


def mood_of(text: str, given: str = "") -> str:
    """A mood the melody command knows: the one the piece was asked with when it is one of
    the catalogue's, else the one whose cue words the text uses most (ties: the first)."""
    known = MOOD.suggestions
    for word in words_of(given):
        if word in known:
            return word
    counts = dict.fromkeys(known, 0)
    for word in words_of(text):
        for mood, cues in MOOD_CUES.items():
            if mood in counts and word.startswith(cues):
                counts[mood] += 1
    best = max(counts.items(), key=lambda item: item[1], default=(DEFAULT_MOOD, 0))
    return best[0] if best[1] > 0 else DEFAULT_MOOD
