"""/challenge, /collab and /gallery through `atelier slack --port` as a real process (real
slack-bolt), against the loopback Slack (tests/support/fake_slack.py) and a real Redis. Jobs are
answered by the test playing the worker, so texts are exact and no model is loaded."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import answer_next_job
from tests.adapters.slack.test_slack import SECRET, _listening
from tests.conftest import _free_port, atelier_cmd, atelier_env
from tests.support.fake_slack import FakeSlack, SignedClient, block_text

pytestmark = pytest.mark.timeout(120)
CHANNEL = "CCOMMUNITY"


class SlackApp:
    """`atelier slack --port` as a child process that a test can kill and start again."""

    def __init__(self, fake: FakeSlack, redis_server: str, prefix: str, log: Path) -> None:
        self.fake, self.log, self.port = fake, log, _free_port()
        self.env = atelier_env(
            redis_server,
            prefix,
            None,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            ATELIER_SLACK_API_URL=fake.api_url,
        )
        self.proc: subprocess.Popen[str] | None = None
        self.client = SignedClient(f"http://127.0.0.1:{self.port}/slack/events", SECRET, fake)

    def start(self) -> SlackApp:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                atelier_cmd("slack", "--port", str(self.port)),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        deadline = time.monotonic() + 60
        while not _listening(self.port):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    async def say(self, command: str, text: str, user: str) -> dict[str, Any]:
        """Run a command; its answer (response_url: ephemeral or in the channel)."""
        before = len(self.fake.responses)
        status, _, _ = await self.client.command(command, text, channel=CHANNEL, user=user)
        assert status == 200
        await until(lambda: len(self.fake.responses) > before, f"{command} {text}", self)
        return self.fake.responses[before]

    async def click(self, message: dict[str, Any], label: str, user: str) -> str:
        """Press a community button; the ephemeral answer's text."""
        action_id, value = next(
            (e["action_id"], e["value"])
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == label
        )
        before = self.fake.count("chat.postEphemeral", user=user)
        await self.client.action(action_id, value, message, user=user)
        await until(lambda: self.fake.count("chat.postEphemeral", user=user) > before, label, self)
        return str(self.fake.find("chat.postEphemeral", user=user)[-1].data["text"])


async def until(check: Callable[[], Any], what: str, app: SlackApp, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out waiting for {what}\n--- app log:\n{app.log.read_text()[-3000:]}"
            )
        await asyncio.sleep(0.05)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(admins={"UMOD"}).start()
    yield server
    server.stop()


@pytest.fixture
def app(
    fake: FakeSlack, redis_server: str, redis_client: Redis, prefix: str, tmp_path: Path
) -> Iterator[SlackApp]:
    """(`redis_client` flushes the test database first, never under a running app.)"""
    started = SlackApp(fake, redis_server, prefix, tmp_path / "slack.log").start()
    yield started
    if started.proc is not None and started.proc.poll() is None:
        started.proc.terminate()
        try:
            started.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            started.proc.kill()


def posted(fake: FakeSlack, needle: str) -> list[dict[str, Any]]:
    return [m for m in fake.in_channel(CHANNEL) if needle in block_text(m)]


def text_of(reply: dict[str, Any]) -> str:
    return "\n".join([reply.get("text", ""), *(json.dumps(b) for b in reply.get("blocks", []))])


