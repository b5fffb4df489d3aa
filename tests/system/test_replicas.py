"""Chaos: two `atelier slack` replicas (real slack-bolt, the loopback Slack) and two
`atelier discord` replicas (real discord.py, the loopback Discord, shards 0 and 1 of 2, one
per replica) share a flood of results; one replica of each is SIGKILLed while it holds read
but unposted results. Every result must show exactly once, the killed replicas' share
within 10 s of the kill, and nothing may stay pending."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import Origin, Result, dump
from bot.keys import ADAPTER_GROUP, Keys
from tests.conftest import _free_port, atelier_env
from tests.support.fake_discord import FakeDiscord, FakeUser
from tests.support.fake_slack import FakeSlack, SignedClient, block_text
from tests.system.test_chaos import _answers
from tests.system.test_processes import spawn

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
SECRET = "replicas-signing-secret-0123456789"
RESULTS = 120  # per platform
CHANNELS = 15  # the results spread over this many channels (each has its posting bucket):
# 8 a channel, well past Slack's burst of 3 and Discord's of 5, so for seconds the replicas
# hold read results (waiting on a shared bucket) and one of each is killed while it does
TAKE_OVER_S = 10.0


def slack_result(n: int) -> Result:
    origin = Origin(
        platform="slack", route="slack", channel_id=f"CREP{n % CHANNELS}", delivery_id=f"s{n}"
    )
    return Result(
        job_id=f"a{n:07x}", ok=True, command="poem", prompt=f"sea {n}", text=f"wave {n} ends",
        origin=origin,
    )  # fmt: skip


def discord_result(n: int, first_channel: int) -> Result:
    origin = Origin(
        platform="discord",
        route="discord",
        channel_id=str(first_channel + n % CHANNELS),
        user_id="1234",
        delivery_id=f"d{n}",
    )
    return Result(
        job_id=f"d{n:07x}", ok=True, command="poem", prompt=f"sea {n}", text=f"wave {n} ends",
        origin=origin,
    )  # fmt: skip


async def wait(check: Callable[[], Awaitable[bool]], what: str, logs: list[Path], t: float) -> None:
    deadline = time.monotonic() + t
    while not await check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.read_text()[-3000:]}" for p in logs)
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.05)


async def pending_of(redis: Redis, stream: str) -> dict[str, int]:
    consumers = await redis.xinfo_consumers(stream, ADAPTER_GROUP)
    return {str(c["name"]): int(c["pending"]) for c in consumers}


async def test_one_of_two_replicas_killed_on_each_platform_loses_and_repeats_nothing(
    redis_server: str,
    redis_client: Redis,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    slack = FakeSlack().start()
    discord = await FakeDiscord().start()
    keys = Keys(f"atelier-replicas-{uuid.uuid4().hex[:8]}:")
    base = atelier_env(redis_server, keys.prefix, None)
    logs: list[Path] = []
    slack_procs: list[subprocess.Popen[str]] = []
    discord_procs: list[subprocess.Popen[str]] = []
    try:
        for name in ("a", "b"):
            port = _free_port()
            env = {
                **base,
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "ATELIER_SLACK_API_URL": slack.api_url,
                "ATELIER_ADAPTER_ID": f"slack-{name}",
            }
            logs.append(tmp_path / f"slack-{name}.log")
            slack_procs.append(spawn(procs, env, "slack", "--port", str(port), log=logs[-1]))
            client = SignedClient(f"http://127.0.0.1:{port}/slack/events", SECRET, slack)
            await wait(lambda c=client: _answers(c), f"slack-{name}", logs, 60)  # type: ignore[misc]
        # A second guild, on the other shard: each replica has one guild to answer.
        first_shard = (discord.guild_id >> 22) % 2
        guilds = {
            first_shard: discord.guild_id,
            1 - first_shard: discord.add_guild(1 - first_shard, 2)[0],
        }
        for shard, name in enumerate(("a", "b")):
            env = {
                **base,
                **discord.env(),
                "ATELIER_DISCORD_GUILD_ID": str(discord.guild_id),
                "ATELIER_DISCORD_SHARDS": "2",
                "ATELIER_DISCORD_SHARD_IDS": str(shard),
                "ATELIER_ADAPTER_ID": f"discord-{name}",
            }
            logs.append(tmp_path / f"discord-{name}.log")
            discord_procs.append(spawn(procs, env, "discord", log=logs[-1]))

        async def all_alive() -> bool:
            names = ["slack:slack-a", "slack:slack-b", "discord:discord-a", "discord:discord-b"]
            found = [await redis_client.exists(f"{keys.prefix}adapter-alive:{n}") for n in names]
            return all(found) and len(discord.sessions) == 2

        await wait(all_alive, "four live replicas and two Discord shards", logs, 60)
        assert sorted(s.shard for s in discord.sessions.values()) == [(0, 2), (1, 2)]
        assert discord.shard_conflicts == 0  # no shard identified by both replicas
        # A command in each guild reaches the replica running its shard, and is answered.
        for shard, guild in guilds.items():
            assert discord.session_of(guild).shard == (shard, 2)
            payload = discord.slash(
                "atelier", FakeUser(111_111_111_111_111_111, "alice"), sub="help", guild_id=guild
            )
            await discord.dispatch(payload)
            await discord.wait_for(
                lambda p=payload: discord.calls_to("POST", rf"/interactions/{p['id']}/"),  # type: ignore[misc]
                what=f"the answer in the guild of shard {shard}",
            )

        # Each Slack job has its message (posted when the command was queued); the result
        # edits it in, as in production.
        web = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack_results = [slack_result(n) for n in range(RESULTS)]
        for r in slack_results:
            posted = await web.chat_postMessage(channel=r.origin.channel_id, text="queued")
            where = {"channel": r.origin.channel_id, "ts": posted["ts"], "thread_ts": ""}
            await redis_client.set(keys.slack_message(r.job_id), json.dumps(where))
        discord_results = [discord_result(n, discord.channel_id + 1) for n in range(RESULTS)]

        shown: dict[str, float] = {}  # job id -> when its result was first seen

        def look() -> None:
            now = time.monotonic()
            for r in slack_results:
                if r.job_id not in shown and any(
                    r.text in block_text(m) for m in slack.in_channel(r.origin.channel_id)
                ):
                    shown[r.job_id] = now
            for m in list(discord.messages.values()):
                nonce = m.get("nonce")
                if nonce and nonce not in shown:
                    shown[str(nonce)] = now

        async def publish(results: list[Result]) -> None:
            for n, r in enumerate(results):
                stream = keys.results(r.origin.route)
                await redis_client.xadd(
                    stream, {"type": "result", "job": r.job_id, "data": dump(r)}
                )
                if n % 20 == 19:
                    await asyncio.sleep(0.2)

        flood = asyncio.create_task(
            publish([x for pair in zip(slack_results, discord_results, strict=True) for x in pair])
        )
        killed: dict[str, list[str]] = {}
        killed_at: dict[str, float] = {}

        async def kill_when_holding(route: str, name: str, proc: subprocess.Popen[str]) -> None:
            stream = keys.results(route)
            await wait(
                lambda: _holds(redis_client, stream, name), f"{name} to hold results", logs, 60
            )
            proc.send_signal(signal.SIGKILL)
            killed_at[name] = time.monotonic()
            held = await redis_client.xpending_range(
                stream, ADAPTER_GROUP, "-", "+", 1000, consumername=name
            )
            killed[name] = [str(row["message_id"]) for row in held]

        await asyncio.gather(
            kill_when_holding("slack", "slack-a", slack_procs[0]),
            kill_when_holding("discord", "discord-a", discord_procs[0]),
        )
        await flood

        async def all_shown() -> bool:
            look()
            return len(shown) == 2 * RESULTS

        await wait(all_shown, "every result to show", logs, 90)
        assert all(killed.values()), killed
        for name, entry_ids in killed.items():
            route = name.split("-")[0]
            entries = [await redis_client.xrange(keys.results(route), i, i) for i in entry_ids]
            jobs = [fields["job"] for found in entries for _id, fields in found]
            after = {j: shown[j] - killed_at[name] for j in jobs}
            late = {j: round(s, 1) for j, s in after.items() if s > TAKE_OVER_S}
            print(
                f"{name}: {len(jobs)} held at the kill, all shown {max(after.values()):.1f} s after"
            )
            assert not late, (
                f"{name}'s results shown later than {TAKE_OVER_S} s after the kill: {late}"
            )

        # Exactly once: one Slack message shows each result, one Discord message each.
        for r in slack_results:
            mark = r.text
            hits = [m for m in slack.in_channel(r.origin.channel_id) if mark in block_text(m)]
            assert len(hits) == 1, (r.job_id, hits)
        result_channels = {r.origin.channel_id for r in discord_results}
        nonces = [
            m.get("nonce")
            for m in discord.messages.values()
            if m.get("nonce") and m["channel_id"] in result_channels
        ]
        assert sorted(nonces) == sorted(r.job_id for r in discord_results)

        async def settled() -> bool:
            slack_left = await pending_of(redis_client, keys.results("slack"))
            discord_left = await pending_of(redis_client, keys.results("discord"))
            return not any(slack_left.values()) and not any(discord_left.values())

        await wait(settled, "nothing left pending", logs, 20)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await discord.stop()
        slack.stop()
        for key in [k async for k in redis_client.scan_iter(f"{keys.prefix}*")]:
            await redis_client.delete(key)


async def _holds(redis: Redis, stream: str, name: str) -> bool:
    if not await redis.exists(stream):
        return False
    try:
        return (await pending_of(redis, stream)).get(name, 0) >= 1
    except Exception:
        return False
