"""The web gallery's words outside its templates: refusals (each page says what went wrong
and what to do), kind names and the reply to `/gallery web`, kept together for review."""

from __future__ import annotations

ASK = "Ask the bot for a fresh link with /gallery web in your server."
NOT_A_LINK = f"This is not a gallery link. {ASK}"
FORGED = f"This link's signature does not match: it was changed or made up. {ASK}"
EXPIRED = f"This link has expired. {ASK}"
UNKNOWN_GALLERY = f"No gallery is known by this address. {ASK}"
PRIVATE = (
    "This gallery is private: it opens only through a link the bot hands out. "
    f"{ASK} An admin can make it public with /atelier settings key:gallery_public value:on."
)
NO_PIECE = "This piece is not in the gallery: it was deleted, or it never was here."
NO_FILE = "This piece's file is no longer kept."
NO_CHALLENGE = "This challenge is not in this server's gallery."
NOT_FOUND = "There is no page at this address."
NOT_ALLOWED = "The gallery only answers GET requests."
BROKEN = "Something went wrong on our side while making this page. Try again in a moment."
TOO_LONG = "This address is too long."


def no_such_page(number: int, pages: int) -> str:
    return f"There is no page {number}: this gallery has {pages} page{'s' if pages != 1 else ''}."


def bad_page(value: str) -> str:
    return f"'{value[:20]}' is not a page number: give a whole number from 1."


def bad_kind(value: str, kinds: tuple[str, ...]) -> str:
    return f"'{value[:20]}' is not a kind of piece; kinds: {', '.join(kinds)}."


def unknown_parameter(names: list[str], allowed: tuple[str, ...]) -> str:
    shown = ", ".join(n[:20] for n in names[:3])
    if not allowed:
        return f"This page takes no query parameters (got {shown})."
    return f"Unknown or repeated query parameter ({shown}); this page takes {', '.join(allowed)}."


def bad_member(value: str) -> str:
    return f"'{value[:20]}…' is not a member's name (at most 64 characters)."


def web_reply(url: str, ttl_s: int, public_url: str = "") -> str:
    days, hours = round(ttl_s / 86_400), max(1, round(ttl_s / 3600))
    lasts = f"{days} day{'s' if days != 1 else ''}" if days >= 1 else f"{hours} hour"
    lasts += "s" if days < 1 and hours != 1 else ""
    text = f"This server's web gallery (the link works for {lasts}; share it with care): {url}"
    if public_url:
        text += f"\nThe gallery is public too: {public_url}"
    return text


NOT_SET_UP = "The web gallery is not set up on this deployment."
