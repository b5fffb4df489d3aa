"""The Slack adapter as real processes: `atelier slack --port P` (real slack-bolt) and a real
`atelier worker` with a tiny GPT-2, on a real Redis, against the loopback Slack of
`tests/support/fake_slack.py`, driven with signed requests."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.keys import Keys
from tests.conftest import _free_port, atelier_cmd, atelier_env
from tests.support.fake_slack import BOT_USER, FakeSlack, SignedClient, block_text
from tests.support.redis_clients import async_client, clear, job_keys, key_prefix, sync_client

pytestmark = pytest.mark.timeout(120)
SECRET = "test-signing-secret-0123456789"


@dataclass
class Stack:
    fake: FakeSlack
    client: SignedClient
    redis: redis.Redis
    keys: Keys
    logs: dict[str, Path]
    env: dict[str, str]

    def jobs_in(self, channel: str) -> list[dict[str, Any]]:
        jobs = []
        for key in job_keys(self.redis, self.keys):
            raw = self.redis.hget(key, "job")
            job = json.loads(raw) if raw else None
            if job and job["origin"]["channel_id"] == channel:
                jobs.append(job)
        return jobs

    def log(self, name: str = "app") -> str:
        return self.logs[name].read_text()


def _spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(
            atelier_cmd(*args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _wait(
    ready: Callable[[], bool],
    what: str,
    procs: list[subprocess.Popen[str]],
    logs: list[Path],
    timeout: float = 90,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for proc, log in zip(procs, logs, strict=True):
            assert proc.poll() is None, f"{what}: process exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what} never happened:\n" + "\n".join(
            log.read_text() for log in logs
        )
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack(
    redis_server: str, tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One fake Slack, one `atelier slack --port` and one worker for the module; each test
    uses channels of its own, so tests never see each other's messages."""
    fake = FakeSlack(admins={"UADMIN"}).start()
    prefix = key_prefix(redis_server, f"atelier-slack-{uuid.uuid4().hex[:8]}:")
    port = _free_port()
    env = atelier_env(
        redis_server,
        prefix,
        tiny_gpt2,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        ATELIER_SLACK_API_URL=fake.api_url,
        ATELIER_HEARTBEAT="1",
    )
    logs_dir = tmp_path_factory.mktemp("slack-logs")
    logs = {"worker": logs_dir / "worker.log", "app": logs_dir / "app.log"}
    worker = _spawn(env, logs["worker"], "worker", "--kinds", "text", "--batch-size", "8")
    app = _spawn(env, logs["app"], "slack", "--port", str(port))
    client = sync_client(redis_server)
    keys = Keys(prefix)
    try:
        _wait(
            lambda: bool(client.zcount(keys.workers("text"), time.time(), "+inf")),
            "worker ready",
            [worker, app],
            [logs["worker"], logs["app"]],
        )
        _wait(
            lambda: _listening(port), "app listening", [worker, app], [logs["worker"], logs["app"]]
        )
        yield Stack(
            fake,
            SignedClient(f"http://127.0.0.1:{port}/slack/events", SECRET, fake),
            client,
            keys,
            logs,
            env,
        )
    finally:
        for proc in (app, worker):
            proc.terminate()
        for proc in (app, worker):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        clear(client, keys)
        client.close()
        fake.stop()


