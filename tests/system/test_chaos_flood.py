"""Chaos over both platforms: 200 commands (100 signed Slack slash commands to `atelier slack
--port`, 100 Discord interactions through the loopback gateway to `atelier discord`) sent
over about 20 s to two `atelier worker` processes, while Redis (AOF, fsync everysec) is
SIGKILLed for 10 s at about a third of the flood and one worker is SIGKILLed. Every command
must end with its result posted exactly once or a refusal the member saw; none silent.
Each command comes from its own member, under the default server limits (caps, lines,
rate limits): a refusal they make counts as a clear one. The figures it prints are the ones
in docs/reliability.md."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from bot.queue.streams import QUEUE_FULL
from tests.adapters.discord.test_discord_adapter import Adapter, start_adapter
from tests.conftest import _free_port, atelier_env
from tests.support.fake_discord import FakeDiscord, FakeUser
from tests.support.fake_slack import FakeSlack, SignedClient
from tests.system.test_chaos import _answers
from tests.system.test_processes import spawn
from tests.system.test_redis_restart import AofRedis

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]
SECRET = "flood-signing-secret-0123456789"
PER_PLATFORM = 100
SEND_OVER_S = 20.0
OUTAGE_S = 10.0
FINISHED = "made with tiny-gpt2"
TAG = re.compile(r"tide (\d+)\b")
# What a member is shown when a command is not run, by kind (first match wins): the held
# command given up on (render.gave_up_text), a full queue, the per-member cap and a rate
# limit (bot/queue/fairness.py, limits.py); any other "Try again" is counted as "other".
REFUSALS = {
    "gave up": "Not queued: the queue did not come back",
    "queue full": QUEUE_FULL,
    "member cap": "jobs in progress here",
    "rate limit": "jobs faster than",
    "other": "Try again",
}
HELD = "queue is reconnecting"
RECLAIMED = re.compile(r"reclaimed (\d+) text job")


def slack_texts(fake: FakeSlack, acks: dict[int, str]) -> dict[int, list[str]]:
    """Command number -> what Slack was sent about it (the slash command's answer, then
    every Web API and response_url call that names its prompt)."""
    seen: dict[int, list[str]] = {n: [body] for n, body in acks.items()}
    for call in fake.calls:
        text = json.dumps(call.data)
        for n in {int(m) for m in TAG.findall(text)}:
            seen.setdefault(n, []).append(text)
    return seen


def discord_texts(fake: FakeDiscord, sent: dict[int, int]) -> dict[int, list[str]]:
    """Command number -> what Discord was sent for its interaction (callback, edits of the
    original, follow-ups: every REST call whose path carries the interaction's id or token)."""
    refs = {n: (str(iid), fake.interactions[iid].token) for n, iid in sent.items()}
    seen: dict[int, list[str]] = {n: [] for n in sent}
    for call in fake.calls:
        if call.method not in ("POST", "PATCH") or not call.json:
            continue
        for n, (iid, token) in refs.items():
            if f"/{iid}/" in call.path or f"/{token}" in call.path:
                seen[n].append(json.dumps(call.json))
    return seen


def account(
    texts: dict[int, list[str]], numbers: range
) -> tuple[Counter[str], list[int], list[int]]:
    """Per command: 'result' (one result post exactly), a refusal's kind, silent or
    duplicated; and 'held' counts those that were told the queue is reconnecting."""
    kinds: Counter[str] = Counter()
    silent, duplicated = [], []
    for n in numbers:
        seen = texts.get(n, [])
        results = sum(1 for t in seen if FINISHED in t)
        refused = [k for k, marker in REFUSALS.items() if any(marker in t for t in seen)]
        kinds["held"] += any(HELD in t for t in seen)
        if results == 1:
            kinds["result"] += 1
        elif results > 1:
            duplicated.append(n)
        elif refused:
            kinds[refused[0]] += 1
        else:
            silent.append(n)
    return kinds, silent, duplicated


class Flood:
    """The five processes, the two fakes and Redis; the flood with its kills; the tally."""

    def __init__(self, tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
        self.tmp_path, self.procs = tmp_path, procs
        self.aof = AofRedis(tmp_path, fsync="everysec")
        self.slack = FakeSlack()
        self.discord = FakeDiscord()
        self.adapters: list[Adapter] = []
        self.workers: list[subprocess.Popen[str]] = []
        self.logs: dict[str, Path] = {}
        self.acks: dict[int, str] = {}  # Slack command number -> the slash command's answer
        self.sent: dict[int, int] = {}  # Discord command number -> its interaction id
        self.restarted_at = 0.0

    async def start(self, model: Path) -> None:
        self.aof.start()
        self.slack.start()
        await self.discord.start()
        prefix = f"flood-{uuid.uuid4().hex[:8]}:"
        common = dict(
            ATELIER_HEARTBEAT="0.5",
            ATELIER_VISIBILITY_TIMEOUT="5",
            ATELIER_REDIS_RECONNECT="60",
            OMP_NUM_THREADS="1",
        )
        port = _free_port()
        env = atelier_env(
            self.aof.url,
            prefix,
            model,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET=SECRET,
            ATELIER_SLACK_API_URL=self.slack.api_url,
            **common,
        )
        self.logs["slack"] = self.tmp_path / "slack.log"
        spawn(self.procs, env, "slack", "--port", str(port), log=self.logs["slack"])
        self.logs["discord"] = self.tmp_path / "discord.log"
        await start_adapter(
            self.adapters, self.discord, self.aof.url, prefix, self.logs["discord"], **common
        )
        for name in ("a", "b"):
            self.logs[name] = self.tmp_path / f"worker-{name}.log"
            worker_env = {**env, "ATELIER_WORKER_ID": f"flood-{name}"}
            args = ("worker", "--kinds", "text", "--batch-size", "8")
            self.workers.append(spawn(self.procs, worker_env, *args, log=self.logs[name]))
        self.client = SignedClient(f"http://127.0.0.1:{port}/slack/events", SECRET, self.slack)
        deadline = time.monotonic() + 90
        while not (
            await _answers(self.client)
            and "poem" in self.discord.commands
            and all("ready for text" in self.logs[w].read_text() for w in ("a", "b"))
        ):
            assert time.monotonic() < deadline, self.tails()
            await asyncio.sleep(0.2)

    async def slack_command(self, n: int) -> None:
        await asyncio.sleep(n * SEND_OVER_S / PER_PLATFORM)
        status, body, _ = await self.client.command(
            "/poem", f"tide {n} seed:{n}", channel="CFLOOD", user=f"UF{n}"
        )
        assert status == 200, (n, status, body)
        self.acks[n] = body

    async def discord_command(self, n: int) -> None:
        await asyncio.sleep((n - PER_PLATFORM + 0.5) * SEND_OVER_S / PER_PLATFORM)
        user = FakeUser(900_000_000_000_000_000 + n, f"member{n}")
        payload = self.discord.slash("poem", user, {"prompt": f"tide {n}", "seed": n})
        self.sent[n] = int(payload["id"])
        await self.discord.dispatch(payload)

    async def chaos(self) -> None:
        await asyncio.sleep(SEND_OVER_S / 4)
        os.kill(self.workers[0].pid, signal.SIGKILL)  # holding jobs: it reads batches of 8
        await asyncio.sleep(SEND_OVER_S / 3 - SEND_OVER_S / 4)
        assert self.aof.proc is not None
        self.aof.proc.kill()  # SIGKILL: the AOF, fsynced every second, is all that is left
        self.aof.proc.wait(timeout=10)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(self.aof.start)
        self.restarted_at = time.monotonic()

    def tally(self) -> tuple[Counter[str], list[int], list[int]]:
        s = account(slack_texts(self.slack, self.acks), range(PER_PLATFORM))
        d = account(discord_texts(self.discord, self.sent), range(PER_PLATFORM, 2 * PER_PLATFORM))
        return s[0] + d[0], s[1] + d[1], s[2] + d[2]

    async def drained(self, timeout: float = 120) -> float:
        """Seconds from Redis's restart to the last command's answer (bounded)."""
        deadline = time.monotonic() + timeout
        last_change, previous = time.monotonic(), None
        while True:
            kinds, silent, _ = self.tally()
            if (kinds, silent) != previous:
                previous, last_change = (kinds, silent), time.monotonic()
            if not silent or time.monotonic() > deadline:
                return last_change - self.restarted_at
            await asyncio.sleep(1.0)

    def tails(self) -> str:
        return "\n".join(
            f"--- {name}:\n{log.read_text()[-2500:]}" for name, log in self.logs.items()
        )

    async def stop(self) -> None:
        running = [*self.procs, *(a.proc for a in self.adapters if a.proc is not None)]
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await self.discord.stop()
        self.slack.stop()
        self.aof.stop()


async def test_a_flood_over_both_platforms_survives_redis_and_worker_kills(
    tiny_gpt2: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    flood = Flood(tmp_path, procs)
    try:
        await flood.start(tiny_gpt2)
        started = time.monotonic()
        await asyncio.gather(
            flood.chaos(),
            *(flood.slack_command(n) for n in range(PER_PLATFORM)),
            *(flood.discord_command(n) for n in range(PER_PLATFORM, 2 * PER_PLATFORM)),
        )
        sent_s = time.monotonic() - started
        drained_s = await flood.drained()
        await asyncio.sleep(3.0)  # room for a duplicate to show up, if there were one
        kinds, silent, duplicated = flood.tally()
        logs = flood.logs
        print(
            f"\nflood: {2 * PER_PLATFORM} commands sent in {sent_s:.1f} s; {dict(kinds)}; "
            f"silent {len(silent)} {silent[:20]}; duplicated {len(duplicated)} {duplicated[:20]}; "
            f"last change {drained_s:.1f} s after Redis came back; worker b took over "
            f"{sum(map(int, RECLAIMED.findall(logs['b'].read_text())))} job(s)"
        )
        assert silent == [], flood.tails()
        assert duplicated == []
        # One message per Slack command: a held one becomes the job's, never a second post.
        posts = Counter(
            n
            for call in flood.slack.find("chat.postMessage")
            for n in {int(m) for m in TAG.findall(json.dumps(call.data))}
        )
        assert [n for n, times in posts.items() if times > 1] == [], posts
        assert sum(kinds.values()) - kinds["held"] == 2 * PER_PLATFORM
        # The chaos hit: commands arrived while Redis was down, and the killed worker's jobs
        # were taken over by the other one.
        assert kinds["held"] > 0, dict(kinds)
        assert "left by a dead worker" in logs["b"].read_text(), logs["b"].read_text()[-3000:]
        assert flood.workers[1].poll() is None, logs["b"].read_text()[-3000:]
        for name, log in logs.items():  # the outage is told in lines, not tracebacks
            assert "Traceback" not in log.read_text(), (name, log.read_text()[-3000:])
    finally:
        await flood.stop()
