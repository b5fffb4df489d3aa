"""Operations of `atelier slack --port` as a real process against the loopback Slack:
/healthz, /readyz, /metrics that count posts and 429s, JSON logs naming the job, and SIGTERM
while a post waits out a 429 (the post completes, the process exits 0).

Jobs are answered by the test through the queue's worker API (no worker runs)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.adapters.discord.test_discord_adapter import answer_next_job
from tests.conftest import _free_port, atelier_cmd, atelier_env
from tests.support.fake_slack import FakeSlack, SignedClient, block_text
from tests.system.test_operations import eventually, get, json_lines, sample

pytestmark = pytest.mark.timeout(120)
SECRET = "ops-signing-secret-0123456789"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


async def aget(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(get, port, path)


async def queued(port: int, log: Path) -> None:
    """Wait until a text job is in line (so answering it does not wait forever)."""
    try:
        await eventually(
            lambda: sample(get(port, "/metrics")[1], "atelier_queue_depth", kind="text") == 1,
            "a job in line",
            timeout=20,
        )
    except AssertionError:
        pytest.fail(f"no job was queued:\n{log.read_text()[-3000:]}")


async def test_slack_adapter_health_metrics_json_logs_and_sigterm_mid_post(
    slack: FakeSlack, redis_server: str, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    prefix = f"atelier-slack-ops-{uuid.uuid4().hex[:8]}:"
    app_port, port = _free_port(), _free_port()
    env = atelier_env(
        redis_server,
        prefix,
        None,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        ATELIER_SLACK_API_URL=slack.api_url,
        ATELIER_METRICS_PORT=str(port),
        ATELIER_LOG_FORMAT="json",
    )
    log = tmp_path / "slack.log"
    with log.open("w") as out:
        app = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            atelier_cmd("slack", "--port", str(app_port)),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    procs.append(app)
    await eventually(lambda: get(port, "/readyz") == (200, "ok\n"), "the Slack adapter ready")
    assert await aget(port, "/healthz") == (200, "ok\n")
    before = (await aget(port, "/metrics"))[1]
    assert sample(before, "atelier_posts_total", platform="slack", status="ok") == 0

    client = SignedClient(f"http://127.0.0.1:{app_port}/slack/events", SECRET, slack)
    redis = Redis.from_url(redis_server, decode_responses=True)
    queue = JobQueue(redis, keys=Keys(prefix))
    try:
        # One result, its post answered 429 once: posted, and both counted.
        slack.rate_limit("chat.update", channel="COPS", retry_after=1)
        status, body, _ = await client.command("/poem", "tide seed:1", channel="COPS")
        assert status == 200, body
        await queued(port, log)
        job = await answer_next_job(queue, "The tide counts to one.")
        await eventually(
            lambda: "counts to one" in str([block_text(m) for m in slack.in_channel("COPS")]),
            "the first result",
        )
        after = (await aget(port, "/metrics"))[1]
        assert sample(after, "atelier_posts_total", platform="slack", status="ok") == 1
        assert sample(after, "atelier_platform_rate_limited_total", platform="slack") == 1

        # A second result meets a 2-second 429; SIGTERM arrives while it waits.
        slack.rate_limit("chat.update", channel="CTERM", retry_after=2)
        status, body, _ = await client.command("/poem", "ebb seed:2", channel="CTERM")
        assert status == 200, body
        await queued(port, log)
        await answer_next_job(queue, "The ebb holds its breath.")
        await eventually(
            lambda: any(c.status == 429 for c in slack.find("chat.update", channel="CTERM")),
            "the post to be rate limited",
        )
        app.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(app.wait, 20) == 0, log.read_text()
        updates = [c.status for c in slack.find("chat.update", channel="CTERM")]
        assert updates == [429, 200], log.read_text()
        assert "holds its breath" in str([block_text(m) for m in slack.in_channel("CTERM")])
    finally:
        await redis.aclose()

    text = log.read_text()
    lines = json_lines(text)
    posted = [x for x in lines if x.get("job_id") == job.id and "posted" in x["message"]]
    assert posted and posted[0]["logger"] == "adapters.slack.delivery", lines
    assert "xoxb-test" not in text and SECRET not in text
