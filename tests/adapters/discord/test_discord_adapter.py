"""`atelier discord` as a real process, with real discord.py, against the loopback fake of
Discord (tests/support/fake_discord.py), a real Redis, and a real `atelier worker` on a tiny model.

Tests that need a result with exact text (mentions, overlong text, a result that arrives
after the token expired) answer the job themselves through the queue's worker API, on a
prefix no worker serves, so the text and the timing are theirs to choose.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.commands.catalogue import CATALOGUE
from bot.commands.render import defuse_mentions
from bot.jobs import Job, JobKind, Progress, Provenance, Result, job_id_for, load_job
from bot.keys import Keys
from bot.queue import artifacts
from bot.queue.streams import JobQueue
from tests.conftest import atelier_cmd, atelier_env
from tests.support.fake_discord import MANAGE_GUILD, MANAGE_MESSAGES, MEMBER, FakeDiscord, FakeUser
from tests.support.redis_clients import async_client, clear, key_prefix, sync_client

pytestmark = pytest.mark.timeout(90)

ALICE = FakeUser(111_111_111_111_111_111, "alice")
BOB = FakeUser(222_222_222_222_222_222, "bob")
ADMIN = FakeUser(333_333_333_333_333_333, "admin", MEMBER | MANAGE_GUILD | MANAGE_MESSAGES)
FINAL_EDIT = r"^/webhooks/\d+/[^/]+/messages/\d+$"


# Fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def worker_prefix(redis_server: str) -> str:
    return key_prefix(redis_server, f"atelier-test-discord-{uuid.uuid4().hex[:8]}:")


@pytest.fixture(scope="module")
def text_worker(
    redis_server: str, worker_prefix: str, tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[str]]:
    """One real worker for the module (it starts in seconds, not milliseconds)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = atelier_env(redis_server, worker_prefix, tiny_gpt2)
    with log.open("w") as out:
        proc = subprocess.Popen(
            atelier_cmd("worker", "--kinds", "text", "--batch-size", "8"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    client = sync_client(redis_server)
    deadline = time.monotonic() + 90
    while not client.zcount(Keys(worker_prefix).workers(JobKind.TEXT), time.time(), "+inf"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield proc
    proc.kill()
    proc.wait(timeout=10)
    clear(client, Keys(worker_prefix))
    client.close()


@pytest.fixture
async def rc(redis_server: str) -> AsyncIterator[Redis]:
    """A client that leaves other tests' keys alone (every test here has its own prefix)."""
    client = async_client(redis_server)
    yield client
    await client.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    yield server
    await server.stop()


class Adapter:
    """`atelier discord` as a child process, pointed at the fake."""

    def __init__(self, fake: FakeDiscord, env: dict[str, str], log: Path) -> None:
        self.fake, self.env, self.log = fake, env, log
        self.proc: subprocess.Popen[str] | None = None

    async def start(self, shards: int = 1) -> Adapter:
        before = self.fake.identified
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
                atelier_cmd("discord"),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        await self.fake.wait_for(
            lambda: self.fake.identified >= before + shards or self.proc.poll() is not None,  # type: ignore[union-attr]
            timeout=30,
            what="the adapter to connect",
        )
        assert self.proc.poll() is None, self.log.read_text()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture
def adapters() -> Iterator[list[Adapter]]:
    started: list[Adapter] = []
    yield started
    for adapter in started:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.proc.kill()
            adapter.proc.wait(timeout=10)


async def start_adapter(
    adapters: list[Adapter],
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    log: Path,
    *,
    shards: int = 1,
    **extra: str,
) -> Adapter:
    env = atelier_env(redis_server, prefix, None, **fake.env(), **extra)
    env.setdefault("ATELIER_DISCORD_GUILD_ID", str(fake.guild_id))
    env = {k: v for k, v in env.items() if v != ""}  # "" = leave the setting unset
    adapter = Adapter(fake, env, log)
    adapters.append(adapter)
    return await adapter.start(shards)


def original(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any] | None:
    state = fake.interactions[int(payload["id"])]
    return fake.messages.get(state.original_id) if state.original_id else None


async def final_message(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    """The interaction's reply once it carries a result (an embed)."""

    def done() -> dict[str, Any] | None:
        message = original(fake, payload)
        return message if message and message["embeds"] else None

    result: dict[str, Any] = await fake.wait_for(done, timeout=45, what="the result")
    return result


async def answer_next_job(
    queue: JobQueue,
    text: str,
    *,
    partials: tuple[str, ...] = (),
    delay_s: float = 0.0,
    files: tuple[tuple[str, str, bytes, str], ...] = (),
) -> Job:
    """Play the worker for one text job: read it, report progress (all at once), publish."""
    await queue.ensure_group(JobKind.TEXT)
    entries = []
    while not entries:
        entries = await queue.read([JobKind.TEXT], "scripted-worker", 1, 500)
    job = load_job(entries[0].fields["job"])
    for i, partial in enumerate(partials, 1):
        fraction = i / (len(partials) + 1)
        await queue.publish_progress(
            Progress(job_id=job.id, fraction=fraction, partial_text=partial, origin=job.origin)
        )
    await asyncio.sleep(delay_s)
    attachments = await artifacts.store(queue.redis, queue.keys, job.id, files, ttl_s=600)
    result = Result(
        job_id=job.id,
        ok=True,
        command=job.command,
        prompt=job.prompt,
        text=text,
        provenance=Provenance(model="scripted", generator="test", seed=job.seed),
        attachments=attachments,
        origin=job.origin,
    )
    await queue.finish(JobKind.TEXT, entries[0].entry_id, result)
    return job


# Tests ----------------------------------------------------------------------------------
async def test_poem_is_deferred_then_the_reply_shows_the_text_and_provenance(
    fake: FakeDiscord,
    text_worker: subprocess.Popen[str],
    redis_server: str,
    worker_prefix: str,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    adapter = await start_adapter(
        adapters, fake, redis_server, worker_prefix, tmp_path / "a.log", ATELIER_LOG_LEVEL="DEBUG"
    )
    # Commands were synced to the guild from the catalogue: available ones only.
    assert fake.synced_guild == fake.guild_id
    assert set(fake.commands) == {c.name for c in CATALOGUE if c.available}
    assert {"poem", "image", "melody", "inspire", "atelier"} <= set(fake.commands)
    poem_options = {o["name"]: o for o in fake.commands["poem"]["options"]}
    assert poem_options["prompt"]["required"] is True
    assert "haiku" in [c["value"] for c in poem_options["form"]["choices"]]
    assert poem_options["temperature"]["min_value"] == 0.1
    assert poem_options["mood"]["autocomplete"] is True

    payload = fake.slash("poem", ALICE, {"prompt": "the sea at dusk", "form": "haiku", "seed": 42})
    sent = await fake.dispatch(payload)
    message = await final_message(fake, payload)
    state = fake.interactions[int(payload["id"])]
    assert state.callback_at is not None and state.callback_at - sent < 3.0
    assert fake.calls_to("POST", r"/callback$")[0].json == {"type": 5}  # deferred, thinking

    embed = message["embeds"][0]
    assert embed["title"] == "/poem the sea at dusk"
    assert embed["description"].strip()
    assert "made with tiny-gpt2 (transformers)" in embed["footer"]["text"]
    assert "seed 42" in embed["footer"]["text"] and "form=haiku" in embed["footer"]["text"]
    labels = fake.buttons(message)
    assert set(labels) == {"Regenerate", "Variations", "Remix", "Delete", "Illustrate", "Score it"}
    final = [c for c in fake.calls_to("PATCH", FINAL_EDIT) if c.json and c.json.get("embeds")]
    assert len(final) == 1 and final[0].json["allowed_mentions"]["parse"] == []  # type: ignore[index]
    # Heartbeats flowed, and no token ever reached the log, even at DEBUG level.
    await fake.wait_for(lambda: fake.heartbeats >= 1, what="a heartbeat")
    log = adapter.text()
    assert "INTERACTION_CREATE" in log  # DEBUG logging was on
    assert payload["token"] not in log and fake.token not in log
    assert adapter.stop() == 0


async def test_the_same_interaction_delivered_twice_gives_one_job_and_one_result(
    fake: FakeDiscord,
    text_worker: subprocess.Popen[str],
    redis_server: str,
    worker_prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, worker_prefix, tmp_path / "a.log")
    payload = fake.slash("poem", BOB, {"prompt": "twice told", "seed": 7})
    await fake.dispatch(payload)
    await fake.dispatch(payload)  # a gateway replay of the same event
    await final_message(fake, payload)
    await asyncio.sleep(1.0)  # room for a second result or post, if there were one
    callbacks = fake.calls_to("POST", rf"/interactions/{payload['id']}/")
    assert [c.status for c in callbacks] == [200, 400]  # the repeat was refused by Discord
    keys = Keys(worker_prefix)
    jobs = await rc.zrange(keys.user_jobs("discord", str(BOB.id)), 0, -1)
    assert len(jobs) == 1
    entries = await rc.xrange(keys.results("discord"))
    assert sum(1 for _, f in entries if f["type"] == "result" and f["job"] == jobs[0]) == 1
    token_edits = [
        c for c in fake.calls_to("PATCH", payload["token"]) if c.json and c.json.get("embeds")
    ]
    assert len(token_edits) == 1
    assert len([m for m in fake.visible_messages() if m["embeds"]]) == 1


async def test_buttons_work_after_the_adapter_restarts(
    fake: FakeDiscord,
    text_worker: subprocess.Popen[str],
    redis_server: str,
    worker_prefix: str,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.log"
    first = await start_adapter(adapters, fake, redis_server, worker_prefix, log)
    payload = fake.slash("poem", ALICE, {"prompt": "lanterns", "seed": 5})
    await fake.dispatch(payload)
    message = await final_message(fake, payload)
    buttons = fake.buttons(message)
    first.stop(signal.SIGKILL)  # no goodbye: nothing of the first process survives
    await start_adapter(adapters, fake, redis_server, worker_prefix, log)

    # Regenerate: same settings, a new seed, in a new reply.
    regen = fake.click(int(message["id"]), buttons["Regenerate"], ALICE)
    await fake.dispatch(regen)
    again = await final_message(fake, regen)
    footer = again["embeds"][0]["footer"]["text"]
    assert again["embeds"][0]["title"] == "/poem lanterns" and "seed 5 " not in footer

    # Variations: three new pieces, the first in the reply, two as follow-ups.
    vary = fake.click(int(message["id"]), buttons["Variations"], ALICE)
    await fake.dispatch(vary)
    await final_message(fake, vary)
    state = fake.interactions[int(vary["id"])]
    await fake.wait_for(
        lambda: len([f for f in state.followups if fake.messages[f]["embeds"]]) == 2,
        what="two follow-up variations",
    )
    seeds = {
        fake.messages[m]["embeds"][0]["footer"]["text"].split(" · ")[1]
        for m in [state.original_id, *state.followups]
        if m is not None
    }
    assert len(seeds) == 3

    # Remix: a form prefilled with the prompt; the edited prompt and options make the piece.
    remix = fake.click(int(message["id"]), buttons["Remix"], ALICE)
    await fake.dispatch(remix)
    modal = await fake.wait_for(
        lambda: fake.interactions[int(remix["id"])].modal, what="the remix form"
    )
    inputs = [c for row in modal["components"] for c in row.get("components", [row])]
    assert [i.get("value") for i in inputs if i.get("type") == 4] == ["lanterns"]
    submit = fake.submit_modal(remix, {"prompt": "paper lanterns form:haiku"}, ALICE)
    await fake.dispatch(submit)
    remixed = await final_message(fake, submit)
    assert remixed["embeds"][0]["title"] == "/poem paper lanterns"
    assert "form=haiku" in remixed["embeds"][0]["footer"]["text"]

    # Delete: refused for another member (ephemeral), done for the requester.
    await fake.dispatch(fake.click(int(message["id"]), buttons["Delete"], BOB))
    refusal = await fake.wait_for(
        lambda: [
            c
            for c in fake.calls_to("POST", r"/callback$")
            if (c.json or {}).get("data", {}).get("flags") == 64  # type: ignore[union-attr]
        ],
        what="the refusal",
    )
    assert "Only the member who asked" in refusal[0].json["data"]["content"]
    assert int(message["id"]) not in fake.deleted
    await fake.dispatch(fake.click(int(message["id"]), buttons["Delete"], ALICE))
    await fake.wait_for(lambda: int(message["id"]) in fake.deleted, what="the delete")


async def test_a_429_is_waited_out_and_the_result_still_arrives(
    fake: FakeDiscord,
    text_worker: subprocess.Popen[str],
    redis_server: str,
    worker_prefix: str,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    adapter = await start_adapter(adapters, fake, redis_server, worker_prefix, tmp_path / "a.log")
    fake.rate_limit("PATCH", FINAL_EDIT, retry_after=1.5)
    payload = fake.slash("story", ALICE, {"prompt": "a slow river", "length": "short"})
    await fake.dispatch(payload)
    message = await final_message(fake, payload)
    assert message["embeds"][0]["title"] == "/story a slow river"
    edits = fake.calls_to("PATCH", FINAL_EDIT)
    limited = next(i for i, c in enumerate(edits) if c.status == 429)
    retry = edits[limited + 1]
    assert retry.path == edits[limited].path and retry.status == 200
    assert retry.at - edits[limited].at >= 1.5 - 0.05
    assert "rate limited" in adapter.text() and payload["token"] not in adapter.text()


async def test_a_result_after_the_token_expired_is_posted_in_the_channel_once(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    fake.token_lifetime_s = 3.0
    await start_adapter(
        adapters, fake, redis_server, prefix, tmp_path / "a.log", ATELIER_DISCORD_TOKEN_TTL="2"
    )
    queue = JobQueue(rc, keys=Keys(prefix))
    payload = fake.slash("poem", ALICE, {"prompt": "late light"})
    await fake.dispatch(payload)
    job = await answer_next_job(queue, "It came at last.", delay_s=3.2)
    posts = await fake.wait_for(
        lambda: fake.calls_to("POST", rf"^/channels/{fake.channel_id}/messages$"),
        what="the channel post",
    )
    body = posts[0].json
    assert body["content"].startswith(f"<@{ALICE.id}>")
    mentions = body["allowed_mentions"]
    assert mentions["parse"] == [] and [int(u) for u in mentions["users"]] == [ALICE.id]
    assert body["nonce"] == job.id and body["enforce_nonce"] is True
    assert body["embeds"][0]["description"] == "It came at last."
    # The expired token was only used for the place in line, never for the result.
    assert not [c for c in fake.calls_to("PATCH", payload["token"]) if "embeds" in (c.json or {})]

    # The same result read again (a replay) posts nothing; posted again by an adapter that
    # lost track of it, the nonce keeps the channel at one message.
    keys = Keys(prefix)
    fields = {"type": "result", "job": job.id, "data": await rc.get(keys.result(job.id))}
    await rc.xadd(keys.results("discord"), fields)
    await asyncio.sleep(1.5)
    assert len(fake.calls_to("POST", rf"^/channels/{fake.channel_id}/messages$")) == 1
    await rc.delete(keys.delivered(job.id))
    await rc.xadd(keys.results("discord"), fields)
    await fake.wait_for(
        lambda: len(fake.calls_to("POST", rf"^/channels/{fake.channel_id}/messages$")) == 2,
        what="the second post",
    )
    assert len([m for m in fake.visible_messages() if m.get("nonce") == job.id]) == 1


async def test_generated_mentions_ping_nobody_and_progress_shows_partial_text(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    payload = fake.slash("poem", ALICE, {"prompt": "a loud hall"})
    await fake.dispatch(payload)
    text = f"Hear me @everyone and <@&{fake.guild_id + 1}>,\nand you <@{BOB.id}> @here."
    partials = ("Hear me @everyone", "Hear me @everyone and", "Hear me @everyone and <@&")
    await answer_next_job(JobQueue(rc, keys=Keys(prefix)), text, partials=partials, delay_s=1.2)
    message = await final_message(fake, payload)
    assert message["embeds"][0]["description"] == defuse_mentions(text)
    edits = fake.calls_to("PATCH", payload["token"])
    # Three progress reports within a second: one progress edit, with the text so far.
    progress = [c for c in edits if "*generating " in ((c.json or {}).get("content") or "")]
    assert len(progress) == 1
    assert progress[0].json["content"].endswith("\nHear me @\u200beveryone")  # type: ignore[index]
    for call in [*edits, *fake.calls_to("POST", payload["token"])]:
        if call.json and ("content" in call.json or "embeds" in call.json):
            assert call.json["allowed_mentions"] == {"parse": []}, call.json


async def test_overlong_text_arrives_whole_as_an_attachment(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    payload = fake.slash("story", ALICE, {"prompt": "an endless road"})
    await fake.dispatch(payload)
    text = "\n".join(f"Line {i}: the road went on and on past the hills." for i in range(200))
    await answer_next_job(JobQueue(rc, keys=Keys(prefix)), text)
    message = await final_message(fake, payload)
    [attachment] = message["attachments"]
    assert attachment["filename"].startswith("story-") and attachment["filename"].endswith(".txt")
    assert attachment["data"] == text + "\n"
    description = message["embeds"][0]["description"]
    assert description.startswith("Line 0:") and "attached file" in description
    [upload] = [c for c in fake.calls_to("PATCH", payload["token"]) if c.files]
    assert upload.json is not None and upload.json["allowed_mentions"] == {"parse": []}


async def test_result_files_arrive_as_attachments_with_the_picture_in_the_embed(
    fake: FakeDiscord,
    redis_server: str,
    prefix: str,
    rc: Redis,
    adapters: list[Adapter],
    tmp_path: Path,
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    payload = fake.slash("poem", ALICE, {"prompt": "a sky"})
    await fake.dispatch(payload)
    png, midi = b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"MThd\x00\x00\x00\x06tune"
    files = (("sky.png", "image/png", png, "a sky"), ("tune.mid", "audio/midi", midi, ""))
    await answer_next_job(JobQueue(rc, keys=Keys(prefix)), "A sky.", files=files)
    message = await final_message(fake, payload)
    assert [a["filename"] for a in message["attachments"]] == ["sky.png", "tune.mid"]
    assert message["embeds"][0]["image"]["url"] == "attachment://sky.png"
    [upload] = [c for c in fake.calls_to("PATCH", payload["token"]) if c.files]
    assert dict(upload.files) == {"sky.png": png, "tune.mid": midi}  # byte for byte


async def test_files_over_the_upload_limit_are_left_out_and_the_post_says_so(
    redis_server: str, prefix: str, rc: Redis, adapters: list[Adapter], tmp_path: Path
) -> None:
    small = await FakeDiscord(max_upload=64 * 1024).start()  # a server with a small limit
    try:
        await start_adapter(adapters, small, redis_server, prefix, tmp_path / "a.log")
        payload = small.slash("poem", ALICE, {"prompt": "a sky"})
        await small.dispatch(payload)
        png = b"\x89PNG\r\n\x1a\n" + bytes(200 * 1024)
        files = (("sky.png", "image/png", png, "a sky"),)
        await answer_next_job(JobQueue(rc, keys=Keys(prefix)), "A sky.", files=files)
        message = await final_message(small, payload)
        assert message["attachments"] == []
        assert "too large for this server's upload limit" in message["embeds"][0]["footer"]["text"]
        assert message["embeds"][0]["description"].startswith("A sky.")
    finally:
        await small.stop()


async def test_help_status_settings_and_user_errors_answer_the_asker_only(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")

    async def ask(user: FakeUser, sub: str, options: dict[str, Any] | None = None) -> str:
        payload = fake.slash("atelier", user, options, sub=sub)
        await fake.dispatch(payload)
        call = await fake.wait_for(
            lambda: fake.calls_to("POST", rf"/interactions/{payload['id']}/"), what=sub
        )
        assert call[0].json["type"] == 4 and call[0].json["data"]["flags"] == 64
        return str(call[0].json["data"]["content"])

    assert "/poem" in await ask(ALICE, "help")
    assert "form:" in await ask(ALICE, "help", {"prompt": "poem"})
    assert "text" in await ask(ALICE, "status") and "waiting" in await ask(ALICE, "status")
    refused = await ask(BOB, "settings", {"key": "moderation_words", "value": "gloom"})
    assert "Only server admins" in refused
    changed = await ask(ADMIN, "settings", {"key": "moderation_words", "value": "gloom"})
    assert "gloom" in changed

    # Autocomplete offers the catalogue's suggestions for what is typed so far.
    typing = fake.slash("poem", ALICE, {"prompt": "x", "mood": "me"}, focused="mood")
    await fake.dispatch(typing)
    [offer] = await fake.wait_for(
        lambda: fake.calls_to("POST", rf"/interactions/{typing['id']}/"), what="autocomplete"
    )
    assert offer.json["type"] == 8  # type: ignore[index]
    choices = [c["value"] for c in offer.json["data"]["choices"]]  # type: ignore[index]
    assert choices == ["me", "melancholy"]  # what was typed stays allowed

    # A prompt the parser refuses is answered at once, to the asker only, and queues nothing.
    bad = fake.slash("poem", ALICE, {"prompt": "bell\u0007 tower"})
    await fake.dispatch(bad)
    [answer] = await fake.wait_for(
        lambda: fake.calls_to("POST", rf"/interactions/{bad['id']}/"), what="the refusal"
    )
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64  # type: ignore[index]
    assert "control characters" in answer.json["data"]["content"]  # type: ignore[index]

    # A prompt the server refuses: the thinking reply goes, an ephemeral note says why.
    payload = fake.slash("poem", ALICE, {"prompt": "deep gloom"})
    await fake.dispatch(payload)
    note = await fake.wait_for(
        lambda: fake.calls_to("POST", rf"^/webhooks/\d+/{payload['token']}$"),
        what="the ephemeral note",
    )
    assert note[0].json.get("flags") == 64, note[0].json
    assert "'gloom'" in note[0].json["content"]
    assert fake.interactions[int(payload["id"])].original_id in fake.deleted


async def test_sharded_adapter_syncs_globally_and_answers_on_the_guilds_shard(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    await start_adapter(
        adapters,
        fake,
        redis_server,
        prefix,
        tmp_path / "a.log",
        shards=2,
        ATELIER_DISCORD_SHARDS="2",
        ATELIER_DISCORD_GUILD_ID="",
    )
    assert sorted(s.shard for s in fake.sessions.values()) == [(0, 2), (1, 2)]
    assert fake.synced_guild is None and fake.calls_to("PUT", r"^/applications/\d+/commands$")
    payload = fake.slash("atelier", ALICE, sub="help")
    await fake.dispatch(payload)
    await fake.wait_for(
        lambda: fake.calls_to("POST", rf"/interactions/{payload['id']}/"), what="the answer"
    )


async def test_an_internal_error_gets_an_apology_with_the_job_id_and_a_logged_trace(
    fake: FakeDiscord, redis_server: str, prefix: str, adapters: list[Adapter], tmp_path: Path
) -> None:
    adapter = await start_adapter(adapters, fake, redis_server, prefix, tmp_path / "a.log")
    fake.fail("GET", r"/messages/@original$", status=403, code=50001)
    payload = fake.slash("poem", ALICE, {"prompt": "a broken bell"})
    await fake.dispatch(payload)
    [note] = await fake.wait_for(
        lambda: fake.calls_to("POST", rf"^/webhooks/\d+/{payload['token']}$"), what="apology"
    )
    job_id = job_id_for("discord", payload["id"])
    assert note.json is not None and note.json["flags"] == 64
    assert note.json["content"].startswith("Sorry") and job_id in note.json["content"]
    assert "Forbidden" not in note.json["content"]  # details stay in the log
    log = adapter.text()
    assert f"/poem failed (job {job_id})" in log and "Traceback" in log and "Forbidden" in log


def test_without_a_token_the_adapter_says_which_setting_to_set(
    redis_server: str, prefix: str
) -> None:
    done = subprocess.run(
        atelier_cmd("discord"),
        env=atelier_env(redis_server, prefix, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DISCORD_TOKEN" in done.stderr and "Traceback" not in done.stderr
