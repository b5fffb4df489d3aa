"""Challenges against a real Redis: entries, votes and their refusals, the once-only phase
changes, the leaderboard with streaks, and recurring rounds. Times are passed in, so no test
waits for a deadline."""

from __future__ import annotations

import asyncio

import pytest

from bot.community.challenges import (
    CLOSED,
    OPEN,
    SCHEDULED,
    VOTING,
    Challenge,
    ChallengeStore,
    Entry,
    entry_kind,
    parse_duration,
    ranked,
)
from bot.errors import UserError
from bot.queue.streams import JobQueue

T0 = 1_000_000.0


def challenge(cid: str = "c1", **over: object) -> Challenge:
    fields: dict[str, object] = {
        "id": cid,
        "platform": "discord",
        "server": "g1",
        "channel": "ch1",
        "theme": "the sea",
        "owner": "mod",
        "opened_at": T0,
        "voting_at": T0 + 100,
        "ends_at": T0 + 200,
        "entries_s": 100,
        "voting_s": 100,
    }
    fields.update(over)
    return Challenge(**fields)  # type: ignore[arg-type]


def entry(author: str, text: str = "a line", made: str = "human") -> Entry:
    return Entry(0, author, author.title(), made, entry_kind(text, ""), text=text)


@pytest.fixture
def store(queue: JobQueue) -> ChallengeStore:
    return ChallengeStore(queue.redis, keys=queue.keys)


def test_durations_and_kinds() -> None:
    assert parse_duration("3d") == 3 * 86_400 and parse_duration(" 12h ") == 43_200
    assert parse_duration("2s") == 2
    for bad in ("3 days", "0s", "100d", "-1h"):
        with pytest.raises(UserError):
            parse_duration(bad)
    assert entry_kind("", "https://cdn.example/a/b.PNG?x=1") == "image"
    assert entry_kind("", "https://x.example/tune.mid") == "melody"
    assert entry_kind("", "https://x.example/page") == "link"
    assert entry_kind("roses", "") == "poem" and entry_kind("", "", "music") == "melody"


def test_ranking_shares_places_on_ties() -> None:
    entries = [
        Entry(1, "a", "A", "human", "poem", votes=2),
        Entry(2, "b", "B", "human", "poem", votes=5),
        Entry(3, "c", "C", "human", "poem", votes=2),
    ]
    assert [(p, e.number) for p, e in ranked(entries)] == [(1, 2), (2, 1), (2, 3)]


async def test_entries_one_per_member_and_the_kind_is_checked(store: ChallengeStore) -> None:
    c = await store.open(challenge(kind="poem"))
    assert c.round == 1 and (await store.current("discord", "g1")) == c
    first = await store.submit(c, entry("alice"), now=T0 + 1)
    assert first.number == 1
    with pytest.raises(UserError, match="one entry per member"):
        await store.submit(c, entry("alice", "another"), now=T0 + 2)
    picture = Entry(0, "bob", "Bob", "ai-generated", "image", url="https://x.example/a.png")
    with pytest.raises(UserError, match="takes poems"):
        await store.submit(c, picture, now=T0 + 2)
    with pytest.raises(UserError, match="Tag your entry"):
        await store.submit(c, entry("bob", made="robot"), now=T0 + 2)
    with pytest.raises(UserError, match="running already"):
        await store.open(challenge("c2"))
    assert await store.open(challenge()) == c  # the same delivery again: nothing new
    with pytest.raises(UserError, match="Entries are closed"):
        await store.submit(c, entry("bob"), now=T0 + 150)


async def test_votes_and_every_refusal(store: ChallengeStore) -> None:
    c = await store.open(challenge(newcomers=False))
    await store.submit(c, entry("alice"), now=T0 + 1)
    await store.submit(c, entry("bob"), now=T0 + 1)
    with pytest.raises(UserError, match="Voting opens"):
        await store.vote(c, 1, "carol", now=T0 + 5)
    assert await store.vote(c, 1, "carol", now=T0 + 150) == 1
    with pytest.raises(UserError, match="already"):
        await store.vote(c, 1, "carol", now=T0 + 151)
    with pytest.raises(UserError, match="your own entry"):
        await store.vote(c, 1, "alice", now=T0 + 151)
    with pytest.raises(UserError, match="joined after"):
        await store.vote(c, 2, "dave", joined_at=T0 + 10, now=T0 + 151)
    assert await store.vote(c, 2, "erin", joined_at=T0 - 10, now=T0 + 151) == 1
    with pytest.raises(UserError, match="no entry #3"):
        await store.vote(c, 3, "erin", now=T0 + 151)
    assert [e.votes for e in await store.entries(c)] == [1, 1]


