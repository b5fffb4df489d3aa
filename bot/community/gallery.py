"""The server's gallery: every delivered result with its provenance (prompt, model, seed,
settings, who asked, the remix parent and its author), browsable by member and kind, a page
at a time. Members delete their own pieces; admins set how long pieces are kept
(`gallery_days`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from bot.commands.render import model_label, settings_text
from bot.errors import UserError
from bot.jobs import OptionValue, Result, load_job
from bot.keys import Keys

PAGE_SIZE = 5
DAY_S = 86_400
KIND_COMMANDS = {
    "poem": ("poem",),
    "story": ("story",),
    "script": ("script",),
    "image": ("image",),
    "melody": ("melody",),
}


@dataclass(frozen=True)
class Piece:
    job_id: str
    command: str
    prompt: str
    text: str
    model: str
    seed: int
    user_id: str
    user_name: str
    at: float
    settings: dict[str, OptionValue] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # each file's content type
    alts: list[str] = field(default_factory=list)  # each file's alt text
    parent_id: str = ""
    parent_author: str = ""
    parent_command: str = ""  # another command than this one: made with a chain button

    @property
    def by(self) -> str:
        return self.user_name or self.user_id


@dataclass(frozen=True)
class Page:
    pieces: list[Piece]
    number: int
    pages: int
    total: int


class GalleryStore:
    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def record(self, result: Result) -> Piece | None:
        """Keep a delivered result (its server's gallery); failures and DMs are not kept."""
        origin = result.origin
        if not result.ok or not origin.guild_id or result.provenance is None:
            return None
        parent_id, parent_author, parent_command = "", "", ""
        raw_job = await self.redis.hget(self.keys.job(result.job_id), "job")
        if raw_job:
            parent_id = load_job(raw_job).parent_id or ""
        if parent_id:
            parent = await self.piece(origin.platform, origin.guild_id, parent_id)
            if parent is not None:
                parent_author, parent_command = parent.by, parent.command
            else:
                raw_parent = await self.redis.hget(self.keys.job(parent_id), "job")
                if raw_parent:
                    stored = load_job(raw_parent)
                    p = stored.origin
                    parent_author, parent_command = p.user_name or p.user_id, stored.command
        piece = Piece(
            job_id=result.job_id,
            command=result.command,
            prompt=result.prompt,
            text=result.text,
            model=result.provenance.model,
            seed=result.provenance.seed,
            user_id=origin.user_id,
            user_name=origin.user_name,
            at=result.finished_at,
            settings=dict(result.provenance.settings),
            files=[a.filename for a in result.attachments],
            types=[a.content_type for a in result.attachments],
            alts=[a.description for a in result.attachments],
            parent_id=parent_id,
            parent_author=parent_author,
            parent_command=parent_command,
        )
        platform, server = origin.platform, origin.guild_id
        # The files first (the piece's web page shows them; on a cluster they live in the
        # job's slot, not the gallery's): a crash before the piece is kept leaves them only
        # kept longer, never a page without its files.
        if result.attachments:
            async with self.redis.pipeline(transaction=False) as pipe:
                for attachment in result.attachments:
                    pipe.persist(attachment.key)
                await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(
                self.keys.gallery_item(platform, server, piece.job_id), json.dumps(asdict(piece))
            )
            pipe.zadd(self.keys.gallery(platform, server), {piece.job_id: piece.at})
            self._index(pipe, platform, server, piece)
            if parent_id:
                after = self.keys.gallery_after(platform, server, parent_id)
                pipe.zadd(after, {piece.job_id: piece.at})
            await pipe.execute()
        return piece

    async def piece(self, platform: str, server: str, job_id: str) -> Piece | None:
        raw = await self.redis.get(self.keys.gallery_item(platform, server, job_id))
        return Piece(**json.loads(raw)) if raw else None

    async def page(
        self,
        platform: str,
        server: str,
        *,
        user: str = "",
        kind: str = "",
        number: int = 1,
        keep_days: int = 0,
        now: float | None = None,
    ) -> Page:
        """One page of the gallery, newest first, filtered by member (id or name) and kind."""
        key = self.keys.gallery(platform, server)
        await self._expire(platform, server, keep_days, time.time() if now is None else now)
        ids: list[str] = await self.redis.zrevrange(key, 0, -1)
        pieces = []
        items = [self.keys.gallery_item(platform, server, i) for i in ids]
        for raw in await self.redis.mget(items) if ids else []:
            if raw:
                pieces.append(Piece(**json.loads(raw)))
        wanted = user.lstrip("@").casefold()
        if wanted:
            pieces = [p for p in pieces if wanted in (p.user_id.casefold(), p.user_name.casefold())]
        if kind:
            pieces = [p for p in pieces if p.command in KIND_COMMANDS.get(kind, (kind,))]
        pages = max(1, -(-len(pieces) // PAGE_SIZE))
        number = min(max(number, 1), pages)
        start = (number - 1) * PAGE_SIZE
        return Page(pieces[start : start + PAGE_SIZE], number, pages, len(pieces))

    async def delete(
        self, platform: str, server: str, job_prefix: str, user_id: str, *, admin: bool
    ) -> Piece:
        """Delete a piece by its id (or the first 8 characters shown in the gallery)."""
        key = self.keys.gallery(platform, server)
        ids: list[str] = await self.redis.zrange(key, 0, -1)
        matches = [i for i in ids if i.startswith(job_prefix.strip().lower())]
        if len(job_prefix.strip()) < 6 or len(matches) != 1:
            raise UserError("Give the id of one piece in this server's gallery (8 characters).")
        piece = await self.piece(platform, server, matches[0])
        if piece is None:
            raise UserError("That piece is gone already.")
        if piece.user_id != user_id and not admin:
            raise UserError("Only the member who made this piece, or an admin, can delete it.")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(key, piece.job_id)
            self._forget(pipe, platform, server, piece.job_id, piece)
            if piece.parent_id:
                pipe.zrem(self.keys.gallery_after(platform, server, piece.parent_id), piece.job_id)
            await pipe.execute()
        await self._drop_files([piece])
        return piece

    async def prune(self, platform: str, server: str, keep_days: int, now: float) -> None:
        """Drop the pieces older than the server's `gallery_days` (0: keep every piece)."""
        await self._expire(platform, server, keep_days, now)

    async def index(self, platform: str, server: str) -> None:
        """Put every piece recorded before the kind and member indexes existed into them
        (once per server; `record` indexes each new piece itself)."""
        if await self.redis.exists(self.keys.gallery_indexed(platform, server)):
            return
        ids: list[str] = await self.redis.zrange(self.keys.gallery(platform, server), 0, -1)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            raws = await self.redis.mget(
                [self.keys.gallery_item(platform, server, i) for i in chunk]
            )
            async with self.redis.pipeline(transaction=False) as pipe:
                for raw in raws:
                    if raw:
                        self._index(pipe, platform, server, Piece(**json.loads(raw)))
                await pipe.execute()
        await self.redis.set(self.keys.gallery_indexed(platform, server), "1")

    def _index(self, pipe: Any, platform: str, server: str, piece: Piece) -> None:
        kind = kind_of(piece.command)
        pipe.zadd(self.keys.gallery_kind(platform, server, kind), {piece.job_id: piece.at})
        if piece.user_name.strip():
            member = self.keys.gallery_member(platform, server, piece.user_name)
            pipe.zadd(member, {piece.job_id: piece.at})

    def _forget(
        self, pipe: Any, platform: str, server: str, job_id: str, piece: Piece | None
    ) -> None:
        item, after = (
            self.keys.gallery_item(platform, server, job_id),
            self.keys.gallery_after(platform, server, job_id),
        )
        pipe.delete(item, after)
        if piece is None:
            return
        pipe.zrem(self.keys.gallery_kind(platform, server, kind_of(piece.command)), job_id)
        if piece.user_name.strip():
            pipe.zrem(self.keys.gallery_member(platform, server, piece.user_name), job_id)

    async def _expire(self, platform: str, server: str, keep_days: int, now: float) -> None:
        if keep_days <= 0:
            return
        key = self.keys.gallery(platform, server)
        old: list[str] = await self.redis.zrangebyscore(key, 0, now - keep_days * DAY_S)
        if old:
            pieces = [await self.piece(platform, server, i) for i in old]
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(key, *old)
                for job_id, piece in zip(old, pieces, strict=True):
                    self._forget(pipe, platform, server, job_id, piece)
                await pipe.execute()
            await self._drop_files([p for p in pieces if p is not None])

    async def _drop_files(self, pieces: list[Piece]) -> None:
        """The files of pieces no longer in the gallery, after the gallery forgot them (on a
        cluster they live in each job's slot): a crash in between leaves files no page shows,
        never a page whose files are gone."""
        names = [self.keys.artifact(p.job_id, n) for p in pieces for n in range(len(p.files))]
        if names:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.delete(name)
                await pipe.execute()


def kind_of(command: str) -> str:
    """The kind a command's pieces are listed under (poem, story, script, image, melody)."""
    return next((k for k, cmds in KIND_COMMANDS.items() if command in cmds), command)


def describe_piece(piece: Piece, *, text_chars: int = 160) -> str:
    """One gallery entry: what, by whom, how it was made, and its remix or chain credit."""
    lines = [f"[{piece.job_id[:8]}] /{piece.command} {piece.prompt} — by {piece.by}"]
    made = f"made with {model_label(piece.model)} · seed {piece.seed}"
    if piece.settings:
        made += " · " + settings_text(piece.settings)
    lines.append("  " + made)
    if piece.parent_id:
        credit = f" by {piece.parent_author}" if piece.parent_author else ""
        if piece.parent_command and piece.parent_command != piece.command:
            lines.append(f"  after /{piece.parent_command} [{piece.parent_id[:8]}]{credit}")
        else:
            lines.append(f"  remix of [{piece.parent_id[:8]}]{credit}")
    text = " / ".join(line.strip() for line in piece.text.splitlines() if line.strip())
    if text:
        lines.append("  " + (text if len(text) <= text_chars else text[: text_chars - 1] + "…"))
    if piece.files:
        lines.append("  files: " + ", ".join(piece.files))
    return "\n".join(lines)


def describe_page(page: Page, *, user: str = "", kind: str = "") -> str:
    what = " ".join(x for x in (f"by {user}" if user else "", kind) if x)
    if not page.pieces:
        return f"The gallery has no pieces{' ' + what if what else ''} yet."
    head = f"Gallery{' (' + what + ')' if what else ''}: page {page.number} of {page.pages}"
    body = "\n".join(describe_piece(p) for p in page.pieces)
    return f"{head}, {page.total} piece{'s' if page.total != 1 else ''}\n{body}"
