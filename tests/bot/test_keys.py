"""Key names: unchanged on one Redis server; on a cluster, each group that a script or a
transaction touches together in one hash slot (redis-py's own CRC16 slot function)."""

from __future__ import annotations

import inspect

from redis.asyncio import Redis
from redis.crc import key_slot

from bot.cluster import tagged_prefix
from bot.keys import Keys

PLAIN = Keys("atelier:")
TAGGED = Keys(tagged_prefix("atelier:"))


def slot(name: str) -> int:
    return key_slot(name.encode())


def test_names_on_one_server_are_the_prefix_and_the_name_as_before() -> None:
    assert PLAIN.jobs("text") == "atelier:jobs:text"
    assert PLAIN.artifact("j1", 0) == "atelier:artifact:j1:0"
    assert PLAIN.gallery_item("discord", "G", "j1") == "atelier:gallery-item:j1"
    assert PLAIN.gallery_after("discord", "G", "j1") == "atelier:gallery-after:j1"
    assert PLAIN.settings("slack", "T1") == "atelier:settings:slack:T1"
    assert PLAIN.challenge("c1") == "atelier:challenge:c1"
    assert PLAIN.once("slack", "D1") == "atelier:once:slack:D1"
    # No method of Keys spells a name with braces on one server.
    for name, method in inspect.getmembers(PLAIN, inspect.ismethod):
        if name.startswith("_") or name == "scan_patterns":
            continue
        params = inspect.signature(method).parameters
        args = [{"kind": "text", "number": 1, "n": 0}.get(p, "x1") for p in params]
        assert "{" not in method(*args), name


def test_each_transaction_group_shares_one_slot_on_a_cluster() -> None:
    k = TAGGED
    groups = {
        "admission": [
            k.job("j1"),
            k.jobs("text"),
            k.running("text", "discord:G"),
            k.line("text", "discord:G"),
            k.lines("text"),
            k.fair_servers("text"),
            k.member_jobs("discord", "G", "U"),
            k.bucket("discord", "G"),
            k.bucket("discord", "G", "U"),
        ],
        "finish": [k.job("j2"), k.jobs("image"), k.results("discord"), k.result("j2"), k.dead],
        "delivery": [k.delivered("j3"), k.delivering("j3"), k.results("slack")],
        "a job's files": [k.artifact("j4", 0), k.artifact("j4", 1), k.noticed("j4")],
        "gallery": [
            k.gallery("discord", "G"),
            k.gallery_item("discord", "G", "j5"),
            k.gallery_after("discord", "G", "j4"),
            k.gallery_kind("discord", "G", "poem"),
            k.gallery_member("discord", "G", "Bob"),
            k.settings("discord", "G"),
        ],
        "challenges": [
            k.challenge("c1"),
            k.challenge_current("slack", "T"),
            k.challenge_seq("slack", "T"),
            k.challenge_board("slack", "T"),
            k.challenge_stats("slack", "T"),
            k.challenge_closed("slack", "T"),
            k.challenge_deadlines("slack"),
            k.outbox("slack"),
            k.challenge_entries("c1"),
            k.challenge_votes("c1", 3),
        ],
        "brainstorm": [
            k.brainstorm("b1"),
            k.brainstorm_ideas("b1"),
            k.brainstorm_thread("slack", "C", "t"),
        ],
        "heartbeat": [k.workers("text"), k.worker("w1")],
    }
    slots = {}
    for group, names in groups.items():
        found = {slot(n) for n in names}
        assert len(found) == 1, (group, names)
        slots[group] = found.pop()
    # The groups themselves spread: the queue, a job's files, a server and the community
    # state are different slots (so a cluster's masters share them).
    assert len({slots[g] for g in ("admission", "a job's files", "gallery", "challenges")}) == 4
    assert slots["admission"] == slots["finish"] == slots["delivery"]
    # Another job's files and another server's gallery hash elsewhere.
    assert slot(k.artifact("j9", 0)) != slots["a job's files"]
    assert slot(k.gallery("discord", "H")) != slots["gallery"]
    # A key used alone carries no tag: its whole name picks its slot.
    assert k.once("slack", "D1") == "atelier:once:slack:D1"
    assert k.jobs("text") == "{atelier}:jobs:text"
    assert k.gallery("discord", "G") == "{atelier:server:discord:G}:gallery:discord:G"


def test_a_tag_in_a_member_name_cannot_move_a_gallery_key() -> None:
    # The group's tag comes first in the name, so braces later on are only characters.
    name = TAGGED.gallery_member("discord", "G", "{bob}")
    assert slot(name) == slot(TAGGED.gallery("discord", "G"))


async def test_scan_patterns_match_every_spelling_of_a_prefix_and_nothing_else(
    redis_client: Redis, prefix: str
) -> None:
    keys = Keys(tagged_prefix(prefix))
    other = Keys(tagged_prefix(prefix.rstrip(":") + "x:"))
    mine = [keys.jobs("text"), keys.artifact("j", 0), keys.challenge("c"), keys.once("s", "d")]
    theirs = [other.jobs("text"), other.artifact("j", 0), other.once("s", "d")]
    for name in mine + theirs:
        await redis_client.set(name, "1")
    found = set()
    for pattern in keys.scan_patterns():
        found |= {k async for k in redis_client.scan_iter(match=pattern, count=1000)}
    assert found == set(mine)
    await redis_client.delete(*mine, *theirs)
    plain = Keys(prefix)
    await redis_client.set(plain.jobs("text"), "1")
    [pattern] = plain.scan_patterns()
    assert [k async for k in redis_client.scan_iter(match=pattern)] == [plain.jobs("text")]
    await redis_client.delete(plain.jobs("text"))
