"""Team brainstorming, platform-neutral: a session's ideas, who proposed each, one vote per
person per idea (click again to withdraw), and the ranking for the wrap-up.

State lives in Redis (keys in `bot.keys`); splitting a model's text into ideas is a pure
function. Adapters map their threads and buttons onto a session id.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.commands.prompts import build_text_spec
from bot.jobs import Job, JobKind, Origin, job_id_for
from bot.keys import Keys

MODEL_AUTHOR = "atelier"
MORE_IDEAS = 4  # ideas asked for by "more like #n"
EXPAND = "bs-expand"  # origin.reply_ref of an Expand job: "bs-expand:{session}:{n}"
MORE = "bs-more"  # of a "more like #n" job: "bs-more:{session}:{n}"
MAX_IDEA_CHARS = 280
MAX_IDEAS = 24  # per session, model and people together (fits one Slack message)
SESSION_TTL_S = 14 * 24 * 3600

_BULLET = re.compile(r"^\s*(?:[-*•·>]+|\(?\d{1,2}[.):\]]|#\d{1,2}[.):]?)\s*")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


@dataclass(frozen=True)
class Idea:
    number: int  # 1-based, stable: ideas are only ever appended
    text: str
    author_id: str  # "" for the model
    author_name: str
    votes: int = 0

    @property
    def by(self) -> str:
        return self.author_name or self.author_id or MODEL_AUTHOR


@dataclass(frozen=True)
class Session:
    id: str
    topic: str
    platform: str
    channel_id: str
    thread_id: str  # the thread the session lives in (Slack: the parent message's ts)
    list_ref: str  # the message that shows the list (Slack: its ts)
    owner_id: str
    asked: int  # how many ideas were asked for
    closed: bool = False


def split_ideas(text: str, count: int) -> tuple[list[str], str]:
    """Up to `count` distinct ideas from generated text, and an honest note when fewer came
    out than asked. Numbering and bullets are stripped; a single long paragraph is split into
    sentences; overlong ideas are clipped with an ellipsis (never silently)."""
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    text = text.replace("\ufffd", "")  # bytes a small model left half-decoded
    lines = [
        _BULLET.sub("", line.strip(" \t-–—:.,;")).strip(" \t-–—:.,;") for line in text.splitlines()
    ]
    candidates = [line for line in lines if _usable(line)]
    if len(candidates) < count:
        pieces = [p.strip(" ;,") for line in candidates for p in _SENTENCE.split(line)]
        usable = [p for p in pieces if _usable(p)]
        if len(usable) > len(candidates):
            candidates = usable
    ideas: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        clipped = _clip(candidate)
        key = clipped.casefold()
        if key in seen:
            continue
        seen.add(key)
        ideas.append(clipped)
        if len(ideas) == count:
            break
    note = ""
    if len(ideas) < count:
        got = (
            "no usable ideas"
            if not ideas
            else f"{len(ideas)} usable idea" + ("s" if len(ideas) != 1 else "")
        )
        note = f"The model gave {got} of the {count} asked for; add your own in the thread."
    return ideas, note


def _usable(text: str) -> bool:
    return sum(ch.isalnum() for ch in text) >= 3


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_IDEA_CHARS else text[: MAX_IDEA_CHARS - 1] + "…"


class BrainstormStore:
    """Sessions in Redis: `brainstorm:{id}` (hash), `brainstorm-ideas:{id}` (list of JSON),
    `brainstorm-votes:{id}:{n}` (set of voters), `brainstorm-thread:...` (thread -> id)."""

    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    async def create(self, session: Session, ideas: list[str]) -> Session:
        """Create a session once (a second call with the same id changes nothing)."""
        key = self.keys.brainstorm(session.id)
        fields = {
            "topic": session.topic,
            "platform": session.platform,
            "channel": session.channel_id,
            "thread": session.thread_id,
            "list_ref": session.list_ref,
            "owner": session.owner_id,
            "asked": session.asked,
            "closed": 0,
            "created": f"{time.time():.3f}",
        }
        if not await self.redis.hsetnx(key, "topic", session.topic):
            found = await self.get(session.id)
            assert found is not None
            return found
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            for text in ideas:
                pipe.rpush(self.keys.brainstorm_ideas(session.id), _idea_json(text, "", ""))
            pipe.set(
                self.keys.brainstorm_thread(
                    session.platform, session.channel_id, session.thread_id
                ),
                session.id,
            )
            await pipe.execute()
        await self._touch(session)
        return session

    async def get(self, session_id: str) -> Session | None:
        raw = await self.redis.hgetall(self.keys.brainstorm(session_id))
        if not raw or "thread" not in raw:
            return None
        return Session(
            id=session_id,
            topic=raw["topic"],
            platform=raw["platform"],
            channel_id=raw["channel"],
            thread_id=raw["thread"],
            list_ref=raw.get("list_ref", ""),
            owner_id=raw.get("owner", ""),
            asked=int(raw.get("asked", 0)),
            closed=raw.get("closed") == "1",
        )

    async def in_thread(self, platform: str, channel_id: str, thread_id: str) -> Session | None:
        session_id = await self.redis.get(
            self.keys.brainstorm_thread(platform, channel_id, thread_id)
        )
        return await self.get(session_id) if session_id else None

    async def set_list_ref(self, session_id: str, ref: str) -> None:
        await self.redis.hset(self.keys.brainstorm(session_id), "list_ref", ref)

    async def add_idea(self, session: Session, text: str, author_id: str, author_name: str) -> int:
        """Append an idea; returns its number, or 0 when the session is full."""
        key = self.keys.brainstorm_ideas(session.id)
        if await self.redis.llen(key) >= MAX_IDEAS:
            return 0
        number = int(await self.redis.rpush(key, _idea_json(_clip(text), author_id, author_name)))
        await self._touch(session)
        return number

    async def toggle_vote(self, session: Session, number: int, user_id: str) -> tuple[bool, int]:
        """Vote for idea `number`, or withdraw the vote if this person had voted. Returns
        (voted now, the idea's vote count)."""
        key = self.keys.brainstorm_votes(session.id, number)
        if await self.redis.sadd(key, user_id):
            voted = True
        else:
            await self.redis.srem(key, user_id)
            voted = False
        await self.redis.expire(key, SESSION_TTL_S)
        return voted, int(await self.redis.scard(key))

    async def ideas(self, session: Session) -> list[Idea]:
        raw = await self.redis.lrange(self.keys.brainstorm_ideas(session.id), 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in range(1, len(raw) + 1):
                pipe.scard(self.keys.brainstorm_votes(session.id, n))
            counts = await pipe.execute()
        ideas = []
        for n, (item, votes) in enumerate(zip(raw, counts, strict=True), start=1):
            data = json.loads(item)
            ideas.append(Idea(n, data["text"], data["author_id"], data["author_name"], int(votes)))
        return ideas

    async def idea(self, session: Session, number: int) -> Idea | None:
        ideas = await self.ideas(session)
        return ideas[number - 1] if 1 <= number <= len(ideas) else None

    async def close(self, session: Session) -> None:
        await self.redis.hset(self.keys.brainstorm(session.id), "closed", 1)

    async def _touch(self, session: Session) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.expire(self.keys.brainstorm(session.id), SESSION_TTL_S)
            pipe.expire(self.keys.brainstorm_ideas(session.id), SESSION_TTL_S)
            pipe.expire(
                self.keys.brainstorm_thread(
                    session.platform, session.channel_id, session.thread_id
                ),
                SESSION_TTL_S,
            )
            await pipe.execute()


def ranking(ideas: list[Idea], top: int = 5) -> list[Idea]:
    """The most-voted ideas (ties: the earlier idea first); ideas without votes are left out."""
    voted = [i for i in ideas if i.votes > 0]
    return sorted(voted, key=lambda i: (-i.votes, i.number))[:top]


def _idea_json(text: str, author_id: str, author_name: str) -> str:
    return json.dumps({"text": text, "author_id": author_id, "author_name": author_name})


def expand_job(session: Session, idea: Idea, origin: Origin, seed: int) -> Job:
    """A text job that elaborates one idea; its result goes back into the session's thread."""
    return _job(
        idea.text,
        {"idea": idea.number},
        build_text_spec("expand", idea.text, {"topic": session.topic}),
        origin.model_copy(update={"reply_ref": f"{EXPAND}:{session.id}:{idea.number}"}),
        seed,
    )


def more_job(session: Session, idea: Idea | None, origin: Origin, seed: int) -> Job:
    """A text job for a few more ideas, like idea `idea` when one is named."""
    options: dict[str, str | int] = {"count": MORE_IDEAS}
    if idea is not None:
        options["like"] = idea.text
    ref = f"{MORE}:{session.id}:{idea.number if idea else 0}"
    return _job(
        session.topic,
        options,
        build_text_spec("brainstorm", session.topic, dict(options)),
        origin.model_copy(update={"reply_ref": ref}),
        seed,
    )


def parse_ref(ref: str) -> tuple[str, str, int] | None:
    """(what, session id, idea number) from a brainstorm job's reply_ref, else None."""
    what, _, rest = ref.partition(":")
    session_id, _, number = rest.partition(":")
    if what not in (EXPAND, MORE) or not session_id or not number.isdigit():
        return None
    return what, session_id, int(number)


_MORE_LIKE = re.compile(r"#\s*(\d{1,2})")


def idea_number_in(text: str) -> int | None:
    """The idea a message points at ("more like #3"), if any."""
    match = _MORE_LIKE.search(text)
    return int(match.group(1)) if match else None


def _job(prompt: str, options: dict[str, Any], text: Any, origin: Origin, seed: int) -> Job:
    return Job(
        id=job_id_for(origin.platform, origin.delivery_id),
        kind=JobKind.TEXT,
        command="brainstorm",
        prompt=prompt,
        options=options,
        seed=seed,
        text=text,
        origin=origin,
    )
