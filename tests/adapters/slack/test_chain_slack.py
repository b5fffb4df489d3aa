# ruff: noqa: F811  (the module's stack fixture comes from the Slack adapter tests)
"""A thread that grows poem -> image -> poem (and a melody) through the Slack adapter as a
real process (real slack-bolt against the loopback Slack), a real worker with a tiny GPT-2
and a real `atelier worker --kinds image` drawing with the offline sketch renderer: the
buttons each result offers, parent links, credits, alt text on the upload, and a click
delivered twice that queues one job."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.commands.catalogue import MOOD
from tests.adapters.slack.test_slack import (  # noqa: F401 (fixture)
    Stack,
    _spawn,
    _wait,
    button_value,
    finished,
    labels,
    stack,
    until,
)
from tests.support.fake_slack import block_text

pytestmark = pytest.mark.timeout(150)
SKETCH = "made with atelier-sketch"


@pytest.fixture
def image_worker(stack: Stack) -> Iterator[subprocess.Popen[str]]:
    log = stack.logs["worker"].with_name("image-worker.log")
    proc = _spawn(stack.env, log, "worker", "--kinds", "image")
    try:
        _wait(
            lambda: bool(stack.redis.zcount(stack.keys.workers("image"), time.time(), "+inf")),
            "image worker ready",
            [proc],
            [log],
        )
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def by_command(stack: Stack, channel: str, command: str) -> list[dict[str, Any]]:
    return [j for j in stack.jobs_in(channel) if j["command"] == command]


async def test_illustrate_write_about_it_and_score_it_through_slack(
    stack: Stack, image_worker: subprocess.Popen[str]
) -> None:
    await stack.client.command("/poem", "a quiet harbour seed:7", channel="CCHAIN", user="U1")
    [poem] = await until(lambda: finished(stack, "CCHAIN"), "the poem", stack)
    assert labels(poem, "atelier_illustrate") == ["Illustrate"]
    assert labels(poem, "atelier_score") == ["Score it"]
    assert labels(poem, "atelier_write") == []
    [poem_job] = stack.jobs_in("CCHAIN")

    # U2 illustrates it; the click is delivered twice with the same trigger id.
    value = button_value(poem, "atelier_illustrate")
    await stack.client.action("atelier_illustrate", value, poem, user="U2", trigger="ill-1")
    await stack.client.action("atelier_illustrate", value, poem, user="U2", trigger="ill-1")
    [picture] = await until(lambda: finished(stack, "CCHAIN", SKETCH), "the picture", stack)
    [image_job] = by_command(stack, "CCHAIN", "image")  # one job for both deliveries
    assert image_job["parent_id"] == poem_job["id"]
    assert image_job["prompt"].startswith("a quiet harbour")
    assert image_job["prompt"].split(", ")[-1] in MOOD.suggestions  # the poem's mood
    assert picture["thread_ts"] == poem["ts"]
    assert "after poem by u1, asked by u2" in block_text(picture)
    assert labels(picture, "atelier_write") == ["Write about it"]
    assert labels(picture, "atelier_illustrate") == []
    # The PNG went up with its alt text (what was drawn, and the prompt), in the thread.
    await until(lambda: stack.fake.find("files.completeUploadExternal"), "the upload", stack)
    asked = [c.data.get("alt_txt") for c in stack.fake.find("files.getUploadURLExternal")]
    assert f"(asked: {image_job['prompt']})" in asked[0] and asked[0].startswith("A sketch of")

    # U3 writes about the picture: a poem about its alt text, crediting the chain.
    value = button_value(picture, "atelier_write")
    await stack.client.action("atelier_write", value, picture, user="U3", trigger="write-1")
    await until(lambda: len(finished(stack, "CCHAIN")) == 2, "the second poem", stack)
    [second] = [m for m in finished(stack, "CCHAIN") if m["ts"] != poem["ts"]]
    [second_job] = [j for j in by_command(stack, "CCHAIN", "poem") if j["parent_id"]]
    assert second_job["parent_id"] == image_job["id"]
    assert second_job["prompt"] == asked[0]  # the picture's alt text
    assert "after poem by u1 → image by u2, asked by u3" in block_text(second)

    # U3 scores the first poem: a melody job in a mood the melody command knows.
    value = button_value(poem, "atelier_score")
    await stack.client.action("atelier_score", value, poem, user="U3", trigger="score-1")
    [melody] = await until(lambda: by_command(stack, "CCHAIN", "melody"), "the melody", stack)
    assert melody["parent_id"] == poem_job["id"] and melody["options"]["mood"] in MOOD.suggestions
    assert json.dumps(melody["origin"]["user_id"]) == '"U3"'
