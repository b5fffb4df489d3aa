"""A poller that dies in the middle of a challenge's phase change, against a real Redis: the
change, its points and its announcement are one transaction, so the next poller (once the
dead one's claim has lapsed) makes the change and announces it exactly once, and the
leaderboard counts the points once. The crashes are placed where the old code had its
windows: right after the new state was saved, and between the points and the state. And
an entry or a vote that lands while a change is worked out (read before, written after) makes
that change start again, so it is neither left out of the voting post nor of the count."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.client import Pipeline

from bot.community.announcements import Announcement
from bot.community.challenges import CLOSED, OPEN, VOTING, Challenge, ChallengeStore, Entry
from bot.community.commands import Community
from bot.desk.front_desk import FrontDesk
from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.bot.community.test_challenges import T0, challenge, entry


class Died(Exception):
    """The poller's process ends here."""


@pytest.fixture
def community(queue: JobQueue) -> Community:
    return FrontDesk(queue).community


async def claim_lapses(store: ChallengeStore, challenge_id: str, state: str) -> None:
    """What `CLAIM_S` does for a dead poller's claim, without waiting for it."""
    await store.redis.delete(store.keys.challenge_claim(challenge_id, state))


async def one_vote_each(store: ChallengeStore) -> Challenge:
    """c1 in voting: bob's entry (#2) with two votes, alice's (#1) with one."""
    c = await store.open(challenge())
    await store.submit(c, entry("alice", "waves"), now=T0 + 1)
    await store.submit(c, entry("bob", "foam"), now=T0 + 1)
    change = await store.advance("c1", now=T0 + 150)
    assert change is not None and change.what == VOTING
    await store.vote(change.challenge, 2, "carol", now=T0 + 160)
    await store.vote(change.challenge, 2, "dave", now=T0 + 160)
    await store.vote(change.challenge, 1, "bob", now=T0 + 160)
    return change.challenge


async def waiting(community: Community) -> dict[str, Any]:
    """The outbox as stored: dedupe key -> entry."""
    found: dict[str, Any] = await community.redis.hgetall(community.keys.outbox("discord"))
    return found


async def posted_once(community: Community, now: float) -> list[Announcement]:
    """Every announcement two pollers would post, each then marked posted."""
    notes = await community.announcements("discord", now=now)
    notes += await community.announcements("discord", now=now)
    for note in notes:
        await community.announced(note)
    return notes


