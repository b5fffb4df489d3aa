"""Operations of `atelier worker` as a real process: /healthz, /readyz (ready, and not ready
while its Redis is down), /metrics that count a job, JSON log lines that name the job, and
SIGTERM; plus the health server's own answers in process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.health import Health, HealthServer
from bot.jobs import Origin
from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.conftest import _free_port, atelier_cmd, atelier_env
from tests.support.admission import admit
from tests.support.private_redis import PrivateRedis
from tests.system.test_processes import spawn, wait_workers

pytestmark = pytest.mark.timeout(180)


def get(port: int, path: str) -> tuple[int, str]:
    """A GET on the process's health port: (status, body); status 0 when nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError:
        return 0, "not listening"


async def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.2)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when it is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}}" if want else name
    for line in metrics.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def json_lines(text: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_worker_health_readiness_metrics_json_logs_and_sigterm(
    tmp_path: Path, prefix: str, tiny_gpt2: Path, procs: list[subprocess.Popen[str]]
) -> None:
    server = PrivateRedis(tmp_path).start()
    try:
        port = _free_port()
        env = atelier_env(
            server.url, prefix, tiny_gpt2, ATELIER_METRICS_PORT=str(port), ATELIER_LOG_FORMAT="json"
        )
        log = tmp_path / "worker.log"
        worker = spawn(procs, env, "worker", "--kinds", "text", "--worker-id", "w1", log=log)
        client = Redis.from_url(server.url, decode_responses=True)
        queue = JobQueue(client, keys=Keys(prefix))
        await wait_workers(queue, 1, worker, log)
        assert get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/readyz") == (200, "ok\n")
        _, before = get(port, "/metrics")
        assert sample(before, "atelier_workers_alive", kind="text") == 1
        assert sample(before, "atelier_jobs_finished_total", kind="text", status="ok") == 0
        assert sample(before, "atelier_redis_up") == 1

        job = build_job(
            parse("/poem the sea seed:42"),
            Origin(platform="console", route="console:ops", delivery_id="ops-1"),
        )
        await admit(queue, job)
        deadline = time.monotonic() + 60
        while (await queue.state(job.id)).get("state") != "done":
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        _, after = get(port, "/metrics")
        assert sample(after, "atelier_jobs_finished_total", kind="text", status="ok") == 1
        assert sample(after, "atelier_job_latency_seconds_count", kind="text") == 1
        assert sample(after, "atelier_generated_items_total", kind="text") == 1
        assert sample(after, "atelier_generation_items_per_second", kind="text") > 0
        assert sample(after, "atelier_queue_depth", kind="text") == 0
        await client.aclose()

        # Every log line is one JSON object; the job's lines carry its id, kind and worker.
        lines = json_lines(log.read_text())
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        done = [x for x in lines if x.get("job_id") == job.id and "done" in x["message"]]
        assert done and done[0]["kind"] == "text" and done[0]["worker"] == "w1", lines
        assert done[0]["logger"] == "worker.loop" and done[0]["level"] == "INFO"

        # Redis goes away: alive but not ready, with the reason; ready again once it is back.
        server.stop()
        status, body = get(port, "/readyz")
        assert status == 503 and "Redis does not answer" in body
        assert get(port, "/healthz") == (200, "ok\n")
        assert sample(get(port, "/metrics")[1], "atelier_redis_up") == 0
        server.start()
        await eventually(lambda: get(port, "/readyz")[0] == 200, "ready again")

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        server.stop()


async def test_health_server_answers_not_ready_and_unknown_paths(redis_server: str) -> None:
    client = Redis.from_url(redis_server, decode_responses=True)
    health = Health(JobQueue(client, keys=Keys("atelier-test-health:")))
    loading = True
    health.ready_when(lambda: "the worker is loading its models" if loading else None)
    port = _free_port()
    server = await HealthServer(health, host="127.0.0.1", port=port).start()
    try:
        assert await asyncio.to_thread(get, port, "/healthz") == (200, "ok\n")
        status, body = await asyncio.to_thread(get, port, "/readyz")
        assert (status, body) == (503, "the worker is loading its models\n")
        loading = False
        assert await asyncio.to_thread(get, port, "/readyz") == (200, "ok\n")
        status, body = await asyncio.to_thread(get, port, "/nope")
        assert status == 404 and "/healthz" in body
        # A second server on the same port does not start, and says what to set.
        other = await HealthServer(health, host="127.0.0.1", port=port).start()
        assert other._server is None
    finally:
        await server.close()
        await client.aclose()


async def test_up_serves_health_and_metrics_too(
    prefix: str, tiny_gpt2: Path, tmp_path: Path
) -> None:
    """`atelier up` (embedded store, console): one health port for the worker inside it."""
    port = _free_port()
    env = atelier_env(None, prefix, tiny_gpt2, ATELIER_METRICS_PORT=str(port))
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            atelier_cmd("up"),
            env=env,
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        await eventually(lambda: get(port, "/readyz") == (200, "ok\n"), "atelier up ready", 90)
        metrics = get(port, "/metrics")[1]
        assert sample(metrics, "atelier_workers_alive", kind="text") == 1
        assert sample(metrics, "atelier_redis_up") == 1
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the console ends, then the worker
        assert await asyncio.to_thread(proc.wait, 60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
