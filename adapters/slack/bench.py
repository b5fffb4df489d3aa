"""`atelier bench e2e`: N signed `/poem` commands at once through the Slack HTTP adapter, to
results posted in the channel.

Three real processes and a loopback Slack: `atelier slack --port` (the adapter, verifying
signatures), `atelier worker` (the text model), a Redis they share, and, in a thread of this
process, a small Slack Web API on 127.0.0.1 that answers the methods the adapter calls and
counts them. This process plays Slack's side: it signs each slash command as Slack does
(HMAC-SHA256 over `v0:timestamp:body`), sends all N at once, and times each acknowledgement
(Slack gives an app 3 seconds). A command is complete when the adapter has posted its result
and marked it delivered (`delivered:{job}` in Redis).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot.benchmarks import latency_ms
from bot.desk.server_settings import SettingsStore
from bot.jobs import job_id_for
from bot.keys import Keys

TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
CHANNEL = "C0BENCH"
TOPICS = ("the sea at dusk", "a lantern in the rain", "an old orchard", "the first snow")


class LoopbackSlack:
    """The Web API methods the adapter calls on the way from a command to its result, served
    from a thread with its own event loop (so the client's load does not slow its answers)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.port = 0
        self._ts = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self) -> LoopbackSlack:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback Slack Web API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{n}", self._response)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] += 1
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT"}
            )
        if method == "chat.postMessage":
            data = await _payload(request)
            with self._lock:
                self._ts += 1
                ts = f"{1700000000 + self._ts}.000100"
            return web.json_response({"ok": True, "channel": data.get("channel"), "ts": ts})
        if method == "chat.update":
            data = await _payload(request)
            return web.json_response({"ok": True, "channel": data.get("channel"), "ts": data["ts"]})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": f"{time.time():.6f}"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    async def _response(self, request: web.Request) -> web.Response:
        self.calls["response_url"] += 1
        return web.json_response({"ok": True})


async def _payload(request: web.Request) -> dict[str, Any]:
    data: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        data.update(await request.json())
    elif request.method == "POST":
        data.update(await request.post())
    return data


def signed_headers(secret: str, body: str, now: float | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and the v0 signature."""
    timestamp = str(int(time.time() if now is None else now))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
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
    slack = LoopbackSlack().start()
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
        "web_api_calls": dict(slack.calls),
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
