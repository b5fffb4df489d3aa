"""Redis settings that cannot work stop `atelier worker`, `atelier slack` and `atelier
discord` at once with one line that names the setting (exit 2, no traceback, never the
password); a Redis that does not answer is waited for ATELIER_REDIS_RECONNECT, then exit 1."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Origin, load_result
from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.conftest import atelier_env
from tests.support.admission import admit
from tests.support.private_redis import PrivateRedis, free_private_port
from tests.system.test_processes import run_chat, spawn, wait_workers
from tests.system.test_redis_restart import AofRedis

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]
PASSWORD = "settings-test-Pa55word-3b9d"
PLATFORM = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "settings-signing-secret",
    "DISCORD_TOKEN": "discord-test-token",
    "ATELIER_METRICS_PORT": "0",
}
PROCESSES = [("worker", "--kinds", "text"), ("slack", "--port", "1"), ("discord",)]


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path, password=PASSWORD).start()
    yield server
    server.stop()


async def run(url: str, *args: str, **extra: str) -> tuple[int, str, float]:
    env = atelier_env(url, "settings:", None, **PLATFORM, **extra)
    started = time.monotonic()
    code, out = await asyncio.to_thread(run_chat, env, "", *args, timeout=90)
    return code, out, time.monotonic() - started


def one_error_line(out: str) -> str:
    """The output has exactly one `error:` line and no traceback; that line."""
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    return errors[0]


@pytest.mark.parametrize("args", PROCESSES, ids=lambda a: a[0])
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:63x9/0", "ATELIER_REDIS_URL has a port that is not a number"),
        ("http://127.0.0.1:6379/0", "ATELIER_REDIS_URL must start with redis://"),
        ("127.0.0.1:6379", "ATELIER_REDIS_URL must start with redis://"),
    ],
)
async def test_a_malformed_url_is_one_line_and_exit_2(
    url: str, says: str, args: tuple[str, ...]
) -> None:
    code, out, _ = await run(url, *args)
    assert code == 2, out
    assert says in one_error_line(out)


@pytest.mark.parametrize("args", PROCESSES, ids=lambda a: a[0])
async def test_no_password_for_a_protected_redis_is_one_line_and_exit_2_at_once(
    protected: PrivateRedis, args: tuple[str, ...]
) -> None:
    code, out, took = await run(f"redis://127.0.0.1:{protected.port}/0", *args)
    assert code == 2, out
    assert f"Redis at 127.0.0.1:{protected.port} needs a password" in one_error_line(out)
    assert took < 20, took  # not the 90 s of retries it was


@pytest.mark.parametrize("args", PROCESSES[:2], ids=lambda a: a[0])
async def test_tls_to_a_plain_port_is_one_line_and_exit_2(
    protected: PrivateRedis, args: tuple[str, ...]
) -> None:
    code, out, _ = await run(f"rediss://:{PASSWORD}@127.0.0.1:{protected.port}/0", *args)
    assert code == 2, out
    line = one_error_line(out)
    assert "says rediss:// but Redis at 127.0.0.1" in line and "use redis://" in line, line
    assert PASSWORD not in out


@pytest.mark.parametrize("args", PROCESSES, ids=lambda a: a[0])
async def test_an_unreachable_redis_is_waited_for_the_window_then_exit_1(
    args: tuple[str, ...],
) -> None:
    port = free_private_port()  # nothing listens there
    code, out, took = await run(f"redis://127.0.0.1:{port}/0", *args, ATELIER_REDIS_RECONNECT="3")
    assert code == 1, out
    assert f"Redis at 127.0.0.1:{port} did not answer for 3 s" in one_error_line(out)
    assert 3 <= took < 30, took
    waiting = [line for line in out.splitlines() if "Redis does not answer" in line]
    assert len(waiting) == 1, out  # one line per 10 s while waiting, not one a second


@pytest.mark.chaos
async def test_a_running_worker_waits_out_a_killed_redis_quietly(
    tmp_path: Path, tiny_gpt2: Path, procs: list[subprocess.Popen[str]]
) -> None:
    server = AofRedis(tmp_path)
    server.start()
    try:
        log = tmp_path / "worker.log"
        env = atelier_env(server.url, "quiet:", tiny_gpt2, ATELIER_METRICS_PORT="0")
        worker = spawn(procs, env, "worker", "--kinds", "text", log=log)
        client = Redis.from_url(server.url, decode_responses=True)
        await wait_workers(JobQueue(client, keys=Keys("quiet:")), 1, worker, log)
        await client.aclose()
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(timeout=10)
        await asyncio.sleep(12.0)  # more than one log period
        assert worker.poll() is None, log.read_text()
        server.start()
        await asyncio.sleep(3.0)
        assert worker.poll() is None, log.read_text()
    finally:
        server.stop()
    text = log.read_text()
    assert "Traceback" not in text, text
    down = [line for line in text.splitlines() if "Redis does not answer" in line]
    assert 1 <= len(down) <= 8, text  # a few loops, one line per 10 s each
    assert "Redis answers again" in text, text


async def test_jobs_finishing_while_redis_is_down_log_no_traceback_and_are_answered_once(
    tmp_path: Path, endless_gpt2: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """Jobs of a server (their settings are read at the end) that finish while Redis is
    SIGKILLed: the worker says so in a few lines, not a traceback per job, and each job is
    answered once after the restart."""
    server = AofRedis(tmp_path)
    server.start()
    keys, route = Keys("busy:"), "console:busy"
    try:
        log = tmp_path / "worker.log"
        env = atelier_env(
            server.url, "busy:", endless_gpt2, ATELIER_VISIBILITY_TIMEOUT="5", OMP_NUM_THREADS="1"
        )
        worker = spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "4", log=log)
        client = Redis.from_url(server.url, decode_responses=True)
        queue = JobQueue(client, keys=keys)
        await wait_workers(queue, 1, worker, log)
        ids = []
        for n in range(4):
            origin = Origin(platform="console", route=route, guild_id="G1", delivery_id=f"busy-{n}")
            job = build_job(parse(f"/poem a busy quay {n} seed:{n}"), origin)
            await admit(queue, job)
            ids.append(job.id)
        deadline = time.monotonic() + 60
        while not await client.xlen(keys.results(route)):  # mid-job: progress is out
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.01)
        await client.aclose()
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(timeout=10)
        await asyncio.sleep(8.0)  # the jobs finish with Redis down
        server.start()
        client = Redis.from_url(server.url, decode_responses=True)
        deadline = time.monotonic() + 90
        while len(await _results(client, keys, route)) < len(ids):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
        assert await _results(client, keys, route) == dict.fromkeys(ids, 1)
        await client.aclose()
    finally:
        server.stop()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "finishing jobs: Redis does not answer" in text, text  # they did finish meanwhile


async def _results(client: Redis, keys: Keys, route: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for _, fields in await client.xrange(keys.results(route)):
        if fields["type"] == "result":
            job_id = load_result(fields["data"]).job_id
            seen[job_id] = seen.get(job_id, 0) + 1
    return seen
