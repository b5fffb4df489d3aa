"""What each web page shows, read from the gallery and challenge stores of one server.

Every read checks the piece or challenge belongs to the server the link names, so a link to
one server never shows another's. Members are shown by their display name only ("a member"
when the platform gave none), never by a platform id. Votes are counted only once a
challenge has closed, and who voted for what is never read at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.commands.render import model_label
from bot.community.challenges import (
    CLOSED,
    OPEN,
    Challenge,
    ChallengeStore,
    Entry,
    ranked,
)
from bot.community.gallery import KIND_COMMANDS, GalleryStore, Piece, kind_of
from bot.keys import Keys
from bot.web import words
from bot.web.links import Refused

PAGE_SIZE = 50
KINDS = tuple(KIND_COMMANDS)
CHAIN_DEPTH = 10
WEEK_S = 7 * 86_400
DIGEST_TOP = 10
MEMBER = "a member"
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_AUDIO_EXT = (".wav", ".mp3", ".ogg", ".flac", ".m4a")


def member(name: str) -> str:
    return name.strip() or MEMBER


def day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%d %b %Y, %H:%M UTC")


def file_kind(piece: Piece, n: int) -> str:
    """image, audio or file: how the page shows the piece's n-th file."""
    ctype = piece.types[n] if n < len(piece.types) else ""
    name = piece.files[n].lower()
    if ctype.startswith("image/") or (not ctype and name.endswith(_IMAGE_EXT)):
        return "image"
    if (ctype.startswith("audio/") and "midi" not in ctype) or name.endswith(_AUDIO_EXT):
        return "audio"
    return "file"


@dataclass(frozen=True)
class Card:
    """One piece as a page shows it."""

    piece: Piece
    kind: str
    by: str
    when: str
    files: list[tuple[int, str, str, str]]  # (n, name, image/audio/file, alt text)

    @property
    def image(self) -> tuple[int, str] | None:
        return next(((n, alt) for n, _, k, alt in self.files if k == "image"), None)

    @property
    def model(self) -> str:
        return model_label(self.piece.model)

    @property
    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.piece.settings.items() if k != "sources"}

    @property
    def sources(self) -> str:
        return str(self.piece.settings.get("sources", ""))


def card(piece: Piece) -> Card:
    alt_default = f"{piece.command}: {piece.prompt}"[:200]
    files = [
        (
            n,
            name,
            file_kind(piece, n),
            (piece.alts[n] if n < len(piece.alts) else "") or alt_default,
        )
        for n, name in enumerate(piece.files)
    ]
    return Card(piece, kind_of(piece.command), member(piece.user_name), day(piece.at), files)


@dataclass(frozen=True)
class GalleryPage:
    cards: list[Card]
    number: int
    pages: int
    total: int
    challenges: list[Challenge] = field(default_factory=list)


@dataclass(frozen=True)
class PieceView:
    card: Card
    before: list[Card]  # what it came after, oldest first
    after: list[Card]  # what was made after it
    lost_parent: str = ""  # the credit of a parent no longer in the gallery


@dataclass(frozen=True)
class EntryView:
    entry: Entry
    by: str
    piece_id: str
    place: int = 0
    votes: int | None = None  # None until the challenge closes

    @property
    def url(self) -> str:
        """The entry's link, only when it is a web address (never `javascript:` and the like)."""
        return self.entry.url if self.entry.url.startswith(("https://", "http://")) else ""

    @property
    def image(self) -> str:
        return self.entry.image if self.url else ""


@dataclass(frozen=True)
class ChallengeView:
    challenge: Challenge
    phase: str
    entries: list[EntryView]  # empty while entries are open
    count: int