async def test_a_challenge_from_opening_to_winners_across_an_adapter_restart(
    app: SlackApp, fake: FakeSlack
) -> None:
    refused = await app.say("/challenge", "new tides duration:3s voting:6s", "UALICE")
    assert refused["response_type"] == "ephemeral" and "Only moderators" in refused["text"]
    opened = await app.say(
        "/challenge", "new tides duration:3s voting:6s blind:yes hide_counts:yes", "UMOD"
    )
    assert opened["response_type"] == "in_channel"
    assert "New challenge #1: “tides”" in opened["text"]
    assert "vote counts stay hidden until the end" in opened["text"]

    mine = await app.say("/challenge", "submit the moon pulls, the sea obeys", "UALICE")
    assert mine["response_type"] == "ephemeral" and "Your entry #1 is in" in mine["text"]
    again = await app.say("/challenge", "submit one more", "UALICE")
    assert "one entry per member" in again["text"]
    await app.say("/challenge", "submit https://files.example/wave.mp3 made:ai-generated", "UBOB")
    await app.say("/challenge", "submit salt on the wind made:ai-assisted", "UCAROL")
    peek = await app.say("/challenge", "vote", "UDAVE")
    assert "3 entries so far; they stay hidden" in peek["text"] and "moon" not in peek["text"]

    [board] = await until(lambda: posted(fake, "Voting is open"), "voting", app)
    text = block_text(board)
    assert "#2 [ai-generated, melody] https://files.example/wave.mp3" in text
    assert "ualice" not in text  # blind: no authors while voting
    assert "Your vote for entry #1 is counted." in await app.click(board, "Vote #1", "UDAVE")
    assert "It has" not in fake.find("chat.postEphemeral", user="UDAVE")[-1].data["text"]
    assert "voted for entry #1 already" in await app.click(board, "Vote #1", "UDAVE")
    assert "your own entry" in await app.click(board, "Vote #1", "UALICE")
    assert "is counted" in await app.click(board, "Vote #1", "UBOB")
    assert "is counted" in await app.click(board, "Vote #3", "UDAVE")
    listing = await app.say("/challenge", "vote", "UEVE")
    assert "(1 vote)" not in text_of(listing) and "Vote #3" in text_of(listing)

    app.kill()  # down across the deadline
    await asyncio.sleep(7)
    assert posted(fake, "has ended") == []
    app.start()
    [ended] = await until(lambda: posted(fake, "has ended"), "the close", app)
    await asyncio.sleep(2.5)
    assert len(posted(fake, "has ended")) == 1
    result = block_text(ended)
    assert "Winner: #1 by ualice with 2 votes!" in result
    assert "1. #1 [human, poem] the moon pulls, the sea obeys — ualice (2 votes)" in result
    assert "2. #3 [ai-assisted, poem] salt on the wind — ucarol (1 vote)" in result
    standings = await app.say("/challenge", "leaderboard", "UDAVE")
    assert standings["response_type"] == "in_channel"
    assert "1. ualice: 3 pts · 1 wins · 1 in a row" in standings["text"]
    assert "2. ucarol: 2 pts · 0 wins · 1 in a row" in standings["text"]


async def test_a_poem_written_by_three_members_and_the_model(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    await app.client.command("/collab", "start the river turns:4 model:3", channel=CHANNEL,
                             user="UALICE")  # fmt: skip
    [start] = await until(lambda: posted(fake, "written together"), "the poem's message", app)
    assert "“the river”, 4 lines" in block_text(start)
    # The adapter ties the thread to the poem just after posting its start: wait for that.
    thread_key = queue.keys.collab_current("slack", f"{CHANNEL}/{start['ts']}")
    deadline = time.monotonic() + 10
    while not await queue.redis.get(thread_key):
        assert time.monotonic() < deadline, "the poem's thread was never tied to it"
        await asyncio.sleep(0.05)

    async def reply(user: str, text: str, expect: str) -> str:
        await app.client.event(
            {
                "type": "message",
                "channel": CHANNEL,
                "user": user,
                "text": text,
                "ts": f"{time.time():.6f}",
                "thread_ts": start["ts"],
            }
        )
        found = await until(
            lambda: [m for m in posted(fake, expect) if m["thread_ts"] == start["ts"]],
            expect,
            app,
        )
        return block_text(found[-1])

    first = await reply("UALICE", "The river bends below the mill", "1. The river bends")
    assert "3 lines to go" in first
    await app.client.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "UALICE",
            "text": "and one more from me",
            "ts": f"{time.time():.6f}",
            "thread_ts": start["ts"],
        }
    )
    await until(lambda: fake.count("chat.postEphemeral", user="UALICE"), "the refusal", app)
    refusal = fake.find("chat.postEphemeral", user="UALICE")[-1].data["text"]
    assert "let someone else take a turn" in refusal
    second = await reply("UBOB", "It carries leaves and light", "2. It carries")
    assert "The turn passes to the model" in second
    job = await answer_next_job(queue, "And hums a song the stones know well")
    assert "Write only line 3" in job.text.instruction  # type: ignore[union-attr]
    third = await reply("UCAROL", "Until the sea takes all", "4. Until the sea")
    assert "3. And hums a song the stones know well   — atelier" in third
    done = await app.say("/collab", "finish", "UBOB")
    assert done["response_type"] == "in_channel"
    lines = done["text"].splitlines()
    assert lines[0] == "“the river” (free)"
    assert [line.rsplit("— ", 1)[1] for line in lines[1:5]] == [
        "UALICE",
        "UBOB",
        "atelier",
        "UCAROL",
    ]
    assert "Written by UALICE, UBOB, atelier, UCAROL. free verse." in lines[5]