def die_once_saved(monkeypatch: pytest.MonkeyPatch, store: ChallengeStore, cid: str) -> None:
    """The poller dies right after the Redis call that saved the challenge's new state,
    wherever in the change that call comes."""
    execute = Pipeline.execute

    async def execute_then_die(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        before = await store.get(cid)
        result = await execute(self, *args, **kwargs)
        if await store.get(cid) != before:
            monkeypatch.setattr(Pipeline, "execute", execute)
            raise Died
        return result

    monkeypatch.setattr(Pipeline, "execute", execute_then_die)


def standings(board: list[Any]) -> list[tuple[str, int, int, int]]:
    return [(s.user_id, s.points, s.wins, s.streak) for s in board]


async def test_a_crash_right_after_the_state_is_saved_loses_no_announcement(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = community.challenges
    c = await store.open(challenge())
    await store.submit(c, entry("alice", "waves"), now=T0 + 1)
    die_once_saved(monkeypatch, store, "c1")
    with pytest.raises(Died):
        await community.announcements("discord", now=T0 + 150)
    assert (await store.get("c1")).state == VOTING  # type: ignore[union-attr]
    assert list(await waiting(community)) == ["c1:voting"]  # saved with the state
    await claim_lapses(store, "c1", OPEN)
    notes = await posted_once(community, T0 + 152)
    assert [n.key for n in notes] == ["c1:voting"]
    assert "Voting is open for “the sea”" in notes[0].text
    assert (await store.get("c1")).state == VOTING  # type: ignore[union-attr]
    assert await posted_once(community, T0 + 153) == []
    assert await waiting(community) == {}


async def test_a_crash_between_the_points_and_the_close_counts_them_once(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = community.challenges
    await one_vote_each(store)
    await community.outbox.redis.delete(community.keys.outbox("discord"))
    streaks = ChallengeStore._streaks

    async def streaks_then_die(self: ChallengeStore, *args: Any) -> Any:
        await streaks(self, *args)  # the old code had added the points by now
        raise Died

    monkeypatch.setattr(ChallengeStore, "_streaks", streaks_then_die)
    with pytest.raises(Died):
        await community.announcements("discord", now=T0 + 201)
    monkeypatch.setattr(ChallengeStore, "_streaks", streaks)
    assert await store.leaderboard("discord", "g1") == []
    assert (await store.get("c1")).state == VOTING  # type: ignore[union-attr]
    await claim_lapses(store, "c1", VOTING)
    notes = await posted_once(community, T0 + 202)
    assert [n.key for n in notes] == ["c1:closed"]
    assert "Winner: #2 by Bob" in notes[0].text
    assert await posted_once(community, T0 + 203) == []
    assert standings(await store.leaderboard("discord", "g1")) == [
        ("bob", 3, 1, 1),
        ("alice", 2, 0, 1),
    ]
    assert await store.current("discord", "g1") is None
    assert await store.due("discord", now=T0 + 10_000) == []


async def test_a_crash_after_the_change_leaves_its_announcement_waiting(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = community.challenges
    await one_vote_each(store)
    await community.outbox.redis.delete(community.keys.outbox("discord"))
    take = type(community.outbox).take

    async def die(*args: Any) -> Any:
        raise Died

    monkeypatch.setattr(type(community.outbox), "take", die)
    with pytest.raises(Died):
        await community.announcements("discord", now=T0 + 201)
    monkeypatch.setattr(type(community.outbox), "take", take)
    assert (await store.get("c1")).state == CLOSED  # type: ignore[union-attr]
    assert list(await waiting(community)) == ["c1:closed"]
    notes = await posted_once(community, T0 + 202)
    assert [n.key for n in notes] == ["c1:closed"]
    assert await posted_once(community, T0 + 203) == []
    assert [s.points for s in await store.leaderboard("discord", "g1")] == [3, 2]


class Stalls(ChallengeStore):
    """A poller that stalls past its claim while it works out the close: meanwhile another
    poller takes the lapsed claim and closes the challenge."""

    other: ChallengeStore

    async def _streaks(self, closed: Challenge, entries: list[Entry]) -> Any:
        fields = await super()._streaks(closed, entries)
        await claim_lapses(self, closed.id, VOTING)
        assert await self.other.advance(closed.id, now=T0 + 202) is not None
        return fields


async def test_a_poller_that_stalls_past_its_claim_writes_nothing(queue: JobQueue) -> None:
    store = ChallengeStore(queue.redis, keys=queue.keys)
    await one_vote_each(store)
    stalled = Stalls(queue.redis, keys=queue.keys)
    stalled.other = store
    assert await stalled.advance("c1", now=T0 + 201) is None
    assert standings(await store.leaderboard("discord", "g1")) == [
        ("bob", 3, 1, 1),
        ("alice", 2, 0, 1),
    ]


async def test_a_recurring_round_opens_once_across_a_crash(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = community.challenges
    c = await store.open(challenge(every="week"))
    closed = await store.end_now(c, now=T0 + 50)
    assert closed is not None and closed.next is not None
    nxt = closed.next
    die_once_saved(monkeypatch, store, nxt.id)
    with pytest.raises(Died):
        await community.announcements("discord", now=nxt.opened_at + 5)
    await claim_lapses(store, nxt.id, "scheduled")
    notes = await posted_once(community, nxt.opened_at + 6)
    assert [n.key for n in notes] == [f"{nxt.id}:open"]
    running = await store.current("discord", "g1")
    assert running is not None and running.id == nxt.id and running.round == 2
    assert await posted_once(community, nxt.opened_at + 7) == []


async def test_the_embedded_store_keeps_the_change_whole_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`atelier up` without ATELIER_REDIS_URL: the same transaction and watch on fakeredis."""
    import fakeredis

    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    community = FrontDesk(JobQueue(redis, keys=Keys("atelier-embedded:"))).community
    store = community.challenges
    await one_vote_each(store)
    await redis.delete(community.keys.outbox("discord"))
    die_once_saved(monkeypatch, store, "c1")
    with pytest.raises(Died):
        await community.announcements("discord", now=T0 + 201)
    await claim_lapses(store, "c1", VOTING)
    notes = await posted_once(community, T0 + 202)
    assert [n.key for n in notes] == ["c1:closed"]
    stalled = Stalls(redis, keys=community.keys)
    stalled.other = store
    c2 = await store.open(challenge("c2"))
    await store.submit(c2, entry("alice"), now=T0 + 1)
    await store.advance("c2", now=T0 + 150)
    assert await stalled.advance("c2", now=T0 + 201) is None
    assert standings(await store.leaderboard("discord", "g1")) == [
        ("bob", 3, 1, 0),  # missed c2: the streak ends
        ("alice", 2, 0, 2),
    ]
    await redis.aclose()


def land_during_change(
    monkeypatch: pytest.MonkeyPatch, store: ChallengeStore, land: Any
) -> list[int]:
    """`land()` runs right after the change has read the entries, once: a submission or a
    vote from another member arriving in that instant. Returns how many entries each read
    saw."""
    read = ChallengeStore.entries
    seen: list[int] = []

    async def read_then_land(self: ChallengeStore, c: Challenge) -> list[Entry]:
        found = await read(self, c)
        seen.append(len(found))
        if len(seen) == 1:
            await land()
        return found

    monkeypatch.setattr(ChallengeStore, "entries", read_then_land)
    return seen


async def test_an_entry_landing_as_voting_opens_is_in_the_voting_post(
    monkeypatch: pytest.MonkeyPatch, queue: JobQueue
) -> None:
    store = ChallengeStore(queue.redis, keys=queue.keys)
    c = await store.open(challenge())
    await store.submit(c, entry("alice", "waves"), now=T0 + 1)
    await store.submit(c, entry("bob", "foam"), now=T0 + 1)

    async def late_entry() -> None:  # accepted just before the deadline, stored just after
        await store.submit(c, entry("carol", "salt"), now=T0 + 99)

    seen = land_during_change(monkeypatch, store, late_entry)
    assert await store.advance("c1", now=T0 + 150) is None  # lost the race: nothing written
    assert not await queue.redis.exists(store.keys.challenge_claim("c1", OPEN))
    change = await store.advance("c1", now=T0 + 151)  # the next poll, at once
    assert change is not None and change.what == VOTING
    assert [e.author_id for e in change.entries] == ["alice", "bob", "carol"]
    assert seen[0] == 2 and seen[-1] == 3  # the first change saw two; the one written, three


async def test_a_vote_landing_as_voting_closes_is_counted(
    monkeypatch: pytest.MonkeyPatch, queue: JobQueue
) -> None:
    store = ChallengeStore(queue.redis, keys=queue.keys)
    voting = await one_vote_each(store)  # bob's #2 leads alice's #1 by two votes to one

    async def late_votes() -> None:
        await store.vote(voting, 1, "erin", now=T0 + 299)
        await store.vote(voting, 1, "frank", now=T0 + 299)

    land_during_change(monkeypatch, store, late_votes)
    assert await store.advance("c1", now=T0 + 400) is None
    change = await store.advance("c1", now=T0 + 401)
    assert change is not None and change.what == CLOSED
    assert [(e.author_id, e.votes) for e in change.entries] == [("alice", 3), ("bob", 2)]
    assert [w.author_id for w in change.winners] == ["alice"]
    board = store.keys.challenge_board("discord", "g1")
    assert await queue.redis.zscore(board, "alice") > await queue.redis.zscore(board, "bob")