class Reader:
    def __init__(self, redis: Any, *, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self.gallery = GalleryStore(redis, keys=self.keys)
        self.challenges = ChallengeStore(redis, keys=self.keys)

    async def _pieces(self, platform: str, server: str, ids: list[str]) -> list[Piece]:
        items = [self.keys.gallery_item(platform, server, i) for i in ids]
        raws = await self.redis.mget(items) if ids else []
        return [Piece(**json.loads(raw)) for raw in raws if raw]

    async def page(
        self,
        platform: str,
        server: str,
        *,
        kind: str = "",
        name: str = "",
        challenge: str = "",
        number: int = 1,
        keep_days: int = 0,
    ) -> GalleryPage:
        """A page of the gallery, newest first. Each filter is a sorted set of its own (the
        challenge's entries are a handful), so only the page's pieces are ever read."""
        await self.gallery.prune(platform, server, keep_days, time.time())
        start = (number - 1) * PAGE_SIZE
        sets = [self.keys.gallery(platform, server)]
        if kind or name:
            await self.gallery.index(platform, server)
        if kind:
            sets.append(self.keys.gallery_kind(platform, server, kind))
        if name:
            sets.append(self.keys.gallery_member(platform, server, name.lstrip("@")))
        if challenge:
            total, ids = await self._entries_in(platform, server, challenge, sets, start)
        elif len(sets) <= 2:  # the gallery, or one index (kept in step with it)
            total = int(await self.redis.zcard(sets[-1]))
            ids = await self.redis.zrevrange(sets[-1], start, start + PAGE_SIZE - 1)
        else:
            found = await self.redis.zinter(sets[1:], withscores=True, aggregate="MAX")
            found.sort(key=lambda pair: -pair[1])
            total, ids = len(found), [i for i, _ in found[start : start + PAGE_SIZE]]
        pages = max(1, -(-total // PAGE_SIZE))
        if number > pages:
            raise Refused(404, words.no_such_page(number, pages))
        listed = await self.challenge_list(platform, server)
        pieces = await self._pieces(platform, server, ids)
        return GalleryPage([card(p) for p in pieces], number, pages, total, listed)

    async def _entries_in(
        self, platform: str, server: str, challenge: str, sets: list[str], start: int
    ) -> tuple[int, list[str]]:
        """The challenge's entries that are pieces in every one of `sets`, newest first."""
        ids = sorted(await self._entered(platform, server, challenge))
        at: dict[str, float] = {}
        for key in sets:
            scores = await self.redis.zmscore(key, ids) if ids else []
            at = {i: float(s) for i, s in zip(ids, scores, strict=True) if s is not None}
            ids = list(at)
        ordered = sorted(ids, key=lambda i: -at[i])
        return len(ordered), ordered[start : start + PAGE_SIZE]

    async def _entered(self, platform: str, server: str, challenge_id: str) -> set[str]:
        found = await self._challenge(platform, server, challenge_id)
        return {e.job_id for e in await self.challenges.entries(found) if e.job_id}

    async def _in_server(self, platform: str, server: str, job_id: str) -> Piece | None:
        if await self.redis.zscore(self.keys.gallery(platform, server), job_id) is None:
            return None
        return await self.gallery.piece(platform, server, job_id)

    async def piece(self, platform: str, server: str, job_id: str) -> PieceView:
        piece = await self._in_server(platform, server, job_id)
        if piece is None:
            raise Refused(404, words.NO_PIECE)
        before: list[Card] = []
        lost = ""
        parent_id, parent_author = piece.parent_id, piece.parent_author
        while parent_id and len(before) < CHAIN_DEPTH:
            parent = await self._in_server(platform, server, parent_id)
            if parent is None:
                lost = member(parent_author)
                break
            before.insert(0, card(parent))
            parent_id, parent_author = parent.parent_id, parent.parent_author
        after_key = self.keys.gallery_after(platform, server, job_id)
        after_ids = await self.redis.zrange(after_key, 0, CHAIN_DEPTH * 5)
        after = []
        for child_id in after_ids:
            child = await self._in_server(platform, server, child_id)
            if child is not None:
                after.append(card(child))
        return PieceView(card(piece), before, after, lost)

    async def file(self, platform: str, server: str, job_id: str, n: int) -> tuple[bytes, str]:
        piece = await self._in_server(platform, server, job_id)
        if piece is None:
            raise Refused(404, words.NO_PIECE)
        if not 0 <= n < len(piece.files):
            raise Refused(404, words.NO_FILE)
        raw = await self.redis.get(self.keys.artifact(job_id, n))
        try:
            data = base64.b64decode(raw or "", validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if not data:
            raise Refused(404, words.NO_FILE)
        ctype = piece.types[n] if n < len(piece.types) else ""
        guessed = mimetypes.guess_type(piece.files[n])[0]
        return data, ctype or guessed or "application/octet-stream"

    async def _challenge(self, platform: str, server: str, challenge_id: str) -> Challenge:
        found = await self.challenges.get(challenge_id) if len(challenge_id) <= 80 else None
        if found is None or (found.platform, found.server) != (platform, server):
            raise Refused(404, words.NO_CHALLENGE)
        return found

    async def challenge_list(self, platform: str, server: str) -> list[Challenge]:
        """The running challenge first, then the closed ones, newest first."""
        ids = await self.redis.zrevrange(self.keys.challenge_closed(platform, server), 0, 49)
        current = await self.challenges.current(platform, server)
        found = [current] if current is not None else []
        for challenge_id in ids:
            challenge = await self.challenges.get(challenge_id)
            if challenge is not None:
                found.append(challenge)
        return found

    async def challenge(self, platform: str, server: str, challenge_id: str) -> ChallengeView:
        challenge = await self._challenge(platform, server, challenge_id)
        phase = challenge.phase(time.time())
        entries = await self.challenges.entries(challenge)
        if phase == OPEN:
            return ChallengeView(challenge, phase, [], len(entries))
        closed = phase == CLOSED
        names = not challenge.blind or closed
        in_gallery = {
            e.job_id
            for e in entries
            if e.job_id and await self._in_server(platform, server, e.job_id) is not None
        }
        places = ranked(entries) if closed else [(0, e) for e in entries]
        shown = [
            EntryView(
                entry,
                member(entry.author_name) if names else f"entry #{entry.number}",
                entry.job_id if entry.job_id in in_gallery else "",
                place if closed else 0,
                entry.votes if closed else None,
            )
            for place, entry in places
        ]
        return ChallengeView(challenge, phase, shown, len(entries))

    async def leaderboard(self, platform: str, server: str) -> list[tuple[str, int, int, int]]:
        """(name, points, wins, streak) by points; a member with no name is 'a member'."""
        standings = await self.challenges.leaderboard(platform, server, top=50)
        return [
            (member("" if s.name == s.user_id else s.name), s.points, s.wins, s.streak)
            for s in standings
        ]

    async def digest(
        self, platform: str, server: str, now: float | None = None
    ) -> tuple[list[tuple[Challenge, EntryView]], list[Card]]:
        """The week's most-voted challenge entries and its newest pieces."""
        now = time.time() if now is None else now
        top: list[tuple[Challenge, EntryView]] = []
        for challenge in await self.challenges.closed_since(platform, server, now - WEEK_S):
            view = await self.challenge(platform, server, challenge.id)
            top.extend((challenge, e) for e in view.entries if e.votes)
        top.sort(key=lambda t: -(t[1].votes or 0))
        key = self.keys.gallery(platform, server)
        ids = await self.redis.zrevrangebyscore(key, "+inf", now - WEEK_S, start=0, num=12)
        return top[:DIGEST_TOP], [card(p) for p in await self._pieces(platform, server, ids)]