async def test_the_gallery_pages_and_credits_remixes(
    app: SlackApp, fake: FakeSlack, queue: JobQueue
) -> None:
    for n in range(6):
        await app.client.command("/poem", f"a quiet harbour {n}", channel=CHANNEL, user="UALICE")
        await answer_next_job(queue, f"harbour poem {n}")
    done = await until(
        lambda: len(posted(fake, "made with scripted")) == 6 and posted(fake, "made with"),
        "six poems",
        app,
    )
    first = next(m for m in done if "harbour poem 0" in block_text(m))
    job_id = next(
        e["value"]
        for b in first["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "atelier_remix"
    )
    await app.client.action("atelier_remix", job_id, first, user="UBOB")
    view = await until(lambda: fake.views, "the remix form", app)
    await app.client.submit_view(view[-1], "a loud harbour", user="UBOB")
    await answer_next_job(queue, "the remixed harbour")
    await until(lambda: posted(fake, "the remixed harbour"), "the remix", app)

    async def gallery(text: str) -> str:
        deadline = time.monotonic() + 15
        while True:
            reply = await app.say("/gallery", text, "UCAROL")
            if "7 pieces" in reply["text"] or time.monotonic() > deadline:
                return text_of(reply)
            await asyncio.sleep(0.3)

    page = await gallery("")
    assert "Gallery: page 1 of 2, 7 pieces" in page
    assert "/poem a loud harbour — by ubob" in page
    assert f"remix of [{job_id[:8]}] by ualice" in page
    reply = fake.responses[-1]
    assert reply["response_type"] == "ephemeral"
    assert "Next" in page and "Previous" not in page
    ephemeral_message = {"ts": "1700000000.999", "channel": CHANNEL, "blocks": reply["blocks"]}
    second = await app.click(ephemeral_message, "Next", "UCAROL")
    assert second.startswith("Gallery: page 2 of 2, 7 pieces")
    assert "/poem a quiet harbour 0 — by ualice" in second


async def test_the_style_kit(app: SlackApp, fake: FakeSlack, queue: JobQueue) -> None:
    saved = await app.say("/style", "save dusk soft light, long shadows", "UALICE")
    assert "Saved the style 'dusk' for /poem" in saved["text"]
    await app.client.command("/style", "use dusk a harbour", channel=CHANNEL, user="UBOB")
    job = await answer_next_job(queue, "lamps along the quay")
    assert job.prompt == "a harbour, soft light, long shadows" and job.origin.user_id == "UBOB"
    await until(lambda: posted(fake, "lamps along the quay"), "the styled poem", app)
    listed = await app.say("/style", "list", "UCAROL")
    assert (
        "dusk (/poem): soft light, long shadows — used 1 time, saved by ualice" in (listed["text"])
    )
