"""Art-prompt challenges, platform-neutral: one open challenge per server, entries tagged by
how they were made, anonymous votes, a deadline scheduler that lives in Redis, and a
per-server leaderboard with streaks.

A challenge has two phases: entries (until `voting_at`) and voting (until `ends_at`). The
sorted set `challenge-deadlines` holds each challenge's next phase change; any adapter
process polls it (`due`) and calls `advance`, which claims the change once, so a restart or
a second replica never closes a challenge twice, and writes it (with its announcement) in one
transaction, so a crash never leaves half of it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.errors import UserError
from bot.keys import Keys

SCHEDULED, OPEN, VOTING, CLOSED = "scheduled", "open", "voting", "closed"
MADE = ("human", "ai-assisted", "ai-generated")
POINTS = (3, 2, 1)  # for first, second and third place (ties share a place)
MAX_ENTRIES = 25  # per challenge: one voting message's buttons
CLAIM_S = 60
EVERY_S = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400}
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_AUDIO = (".mp3", ".wav", ".ogg", ".flac", ".mid", ".midi", ".m4a")
_URL = re.compile(r"^https?://\S+$")


def parse_duration(text: str) -> int:
    """Seconds from `3d`, `12h`, `30m` or `45s` (at most 90 days)."""
    match = _DURATION.match(text)
    if match is None:
        raise UserError(f"'{text[:20]}' is not a duration; write it like 3d, 12h or 30m.")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2).lower()]
    if not 1 <= seconds <= 90 * 86_400:
        raise UserError("A challenge runs from 1 second to 90 days.")
    return seconds


def entry_kind(text: str, url: str, job_kind: str = "") -> str:
    """What an entry is: poem (text), image or melody, from its result or its file name."""
    if job_kind:
        return {"text": "poem", "image": "image", "music": "melody"}.get(job_kind, "poem")
    if url:
        path = url.split("?", 1)[0].lower()
        if path.endswith(_IMAGE):
            return "image"
        if path.endswith(_AUDIO):
            return "melody"
        return "link"
    return "poem"


@dataclass(frozen=True)
class Challenge:
    id: str
    platform: str
    server: str
    channel: str
    theme: str
    owner: str
    opened_at: float
    voting_at: float
    ends_at: float
    kind: str = "any"
    rules: str = ""
    blind: bool = False
    hide_counts: bool = False
    newcomers: bool = True  # may members who joined after it opened vote?
    per_member: int = 1
    every: str = ""
    round: int = 1
    state: str = OPEN
    entries_s: int = 0  # the lengths asked for, kept for the next round of a recurring one
    voting_s: int = 0

    def phase(self, now: float) -> str:
        if self.state in (CLOSED, SCHEDULED):
            return self.state
        return VOTING if self.state == VOTING or now >= self.voting_at else OPEN


@dataclass(frozen=True)
class Entry:
    number: int
    author_id: str
    author_name: str
    made: str
    kind: str
    text: str = ""
    url: str = ""
    job_id: str = ""
    votes: int = 0
    file_name: str = ""  # an uploaded file (its link is `url`): name, type, size in bytes
    file_type: str = ""
    file_size: int = 0

    @property
    def by(self) -> str:
        return self.author_name or self.author_id

    @property
    def image(self) -> str:
        """The link of the entry's picture, to show it as one ("" when it has none)."""
        uploaded = self.file_type.startswith("image/")
        linked = not self.file_type and self.kind == "image" and not self.job_id
        return self.url if uploaded or linked else ""


@dataclass(frozen=True)
class Standing:
    user_id: str
    name: str
    points: int
    wins: int
    streak: int


@dataclass(frozen=True)
class Change:
    """What `advance` did: voting opened, or the challenge closed (with its results)."""

    what: str  # OPEN (a recurring round began), VOTING or CLOSED
    challenge: Challenge
    entries: list[Entry]
    winners: list[Entry] = field(default_factory=list)
    next: Challenge | None = None


# What announces a change, written in the change's own transaction: the outbox entry as
# (hash key, field, value). The caller supplies it, as the wording lives above this module.
Post = Callable[[Change], tuple[str, str, str]]


def ranked(entries: list[Entry]) -> list[tuple[int, Entry]]:
    """Entries by votes with their place (1-based; equal votes share a place)."""
    order = sorted(entries, key=lambda e: (-e.votes, e.number))
    places: list[tuple[int, Entry]] = []
    for i, entry in enumerate(order):
        same = places and places[-1][1].votes == entry.votes
        places.append((places[-1][0] if same else i + 1, entry))
    return places