async def until(check: Callable[[], Any], what: str, stack: Stack, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n--- app log:\n{stack.log()[-4000:]}")
        await asyncio.sleep(0.05)


def finished(
    stack: Stack, channel: str, marker: str = "made with tiny-gpt2"
) -> list[dict[str, Any]]:
    return [m for m in stack.fake.in_channel(channel) if marker in block_text(m)]


def button_value(message: dict[str, Any], action_id: str, index: int = 0) -> str:
    found = [
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]
    return str(found[index])


def labels(message: dict[str, Any], action_id: str) -> list[str]:
    return [
        e["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    ]


# Commands ------------------------------------------------------------------------------
async def test_poem_over_http_acks_fast_then_posts_and_edits_in_the_result(stack: Stack) -> None:
    status, _, took = await stack.client.command(
        "/poem", "the sea at dusk form:haiku seed:42", channel="CPOEM"
    )
    assert status == 200 and took < 3.0
    [done] = await until(lambda: finished(stack, "CPOEM"), "the poem", stack)
    [post] = stack.fake.find("chat.postMessage", channel="CPOEM")
    assert "worker" in post.data["text"]  # the first message shows the place in line
    assert "the sea at dusk" in post.data["text"]
    assert done["edits"] >= 1 and len(stack.fake.in_channel("CPOEM")) == 1  # edited in place
    text = block_text(done)
    assert "*/poem the sea at dusk*" in text
    assert "seed 42" in text and "form=haiku" in text
    kinds = [b["type"] for b in done["blocks"]]
    assert kinds[0] == "section" and "context" in kinds and kinds[-1] == "actions"
    assert labels(done, "atelier_regen") == ["Regenerate"]
    assert {"Variations", "Remix", "Delete"} <= set(text.splitlines())
    assert len(stack.jobs_in("CPOEM")) == 1
    edits = [c.at for c in stack.fake.find("chat.update", channel="CPOEM")]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(edits[:-1]))  # progress edits


async def test_wrong_signature_or_stale_timestamp_gets_401_and_enqueues_nothing(
    stack: Stack,
) -> None:
    body = stack.client.command_body("/poem", "the moon", channel="CSIG")
    form = "application/x-www-form-urlencoded"
    status, _, _ = await stack.client.post(body, form, secret="not-the-secret")
    assert status == 401
    status, _, _ = await stack.client.post(body, form, age_s=10 * 60)
    assert status == 401
    await asyncio.sleep(1.0)
    assert stack.jobs_in("CSIG") == []
    assert stack.fake.count("chat.postMessage", channel="CSIG") == 0
    # The same body, signed correctly and fresh, is accepted: the 401s were the signature's.
    status, _, _ = await stack.client.post(body, form)
    assert status == 200
    await until(lambda: stack.jobs_in("CSIG"), "the job", stack)


async def test_a_retried_command_makes_one_job_and_one_post(stack: Stack) -> None:
    body = stack.client.command_body("/story", "a fox finds a key length:short", channel="CRETRY")
    form = "application/x-www-form-urlencoded"
    first, again = await asyncio.gather(
        stack.client.post(body, form), stack.client.post(body, form, retry=1)
    )
    assert first[0] == again[0] == 200
    await until(lambda: finished(stack, "CRETRY"), "the story", stack)
    status, _, _ = await stack.client.post(body, form, retry=2)  # a late retry, after the result
    assert status == 200
    await asyncio.sleep(1.5)
    assert len(stack.jobs_in("CRETRY")) == 1
    assert stack.fake.count("chat.postMessage", channel="CRETRY") == 1
    assert len(stack.fake.in_channel("CRETRY")) == 1


async def test_a_hundred_commands_each_delivered_three_times(stack: Stack) -> None:
    """100 commands, each delivered three times at once (Slack's retries): 100 jobs, 100
    messages, each ending with its result."""
    form = "application/x-www-form-urlencoded"
    bodies = [
        stack.client.command_body("/poem", f"tide {n} seed:{n}", channel="CTRIPLE", user=f"UT{n}")
        for n in range(100)
    ]
    gate = asyncio.Semaphore(1)  # one command at a time, its three deliveries at once

    async def thrice(body: str) -> list[tuple[int, str, float]]:
        async with gate:
            return await asyncio.gather(
                *(stack.client.post(body, form, retry=r) for r in (0, 1, 2))
            )

    replies = [r for three in await asyncio.gather(*map(thrice, bodies)) for r in three]
    assert {status for status, _, _ in replies} == {200}, [r for r in replies if r[0] != 200][:3]
    await until(lambda: len(finished(stack, "CTRIPLE")) == 100, "100 results", stack, timeout=180)
    await asyncio.sleep(1.0)
    assert len(stack.jobs_in("CTRIPLE")) == 100
    assert stack.fake.count("chat.postMessage", channel="CTRIPLE") == 100
    assert len(stack.fake.in_channel("CTRIPLE")) == 100


async def test_a_429_is_honoured_and_the_result_still_arrives(stack: Stack) -> None:
    stack.fake.rate_limit("chat.postMessage", channel="CRATE", retry_after=1)
    stack.fake.rate_limit("chat.update", channel="CRATE", retry_after=1)
    status, _, took = await stack.client.command("/poem", "rain on tin seed:5", channel="CRATE")
    assert status == 200 and took < 3.0
    await until(lambda: finished(stack, "CRATE"), "the poem after a 429", stack)
    posts = stack.fake.find("chat.postMessage", channel="CRATE")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 1.0  # Retry-After: 1 was honoured
    updates = stack.fake.find("chat.update", channel="CRATE")
    assert updates[0].status == 429 and updates[1].at - updates[0].at >= 1.0
    assert len(stack.fake.in_channel("CRATE")) == 1


async def test_generated_mentions_are_escaped(stack: Stack) -> None:
    """A result whose text tries to ping everyone, published as a worker would."""
    from bot.jobs import Origin, Provenance, Result, dump

    origin = Origin(
        platform="slack", route="slack", channel_id="CESC", user_id="U1", delivery_id="esc-1"
    )
    result = Result(
        job_id=f"esc{uuid.uuid4().hex[:12]}",
        ok=True,
        command="poem",
        prompt="<@U2> hi",
        text="Hello <!channel> and <!here|here> & <!everyone>, <@U999>!",
        provenance=Provenance(model="tiny-gpt2", generator="transformers", seed=1),
        origin=origin,
    )
    stack.redis.xadd(
        stack.keys.results("slack"), {"type": "result", "job": result.job_id, "data": dump(result)}
    )
    [message] = await until(lambda: stack.fake.in_channel("CESC"), "the post", stack)
    posted = stack.fake.find("chat.postMessage", channel="CESC")[0].data
    everything = json.dumps(posted)
    for raw in ("<!channel>", "<!here", "<!everyone>", "<@U999>", "<@U2>"):
        assert raw not in everything
    assert "Hello &lt;!channel&gt; and &lt;!here|here&gt; &amp; &lt;!everyone&gt;" in block_text(
        message
    )
    assert "&lt;!channel&gt;" in posted["text"]


async def test_result_files_are_uploaded_beside_the_result(stack: Stack) -> None:
    """A result with files (an image, a MIDI tune), published as a worker would: the files
    go up with files_upload_v2, byte for byte, in the result message's thread."""
    from bot.jobs import Origin, Provenance, Result, dump
    from bot.queue import artifacts

    job_id = f"file{uuid.uuid4().hex[:12]}"
    png, midi = b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"MThd\x00\x00\x00\x06tune"
    client = async_client(stack.env["ATELIER_REDIS_URL"])
    try:
        attachments = await artifacts.store(
            client,
            stack.keys,
            job_id,
            [("sky.png", "image/png", png, "a sky"), ("tune.mid", "audio/midi", midi, "")],
            ttl_s=600,
        )
    finally:
        await client.aclose()
    origin = Origin(
        platform="slack", route="slack", channel_id="CFILES", user_id="U1", delivery_id=job_id
    )
    result = Result(
        job_id=job_id,
        ok=True,
        command="image",
        prompt="a sky",
        text="",
        provenance=Provenance(model="sketch", generator="offline", seed=1),
        attachments=attachments,
        origin=origin,
    )
    stack.redis.xadd(
        stack.keys.results("slack"), {"type": "result", "job": result.job_id, "data": dump(result)}
    )
    await until(lambda: stack.fake.find("files.completeUploadExternal"), "the upload", stack)
    [message] = stack.fake.in_channel("CFILES")
    [done] = stack.fake.find("files.completeUploadExternal")
    assert done.data["channel_id"] == "CFILES" and done.data["thread_ts"] == message["ts"]
    assert png in stack.fake.uploads.values() and midi in stack.fake.uploads.values()
    files = done.data["files"]
    titles = [f["title"] for f in (json.loads(files) if isinstance(files, str) else files)]
    assert titles == ["a sky", "tune.mid"]


async def test_mistakes_come_back_ephemeral_with_what_to_do(stack: Stack) -> None:
    async def respond(command: str, text: str, channel: str = "CERR", user: str = "U1") -> str:
        before = len(stack.fake.responses)
        status, _, _ = await stack.client.command(command, text, channel=channel, user=user)
        assert status == 200
        await until(lambda: len(stack.fake.responses) > before, f"{command} {text}", stack)
        reply = stack.fake.responses[before]
        assert reply["response_type"] == "ephemeral"
        return str(reply["text"])

    assert "Unknown option 'colour' for /poem" in await respond("/poem", "the sea colour:red")
    assert "must be a whole number from 40 to 220" in await respond("/melody", "a jig tempo:9")
    assert "/poem: Write a poem" in await respond("/atelier", "help poem")
    assert "Brainstorm" in await respond("/atelier", "help")
    assert "Only server admins" in await respond(
        "/atelier", "settings key:jobs_per_minute value:30"
    )
    shown = await respond("/atelier", "settings key:jobs_per_minute value:30", user="UADMIN")
    assert "jobs_per_minute: 30" in shown
    assert "/invite @atelier" in await respond("/poem", "the sea", channel="CNOTIN1")
    assert stack.fake.count("chat.postMessage", channel="CERR") == 0


async def test_workspace_settings_limit_the_channels(stack: Stack) -> None:
    """An admin's `/atelier settings` (channel link as Slack escapes it) holds in that
    workspace only; the refusal says which channels to use."""
    team = "T0SETTINGS"
    before = len(stack.fake.responses)
    await stack.client.command(
        "/atelier",
        "settings key:allowed_channels value:<#CALLOW|art>",
        channel="CALLOW",
        user="UADMIN",
        team=team,
    )
    await until(lambda: len(stack.fake.responses) > before, "the settings", stack)
    assert "allowed_channels: CALLOW" in stack.fake.responses[before]["text"]
    await stack.client.command("/poem", "the sea", channel="CDENY", team=team)
    await until(lambda: len(stack.fake.responses) > before + 1, "the refusal", stack)
    refusal = stack.fake.responses[before + 1]["text"]
    assert refusal == "Atelier is not enabled in this channel; the server's admins chose <#CALLOW>."
    await stack.client.command("/poem", "the sea seed:1", channel="CALLOW", team=team)
    await until(lambda: finished(stack, "CALLOW"), "the poem in the allowed channel", stack)
    assert stack.jobs_in("CDENY") == []


# Buttons -------------------------------------------------------------------------------
async def test_regenerate_variations_remix_and_delete(stack: Stack) -> None:
    await stack.client.command("/poem", "a quiet harbour seed:7", channel="CBTN", user="U1")
    [first] = await until(lambda: finished(stack, "CBTN"), "the poem", stack)
    job_id = button_value(first, "atelier_regen")

    # Regenerate: one new job (a new seed), its message in the first one's thread.
    await stack.client.action("atelier_regen", job_id, first, trigger="click-regen")
    await stack.client.action("atelier_regen", job_id, first, trigger="click-regen")  # again
    await until(lambda: len(finished(stack, "CBTN")) == 2, "the regenerated poem", stack)
    # Variations: three more.
    await stack.client.action("atelier_vary", job_id, first, trigger="click-vary")
    await until(lambda: len(finished(stack, "CBTN")) == 5, "three variations", stack)
    thread = [m for m in stack.fake.in_channel("CBTN") if m["ts"] != first["ts"]]
    assert all(m["thread_ts"] == first["ts"] for m in thread)
    seeds = {j["seed"] for j in stack.jobs_in("CBTN")}
    assert len(stack.jobs_in("CBTN")) == 5 and len(seeds) == 5

    # Remix: a modal prefilled with the prompt; the submitted text and options make a job.
    await stack.client.action("atelier_remix", job_id, first)
    view = await until(lambda: stack.fake.views, "the remix modal", stack)
    assert view[-1]["blocks"][0]["element"]["initial_value"] == "a quiet harbour"
    status, answer, _ = await stack.client.submit_view(view[-1], "a harbour colour:red")
    assert status == 200 and "Unknown option 'colour'" in json.loads(answer)["errors"]["text"]
    status, _, _ = await stack.client.submit_view(view[-1], "a loud harbour mood:eerie")
    assert status == 200
    await until(lambda: len(finished(stack, "CBTN")) == 6, "the remix", stack)
    remix = [j for j in stack.jobs_in("CBTN") if j["prompt"] == "a loud harbour"]
    assert remix and remix[0]["options"]["mood"] == "eerie" and remix[0]["parent_id"] == job_id

    # Delete: refused for someone else (ephemeral), done for the requester.
    await stack.client.action("atelier_delete", job_id, first, user="U2")
    await until(
        lambda: stack.fake.count("chat.postEphemeral", channel="CBTN", user="U2"),
        "the refusal",
        stack,
    )
    assert first["ts"] in stack.fake.messages
    await stack.client.action("atelier_delete", job_id, first, user="U1")
    await until(lambda: first["ts"] not in stack.fake.messages, "the deletion", stack)


# Brainstorm ----------------------------------------------------------------------------
async def test_brainstorm_end_to_end(stack: Stack) -> None:
    fake, client = stack.fake, stack.client
    await client.command(
        "/brainstorm", "names for our zine count:5 seed:3", channel="CBS", user="U1"
    )

    def idea_list() -> dict[str, Any] | None:
        found = [m for m in fake.in_channel("CBS") if labels(m, "bs_vote")]
        return found[0] if found else None

    listing = await until(idea_list, "the idea list", stack)
    parent = fake.messages[listing["thread_ts"]]
    assert "Brainstorm: names for our zine" in block_text(parent)
    assert "made with tiny-gpt2" in block_text(parent)  # provenance on the parent
    model_ideas = len(labels(listing, "bs_vote"))
    assert 1 <= model_ideas <= 5
    if model_ideas < 5:
        assert "The model gave" in block_text(listing)  # said honestly
    assert block_text(listing).count("_by atelier_") == model_ideas

    def current() -> dict[str, Any]:
        return fake.messages[listing["ts"]]

    async def vote(number: int, user: str, trigger: str = "") -> None:
        session = button_value(listing, "bs_vote").rpartition(":")[0]
        await client.action("bs_vote", f"{session}:{number}", current(), user=user, trigger=trigger)

    # Votes: per person, a second click withdraws, a redelivered click counts once.
    await vote(1, "U1", trigger="v-1")
    await vote(1, "U1", trigger="v-1")  # the same click delivered twice
    await vote(1, "U2")
    await vote(1, "U3")
    await vote(1, "U3")  # U3 withdraws
    await until(lambda: labels(current(), "bs_vote")[0] == "👍 2", "two votes on #1", stack)

    # A teammate adds an idea by replying in the thread (the event delivered twice) ...
    reply = {
        "type": "message",
        "channel": "CBS",
        "user": "U3",
        "text": "a zine called Inkwell",
        "ts": f"{time.time():.6f}",
        "thread_ts": parent["ts"],
    }
    await client.event(reply, event_id="EvIDEA1")
    await client.event(reply, event_id="EvIDEA1")
    teammate = model_ideas + 1
    await until(lambda: len(labels(current(), "bs_vote")) == teammate, "the added idea", stack)
    assert "a zine called Inkwell  _by <@U3>_" in block_text(current())
    # ... and another with the Add idea modal.
    session_id = button_value(current(), "bs_add")
    await client.action("bs_add", session_id, current(), user="U2")
    view = await until(
        lambda: [v for v in fake.views if v["callback_id"] == "bs_add_idea"],
        "the add-idea modal",
        stack,
    )
    await client.submit_view(view[-1], "Paper Lanterns", user="U2")
    await until(lambda: len(labels(current(), "bs_vote")) == teammate + 1, "modal idea", stack)
    assert "Paper Lanterns  _by <@U2>_" in block_text(current())
    for user in ("U1", "U2", "U4"):
        await vote(teammate, user)
    await until(lambda: labels(current(), "bs_vote")[teammate - 1] == "👍 3", "3 votes", stack)

    # Expand idea #1: a message in the thread, edited into the elaborated idea.
    await client.action("bs_expand", f"{session_id}:1", current(), user="U2")
    await until(
        lambda: [m for m in fake.in_channel("CBS") if "Idea #1, expanded" in block_text(m)],
        "the expanded idea",
        stack,
    )

    # A mention in the thread continues the session.
    mention = {
        "type": "app_mention",
        "channel": "CBS",
        "user": "U1",
        "ts": f"{time.time():.6f}",
        "text": f"<@{BOT_USER}> more like #{teammate}",
        "thread_ts": parent["ts"],
    }
    await client.event(mention, event_id="EvMORE1")
    done = await until(
        lambda: [
            m
            for m in fake.in_channel("CBS")
            if f"like #{teammate}" in block_text(m) and "made with" in block_text(m)
        ],
        "more ideas",
        stack,
    )
    assert "Added" in block_text(done[0]) or "no usable ideas" in block_text(done[0])

    # Wrap up: the ranking with who proposed each idea, in the thread.
    await client.action("bs_wrap", session_id, current(), user="U1")
    [wrap] = await until(
        lambda: [m for m in fake.in_channel("CBS") if "Top ideas" in block_text(m)], "wrap", stack
    )
    lines = block_text(wrap).splitlines()
    assert lines[1] == f"1. *a zine called Inkwell*: 3 votes, proposed by <@U3> (#{teammate})"
    assert lines[2].startswith("2. *") and ": 2 votes, proposed by atelier (#1)" in lines[2]
    assert wrap["thread_ts"] == parent["ts"]
    assert all(m["thread_ts"] == parent["ts"] for m in fake.in_channel("CBS") if m is not parent)


# Socket Mode ---------------------------------------------------------------------------
async def test_socket_mode_connects_and_handles_a_command(stack: Stack, tmp_path: Path) -> None:
    env = {**stack.env, "SLACK_APP_TOKEN": "xapp-test"}
    env.pop("SLACK_SIGNING_SECRET")  # Socket Mode needs no signing secret
    log = tmp_path / "socket.log"
    app = _spawn(env, log, "slack")
    try:
        await until(lambda: stack.fake._sockets, "a Socket Mode connection", stack, timeout=30)
        assert stack.fake.count("apps.connections.open") >= 1
        payload = dict(
            urllib.parse.parse_qsl(
                stack.client.command_body("/poem", "lanterns seed:9", channel="CSOCK")
            )
        )
        stack.fake.send_socket(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            }
        )
        await until(
            lambda: [a for a in stack.fake.socket_acks if a.get("envelope_id") == "env-1"],
            "the envelope's ack",
            stack,
        )
        await until(lambda: finished(stack, "CSOCK"), "the poem over Socket Mode", stack)
        assert stack.fake.count("chat.postMessage", channel="CSOCK") == 1
    finally:
        app.terminate()
        assert app.wait(timeout=15) == 0, log.read_text()
    assert "xapp-test" not in log.read_text() and "xoxb-test" not in log.read_text()


def test_no_secret_in_the_logs(stack: Stack) -> None:
    text = stack.log()
    assert SECRET not in text and "xoxb-test" not in text


def test_the_fake_speaks_files_upload_v2(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The three steps of files_upload_v2 against the fake, with slack_sdk's own client."""
    from slack_sdk import WebClient

    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)  # slack_sdk would route loopback through them

    client = WebClient(token="xoxb-test", base_url=stack.fake.api_url)
    reply = client.files_upload_v2(
        channel="CFILE", content=b"\x89PNG fake bytes", filename="a.png", title="A picture"
    )
    assert reply["ok"] and reply["file"]["title"] == "A picture"
    assert [c.method for c in stack.fake.calls[-3:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert b"\x89PNG fake bytes" in stack.fake.uploads[reply["file"]["id"]]


@pytest.mark.parametrize(
    ("args", "drop", "message"),
    [
        ((), "SLACK_APP_TOKEN", "Give --port for HTTP mode"),
        (("--port", "1"), "SLACK_SIGNING_SECRET", "HTTP mode needs SLACK_SIGNING_SECRET"),
        (("--port", "1"), "SLACK_BOT_TOKEN", "needs SLACK_BOT_TOKEN"),
    ],
)
def test_misconfiguration_is_explained(
    stack: Stack, args: tuple[str, ...], drop: str, message: str
) -> None:
    env = {k: v for k, v in stack.env.items() if k != drop}
    done = subprocess.run(
        atelier_cmd("slack", *args), env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr


async def test_up_with_slack_tokens_runs_the_slack_adapter_on_the_embedded_store(
    tiny_gpt2: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """`atelier up` with Slack tokens and no Redis: worker and Slack adapter in one process."""
    fake = FakeSlack().start()
    try:
        port = _free_port()
        env = atelier_env(
            None,
            "atelier:",
            tiny_gpt2,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            ATELIER_SLACK_API_URL=fake.api_url,
        )
        log = tmp_path / "up.log"
        up = _spawn(env, log, "up", "--slack-port", str(port))
        procs.append(up)
        _wait(lambda: _listening(port), "up listening", [up], [log])
        client = SignedClient(f"http://127.0.0.1:{port}/slack/events", SECRET, fake)
        status, _, _ = await client.command("/poem", "the sea seed:7", channel="CUP")
        assert status == 200
        deadline = time.monotonic() + 90
        while not [m for m in fake.in_channel("CUP") if "made with tiny-gpt2" in block_text(m)]:
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        assert "Atelier is starting the Slack adapter." in log.read_text()
        up.terminate()
        assert up.wait(timeout=30) == 0, log.read_text()
    finally:
        fake.stop()


# Backpressure ----------------------------------------------------------------------------
async def test_a_rate_limited_command_gets_a_polite_refusal_and_no_job(stack: Stack) -> None:
    """A workspace's per-member limit: the second command in a minute is refused, ephemeral,
    saying when to try again; only the first makes a job."""
    team = "T0LIMITS"
    before = len(stack.fake.responses)
    await stack.client.command(
        "/atelier", "settings key:jobs_per_minute value:1", channel="CLIM", user="UADMIN", team=team
    )
    await until(lambda: len(stack.fake.responses) > before, "the settings", stack)
    await stack.client.command("/poem", "the first tide seed:3", channel="CLIM", team=team)
    await until(lambda: finished(stack, "CLIM"), "the first poem", stack)
    await stack.client.command("/poem", "the second tide", channel="CLIM", team=team)
    await until(lambda: len(stack.fake.responses) > before + 1, "the refusal", stack)
    refusal = stack.fake.responses[before + 1]
    assert refusal["response_type"] == "ephemeral"
    assert "this server's limit for each member" in refusal["text"]
    seconds = int(refusal["text"].rsplit("Try again in ", 1)[1].split(" second")[0])
    assert 1 <= seconds <= 60
    await asyncio.sleep(1.0)
    assert len(stack.jobs_in("CLIM")) == 1
    assert stack.fake.count("chat.postMessage", channel="CLIM") == 1
