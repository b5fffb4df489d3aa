"""The built-in moderation list: short and curated, written for Atelier.

Terms are plain lower-case words or phrases; `bot.desk.moderation` matches them on whole words
of a normalised text (case, accents, simple leetspeak and spaced-out letters undone), so a
list entry never matches inside a longer word ("sextant" is not "sex").

Categories:
- `minors`: sexual content involving minors. Always applied, to prompts and text results,
  whatever the server's settings: no setting turns it off. It refuses a prompt that uses
  one of its own terms, or a word about a child within a few words of a sexual word.
- `extreme`: content no server wants (sexual violence, bestiality, snuff). Always applied.
- `sexual`: sexual content. Applied to image prompts under the `strict` image policy (the
  default); a server that sets `image_safety` to `blur` or `off` lets the safety checker
  (or nothing) decide instead. Text is not checked against it: poems may be about love.

The list is deliberately small: it catches the plain cases without refusing ordinary art
prompts. Servers add their own words with `/atelier settings key:moderation_words`, and an
operator can add a classifier (`ATELIER_MODERATION_CLASSIFIER`) for what a list cannot see.
"""

from __future__ import annotations

MINORS = "minors"
EXTREME = "extreme"
SEXUAL = "sexual"

# Always refused, whatever the server chose.
HARD: dict[str, tuple[str, ...]] = {
    MINORS: (
        "lolicon",
        "shotacon",
        "jailbait",
        "child porn",
        "kiddie porn",
        "underage sex",
        "underage nude",
        "underage nudes",
    ),
    EXTREME: (
        "bestiality",
        "zoophilia",
        "necrophilia",
        "snuff film",
        "snuff video",
        "rape porn",
        "gore porn",
    ),
}

# Words about children: together with a sexual word close by, they are the minors category.
CHILD_WORDS: tuple[str, ...] = (
    "child",
    "children",
    "kid",
    "kids",
    "underage",
    "preteen",
    "pre teen",
    "toddler",
    "infant",
    "schoolgirl",
    "schoolgirls",
    "schoolboy",
    "schoolboys",
    "teen",
    "teens",
    "teenage",
    "teenager",
    "little girl",
    "little boy",
    # Alone these are also names and nicknames (Shota, Loli); next to a sexual word, not.
    "loli",
    "lolis",
    "shota",
)

# Sexual words: the image list under the strict policy, and the partner words of CHILD_WORDS.
SEXUAL_WORDS: tuple[str, ...] = (
    "sex",
    "sexual",
    "sexy",
    "nude",
    "nudes",
    "nudity",
    "naked",
    "nsfw",
    "porn",
    "porno",
    "pornographic",
    "erotic",
    "erotica",
    "hentai",
    "lewd",
    "topless",
    "undressed",
    "fetish",
    "intercourse",
    "genitals",
)

# How close (in words, within one sentence or line) a child word and a sexual word must be
# to count as the minors category.
NEAR_WORDS = 5