class ChallengeStore:
    def __init__(self, redis: Redis, *, keys: Keys | None = None) -> None:
        self.redis: Any = redis
        self.keys = keys or Keys()

    # Opening --------------------------------------------------------------------------
    async def open(self, challenge: Challenge) -> Challenge:
        """Open a challenge; a repeated delivery (same id) changes nothing. Refused while the
        server has one running."""
        current = await self.current(challenge.platform, challenge.server)
        if current is not None:
            if current.id == challenge.id:
                return current
            raise UserError(
                f"A challenge is running already ('{current.theme}'); a moderator can end it "
                "with /challenge end."
            )
        seq = int(
            await self.redis.incr(self.keys.challenge_seq(challenge.platform, challenge.server))
        )
        stored = Challenge(**{**asdict(challenge), "round": seq})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.challenge(stored.id), mapping={"data": json.dumps(asdict(stored))})
            pipe.set(self.keys.challenge_current(stored.platform, stored.server), stored.id)
            pipe.zadd(self.keys.challenge_deadlines(stored.platform), {stored.id: stored.voting_at})
            await pipe.execute()
        return stored

    async def get(self, challenge_id: str) -> Challenge | None:
        raw = await self.redis.hget(self.keys.challenge(challenge_id), "data")
        return Challenge(**json.loads(raw)) if raw else None

    async def current(self, platform: str, server: str) -> Challenge | None:
        cid = await self.redis.get(self.keys.challenge_current(platform, server))
        return await self.get(cid) if cid else None

    async def running(self, platform: str, server: str) -> Challenge:
        challenge = await self.current(platform, server)
        if challenge is None:
            raise UserError("No challenge is running. A moderator can open one: /challenge new.")
        return challenge

    # Entries --------------------------------------------------------------------------
    async def submit(
        self,
        challenge: Challenge,
        entry: Entry,
        *,
        now: float | None = None,
    ) -> Entry:
        now = time.time() if now is None else now
        if challenge.phase(now) != OPEN:
            raise UserError("Entries are closed for this challenge; voting is open instead.")
        if entry.made not in MADE:
            raise UserError(f"Tag your entry as one of: {', '.join(MADE)}.")
        if challenge.kind != "any" and entry.kind not in (challenge.kind, "link"):
            raise UserError(
                f"This challenge takes {challenge.kind}s; your entry is a {entry.kind}."
            )
        entries = await self.entries(challenge)
        mine = sum(1 for e in entries if e.author_id == entry.author_id)
        if mine >= challenge.per_member:
            allowed = (
                "one entry" if challenge.per_member == 1 else f"{challenge.per_member} entries"
            )
            raise UserError(f"The rules allow {allowed} per member; you have entered already.")
        if len(entries) >= MAX_ENTRIES:
            raise UserError(f"This challenge is full ({MAX_ENTRIES} entries).")
        data = asdict(entry)
        data.pop("votes")
        number = int(
            await self.redis.rpush(self.keys.challenge_entries(challenge.id), json.dumps(data))
        )
        return Entry(**{**asdict(entry), "number": number})

    async def entries(self, challenge: Challenge) -> list[Entry]:
        raw = await self.redis.lrange(self.keys.challenge_entries(challenge.id), 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in range(1, len(raw) + 1):
                pipe.scard(self.keys.challenge_votes(challenge.id, n))
            counts = await pipe.execute()
        return [
            Entry(**{**json.loads(item), "number": n, "votes": int(votes)})
            for n, (item, votes) in enumerate(zip(raw, counts, strict=True), start=1)
        ]

    # Votes ----------------------------------------------------------------------------
    async def vote(
        self,
        challenge: Challenge,
        number: int,
        voter_id: str,
        *,
        joined_at: float | None = None,
        now: float | None = None,
    ) -> int:
        """One anonymous vote; returns the entry's count. Refusals say why."""
        now = time.time() if now is None else now
        phase = challenge.phase(now)
        if phase == OPEN:
            raise UserError("Voting opens when entries close.")
        if phase == CLOSED:
            raise UserError("This challenge has ended; votes are counted.")
        entries = await self.entries(challenge)
        if not 1 <= number <= len(entries):
            raise UserError(f"There is no entry #{number}; entries are 1 to {len(entries)}.")
        if entries[number - 1].author_id == voter_id:
            raise UserError("You cannot vote for your own entry.")
        if not challenge.newcomers and joined_at is not None and joined_at > challenge.opened_at:
            raise UserError(
                "You joined after this challenge opened, so this one is not yours to vote on."
            )
        if not await self.redis.sadd(self.keys.challenge_votes(challenge.id, number), voter_id):
            raise UserError(f"You have voted for entry #{number} already.")
        return int(await self.redis.scard(self.keys.challenge_votes(challenge.id, number)))

    # The scheduler --------------------------------------------------------------------
    async def due(self, platform: str, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        found: list[str] = await self.redis.zrangebyscore(
            self.keys.challenge_deadlines(platform), 0, now
        )
        return found

    async def end_now(self, challenge: Challenge, now: float | None = None) -> Change | None:
        """A moderator's /challenge end: close it now, whatever the phase."""
        return await self.advance(challenge.id, now=now, force_close=True)

    async def advance(
        self,
        challenge_id: str,
        *,
        now: float | None = None,
        force_close: bool = False,
        post: Post | None = None,
    ) -> Change | None:
        """Make the challenge's next phase change, once: None when another call made it.

        The change is worked out first and then written in one transaction: the new state,
        the deadline index, the points and streaks, the next round and, with `post`, the
        outbox entry that announces it. A process that dies before that transaction leaves
        nothing half done (the next poller makes the change once the claim lapses); one that
        dies after it leaves the announcement in the outbox. The challenge's record is
        watched, so a caller that stalled past its claim while another made the change
        writes nothing."""
        now = time.time() if now is None else now
        challenge = await self.get(challenge_id)
        if challenge is None:
            return None
        if challenge.state == CLOSED:
            await self.redis.zrem(self.keys.challenge_deadlines(challenge.platform), challenge_id)
            return None
        due_at = {SCHEDULED: challenge.opened_at, OPEN: challenge.voting_at}.get(
            challenge.state, challenge.ends_at
        )
        if now < due_at and not force_close:
            return None  # not due (another caller made the change this deadline was for)
        claim = self.keys.challenge_claim(challenge_id, challenge.state)
        if not await self.redis.set(claim, "1", nx=True, ex=CLAIM_S):
            return None
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(
                self.keys.challenge(challenge_id),
                self.keys.challenge_current(challenge.platform, challenge.server),
                self.keys.challenge_seq(challenge.platform, challenge.server),
            )
            if await self.get(challenge_id) != challenge:
                return None  # changed between the first read and the watch
            change = await self._change(pipe, challenge, now, force_close=force_close)
            if change is not None and post is not None:
                pipe.hsetnx(*post(change))
            try:
                await pipe.execute()
            except WatchError:
                # Another caller made the change, or an entry or a vote came in while this
                # one was being worked out: free the claim so the next poll works it out
                # again (at once, rather than when the claim lapses).
                await self.redis.delete(claim)
                return None
        return change

    async def _change(
        self, pipe: Any, challenge: Challenge, now: float, *, force_close: bool
    ) -> Change | None:
        """Read what the change needs, then queue its writes on `pipe` (in MULTI from here)."""
        if challenge.state == SCHEDULED:
            return await self._start_round(pipe, challenge, now)
        # The entries and their votes are read under the watch too: one that lands while
        # the change is worked out (a submission in the last instant, a vote as voting
        # closes) makes the transaction fail and the change start again, so the voting post
        # lists every entry and the points count every vote.
        await pipe.watch(
            self.keys.challenge_entries(challenge.id),
            *(self.keys.challenge_votes(challenge.id, n) for n in range(1, MAX_ENTRIES + 1)),
        )
        if challenge.state == OPEN and not force_close:
            updated = Challenge(**{**asdict(challenge), "state": VOTING, "voting_at": now})
            updated = Challenge(**{**asdict(updated), "ends_at": max(updated.ends_at, now)})
            entries = await self.entries(updated)
            pipe.multi()
            self._save(pipe, updated, deadline=updated.ends_at)
            return Change(VOTING, updated, entries)
        return await self._close(pipe, challenge, now)

    async def _close(self, pipe: Any, challenge: Challenge, now: float) -> Change:
        closed = Challenge(
            **{**asdict(challenge), "state": CLOSED, "ends_at": min(challenge.ends_at, now)}
        )
        entries = await self.entries(closed)
        places = ranked(entries)
        winners = [e for place, e in places if place == 1 and e.votes > 0]
        streaks = await self._streaks(closed, entries)
        board = self.keys.challenge_board(closed.platform, closed.server)
        stats = self.keys.challenge_stats(closed.platform, closed.server)
        follow = _next_round(closed, now) if closed.every else None
        pipe.multi()
        for place, entry in places:
            if entry.votes and place <= len(POINTS):
                pipe.zincrby(board, POINTS[place - 1], entry.author_id)
                if place == 1:
                    pipe.hincrby(stats, f"{entry.author_id}:wins", 1)
        for author_id, fields in streaks.items():
            pipe.hset(stats, mapping=fields)
            pipe.zincrby(board, 0, author_id)  # on the board even without points
        self._save(pipe, closed, deadline=None)
        pipe.zadd(self.keys.challenge_closed(closed.platform, closed.server), {closed.id: now})
        pipe.delete(self.keys.challenge_current(closed.platform, closed.server))
        if follow is not None:
            self._save(pipe, follow, deadline=follow.opened_at)
        return Change(CLOSED, closed, entries, winners, follow)

    async def _start_round(self, pipe: Any, scheduled: Challenge, now: float) -> Change | None:
        """A recurring challenge's next round opens (later, if another one is running)."""
        running = await self.current(scheduled.platform, scheduled.server)
        seq = int(
            await self.redis.get(self.keys.challenge_seq(scheduled.platform, scheduled.server)) or 0
        )
        pipe.multi()
        if running is not None:
            pipe.delete(self.keys.challenge_claim(scheduled.id, SCHEDULED))
            pipe.zadd(
                self.keys.challenge_deadlines(scheduled.platform),
                {scheduled.id: max(running.ends_at, now + 1)},
            )
            return None
        shift = now - scheduled.opened_at
        opened = Challenge(
            **{
                **asdict(scheduled),
                "state": OPEN,
                "opened_at": now,
                "voting_at": scheduled.voting_at + shift,
                "ends_at": scheduled.ends_at + shift,
                "round": seq + 1,
            }
        )
        pipe.set(self.keys.challenge_seq(opened.platform, opened.server), seq + 1)
        pipe.set(self.keys.challenge_current(opened.platform, opened.server), opened.id)
        self._save(pipe, opened, deadline=opened.voting_at)
        return Change(OPEN, opened, [])

    async def _streaks(
        self, closed: Challenge, entries: list[Entry]
    ) -> dict[str, dict[str, str | int]]:
        """Each entrant's stats fields after this challenge. A streak: challenges in a row (by
        round) they entered."""
        stats = self.keys.challenge_stats(closed.platform, closed.server)
        fields: dict[str, dict[str, str | int]] = {}
        for author_id, name in {e.author_id: e.by for e in entries}.items():
            last = int(await self.redis.hget(stats, f"{author_id}:last") or 0)
            streak = int(await self.redis.hget(stats, f"{author_id}:streak") or 0)
            streak = streak + 1 if last == closed.round - 1 else 1
            fields[author_id] = {
                f"{author_id}:last": closed.round,
                f"{author_id}:streak": streak,
                f"{author_id}:name": name,
            }
        return fields

    async def closed_since(self, platform: str, server: str, since: float) -> list[Challenge]:
        ids: list[str] = await self.redis.zrangebyscore(
            self.keys.challenge_closed(platform, server), since, "+inf"
        )
        found = [await self.get(i) for i in ids]
        return [c for c in found if c is not None]

    async def leaderboard(self, platform: str, server: str, top: int = 10) -> list[Standing]:
        board: list[tuple[str, float]] = await self.redis.zrevrange(
            self.keys.challenge_board(platform, server), 0, top - 1, withscores=True
        )
        stats = await self.redis.hgetall(self.keys.challenge_stats(platform, server))
        seq = int(await self.redis.get(self.keys.challenge_seq(platform, server)) or 0)
        running = await self.current(platform, server)
        latest_closed = seq - 1 if running is not None else seq
        standings = []
        for user_id, points in board:
            last = int(stats.get(f"{user_id}:last", 0))
            alive = last >= latest_closed  # a streak ends when a member misses a challenge
            standings.append(
                Standing(
                    user_id,
                    stats.get(f"{user_id}:name", user_id),
                    int(points),
                    int(stats.get(f"{user_id}:wins", 0)),
                    int(stats.get(f"{user_id}:streak", 0)) if alive else 0,
                )
            )
        return standings

    def _save(self, pipe: Any, challenge: Challenge, *, deadline: float | None) -> None:
        """Queue a challenge's record and its place in the deadline index on `pipe`."""
        pipe.hset(
            self.keys.challenge(challenge.id), mapping={"data": json.dumps(asdict(challenge))}
        )
        if deadline is None:
            pipe.zrem(self.keys.challenge_deadlines(challenge.platform), challenge.id)
        else:
            pipe.zadd(self.keys.challenge_deadlines(challenge.platform), {challenge.id: deadline})


def _next_round(closed: Challenge, now: float) -> Challenge:
    """The next round of a recurring challenge: same theme, rules and lengths, opening one
    period after this one opened (at once if that time has passed)."""
    entries_s = closed.entries_s or 1
    voting_s = closed.voting_s or 1
    starts = max(closed.opened_at + EVERY_S.get(closed.every, 0), now)
    return Challenge(
        **{
            **asdict(closed),
            "id": f"{closed.id[:16]}-r{closed.round + 1}",
            "opened_at": starts,
            "voting_at": starts + entries_s,
            "ends_at": starts + entries_s + voting_s,
            "state": SCHEDULED,
        }
    )
