"""`atelier bench e2e`: N signed `/poem` commands at once through the Slack HTTP adapter, to
results posted in the channel.

Three real processes and a loopback Slack: `atelier slack --port` (the adapter, verifying
signatures), `atelier worker` (the text model), a Redis they share, and, in a thread of this
process, the loopback Slack Web API (`adapters.slack.loopback`, the one the tests use) that
answers the methods the adapter calls and counts them. This process plays Slack's side: it
signs each slash command as Slack does (HMAC-SHA256 over `v0:timestamp:body`), sends all N
at once, and times each acknowledgement (Slack gives an app 3 seconds). A command is
complete when the adapter has posted its result and marked it delivered (`delivered:{job}`
in Redis).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.benchmarks import latency_ms
from bot.desk.server_settings import SettingsStore
from bot.jobs import job_id_for
from bot.keys import Keys

from .loopback import LoopbackSlack, sign

TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
CHANNEL = "C0BENCH"
TOPICS = ("the sea at dusk", "a lantern in the rain", "an old orchard", "the first snow")


def signed_headers(secret: str, body: str, now: float | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and the v0 signature."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def command_body(
    text: str, *, user: str, trigger: str, response_url: str, command: str = "/poem"
) -> str:
    return urllib.parse.urlencode(
        {
            "team_id": TEAM,
            "team_domain": "bench",
            "channel_id": CHANNEL,
            "channel_name": "art",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0BENCH",
            "response_url": response_url,
            "trigger_id": trigger,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(
    redis_url: str, prefix: str, api_url: str, secret: str, model: str | None
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATELIER_", "SLACK_", "DISCORD_")) and "PROXY" not in k.upper()
    }
    env.update(
        ATELIER_REDIS_URL=redis_url,
        ATELIER_REDIS_PREFIX=prefix,
        ATELIER_SLACK_API_URL=api_url,
        ATELIER_LOG_LEVEL="WARNING",
        ATELIER_METRICS_PORT="0",  # two children on one host: no health port to share
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=secret,
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if model:
        env["ATELIER_TEXT_MODEL"] = model
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`atelier ARGS` as a child process, its output in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, stdout=out, stderr=out
        )


async def _wait_ready(
    url: str, redis: Redis, keys: Keys, procs: Sequence[subprocess.Popen[bytes]]
) -> None:
    """The adapter answers HTTP (401 to an unsigned request) and a worker has beaten."""
    deadline = time.monotonic() + 180
    async with aiohttp.ClientSession() as session:
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a bench process exited ({proc.returncode}): see its log")
            try:
                async with session.post(url, data=b"") as response:
                    http_up = response.status in (401, 403)
            except aiohttp.ClientError:
                http_up = False
            if http_up and await redis.zcount(keys.workers("text"), time.time(), "+inf"):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the adapter or the worker did not become ready in 180 s")
            await asyncio.sleep(0.2)


async def bench_e2e(
    *,
    redis_url: str,
    commands: int = 100,
    model: str | None = None,
    batch_size: int = 64,
    timeout_s: float = 600.0,
    log_dir: Path | None = None,
) -> dict[str, Any]:
    prefix = f"atelier-bench-{uuid.uuid4().hex[:8]}:"
    keys = Keys(prefix)
    secret = secrets.token_hex(16)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/slack/events"
    slack = LoopbackSlack(tokens=(TOKEN,), team=TEAM, bot_user="UBOT", bot_id="BBOT").start()
    env = _env(redis_url, prefix, slack.api_url, secret, model)
    logs = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    redis = Redis.from_url(redis_url, decode_responses=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_spawn(["slack", "--port", str(port)], env, logs / "atelier-bench-slack.log"))
        procs.append(
            _spawn(
                ["worker", "--batch-size", str(batch_size)], env, logs / "atelier-bench-worker.log"
            )
        )
        await _wait_ready(url, redis, keys, procs)
        # One workspace sends every command: lift its caps, so the bench measures the
        # adapter and the worker's batches, not the fairness limits (docs/reliability.md).
        workspace = SettingsStore(redis, keys=keys)
        await workspace.set("slack", TEAM, "server_max_running", "1000")
        await workspace.set("slack", TEAM, "server_jobs_per_minute", "6000")
        report = await _drive(url, secret, slack, redis, keys, commands, timeout_s)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        slack.stop()
        keys_left = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys_left), 500):
            await redis.delete(*keys_left[start : start + 500])
        await redis.aclose()
    return report | {"batch_size": batch_size, "model": model or "bundled poet"}


async def _drive(
    url: str,
    secret: str,
    slack: LoopbackSlack,
    redis: Redis,
    keys: Keys,
    commands: int,
    timeout_s: float,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    triggers = [f"bench-{run}-{i}" for i in range(commands)]
    job_ids = [job_id_for("slack", t) for t in triggers]
    acks: list[float] = [0.0] * commands
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            body = command_body(
                f"{TOPICS[i % len(TOPICS)]} seed:{i}",
                user=f"U{i:05d}",  # one member each: the per-member rate limit stays out of it
                trigger=triggers[i],
                response_url=f"{slack.url}/response/{i}",
            )
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=signed_headers(secret, body)) as r:
                await r.read()
                acks[i] = time.perf_counter() - sent
                statuses[r.status] += 1

        # One command first, as an adapter that has been up a while has served some: Bolt
        # checks the token (auth.test) on the first requests and caches it after.
        warm = command_body(
            "help",
            user="UWARM",
            trigger=f"bench-{run}-warm",
            response_url=f"{slack.url}/response/w",
            command="/atelier",
        )
        async with session.post(url, data=warm, headers=signed_headers(secret, warm)) as r:
            await r.read()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(commands)))
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(done) < commands and time.monotonic() < deadline:
        pending = [j for j in job_ids if j not in done]
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in pending:
                pipe.exists(keys.delivered(job_id))
            found = await pipe.execute()
        now = time.perf_counter() - started
        done.update({j: now for j, hit in zip(pending, found, strict=True) if hit})
        await asyncio.sleep(0.05)
    completions = list(done.values())
    return {
        "commands": commands,
        "statuses": {str(k): v for k, v in statuses.items()},
        "ack": latency_ms(acks),
        "acks_over_3s": sum(a > 3.0 for a in acks),
        "completed": len(done),
        "completion": latency_ms(completions),
        "all_done_s": round(max(completions, default=float("nan")), 3),
        "web_api_calls": dict(slack.tally()),
    }


def e2e_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "what": what,
            "p50 ms": report[what]["p50_ms"],
            "p99 ms": report[what]["p99_ms"],
            "max ms": report[what]["max_ms"],
        }
        for what in ("ack", "completion")
    ]