async def test_phase_changes_happen_once_even_when_raced(store: ChallengeStore) -> None:
    c = await store.open(challenge())
    await store.submit(c, entry("alice"), now=T0 + 1)
    await store.submit(c, entry("bob"), now=T0 + 1)
    assert await store.due("discord", now=T0 + 50) == []
    assert await store.due("slack", now=T0 + 150) == []  # another platform's poller
    assert await store.due("discord", now=T0 + 150) == ["c1"]
    changes = await asyncio.gather(*(store.advance("c1", now=T0 + 150) for _ in range(5)))
    opened = [ch for ch in changes if ch is not None]
    assert len(opened) == 1 and opened[0].what == VOTING
    assert (await store.get("c1")).state == VOTING  # type: ignore[union-attr]
    voting = await store.get("c1")
    assert voting is not None
    await store.vote(voting, 2, "carol", now=T0 + 160)
    await store.vote(voting, 2, "dave", now=T0 + 160)
    await store.vote(voting, 1, "bob", now=T0 + 160)
    assert await store.due("discord", now=T0 + 199) == []
    closes = await asyncio.gather(*(store.advance("c1", now=T0 + 201) for _ in range(5)))
    closed = [ch for ch in closes if ch is not None]
    assert len(closed) == 1 and closed[0].what == CLOSED
    assert [w.author_id for w in closed[0].winners] == ["bob"]
    assert await store.due("discord", now=T0 + 1000) == []
    assert await store.current("discord", "g1") is None
    board = await store.leaderboard("discord", "g1")
    assert [(s.user_id, s.points, s.wins, s.streak) for s in board] == [
        ("bob", 3, 1, 1),
        ("alice", 2, 0, 1),
    ]


async def test_streaks_count_challenges_in_a_row(store: ChallengeStore) -> None:
    for round_, authors in enumerate((["alice", "bob"], ["alice"], ["alice", "bob"]), 1):
        c = await store.open(challenge(f"c{round_}"))
        assert c.round == round_
        for author in authors:
            await store.submit(c, entry(author), now=T0 + 1)
        change = await store.end_now(c, now=T0 + 2)
        assert change is not None and change.what == CLOSED and change.winners == []
    board = {s.user_id: s for s in await store.leaderboard("discord", "g1")}
    assert board["alice"].streak == 3 and board["bob"].streak == 1
    assert board["alice"].points == 0  # no votes, no points


async def test_a_recurring_challenge_opens_its_next_round_on_schedule(
    store: ChallengeStore,
) -> None:
    c = await store.open(challenge(every="week"))
    change = await store.end_now(c, now=T0 + 50)
    assert change is not None and change.next is not None
    nxt = change.next
    assert nxt.state == SCHEDULED and nxt.opened_at == T0 + 7 * 86_400
    assert await store.current("discord", "g1") is None
    assert await store.due("discord", now=T0 + 86_400) == []
    assert await store.due("discord", now=nxt.opened_at) == [nxt.id]
    opened = await store.advance(nxt.id, now=nxt.opened_at + 5)
    assert opened is not None and opened.what == OPEN
    running = await store.current("discord", "g1")
    assert running is not None and running.id == nxt.id and running.round == 2
    assert running.voting_at == nxt.opened_at + 5 + 100 and running.theme == "the sea"


async def test_the_weekly_digest_is_opt_in_and_posted_once(queue: JobQueue) -> None:
    from bot.community.commands import DIGEST_EVERY_S
    from bot.desk.front_desk import FrontDesk
    from bot.jobs import Origin

    desk = FrontDesk(queue)
    mod = Origin(
        platform="discord", route="discord", channel_id="ch1", user_id="mod", guild_id="g1",
        delivery_id="set-digest",
    )  # fmt: skip
    store = desk.community.challenges
    c = await store.open(challenge())
    await store.submit(c, entry("alice", "waves"), now=T0 + 1)
    await store.submit(c, entry("bob", "foam"), now=T0 + 1)
    voting = (await store.advance("c1", now=T0 + 150)).challenge  # type: ignore[union-attr]
    await store.vote(voting, 2, "carol", now=T0 + 160)
    await store.vote(voting, 2, "dave", now=T0 + 160)
    await store.vote(voting, 1, "bob", now=T0 + 160)
    now = __import__("time").time()
    await store.advance("c1", now=now + 100)  # closed inside the first digest's week
    assert await desk.community.announcements("discord", now=now + DIGEST_EVERY_S) == []
    shown = await desk.handle(
        "/atelier settings key:digest_channel value:#C0DIGEST", mod, admin=True
    )
    assert "digest_channel: C0DIGEST" in shown.text
    assert await desk.community.announcements("discord", now=now + 60) == []
    later = now + DIGEST_EVERY_S + 60
    posts = await asyncio.gather(
        *(desk.community.announcements("discord", now=later) for _ in range(3))
    )
    notes = [n for batch in posts for n in batch]
    assert len(notes) == 1 and notes[0].channel == "C0DIGEST"
    assert notes[0].text.splitlines() == [
        "This week's most-voted pieces:",
        "  “the sea”: foam — Bob (2 votes)",
        "  “the sea”: waves — Alice (1 vote)",
    ]
    await desk.community.announced(notes[0])
    assert await desk.community.announcements("discord", now=later + 1) == []
    off = mod.model_copy(update={"delivery_id": "digest-off"})
    await desk.handle("/atelier settings key:digest_channel value:none", off, admin=True)
    assert await desk.community.announcements("discord", now=later + 2 * DIGEST_EVERY_S) == []
