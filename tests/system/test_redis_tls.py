"""Redis over TLS with a password: a private `redis-server` with a certificate signed by a CA
made in the test; a worker and the console channel as real processes run a job through it.
A wrong password stops the worker at once, in words, without printing the password."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.conftest import atelier_env
from tests.support.private_redis import PrivateRedis, TlsFiles
from tests.system.test_processes import run_chat, spawn, wait_workers

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        shutil.which("redis-server") is None or shutil.which("openssl") is None,
        reason="needs redis-server (built with TLS) and openssl",
    ),
]
PASSWORD = "tls-test-Pa55word-7c1e"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path, password=PASSWORD, tls=TlsFiles(tmp_path)).start()
    yield server
    server.stop()


async def test_a_job_runs_end_to_end_over_tls_with_a_password(
    tls_redis: PrivateRedis,
    prefix: str,
    tiny_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    assert tls_redis.url.startswith("rediss://:") and "ssl_ca_certs=" in tls_redis.url
    env = atelier_env(tls_redis.url, prefix, tiny_gpt2)
    log = tmp_path / "worker.log"
    worker = spawn(procs, env, "worker", "--kinds", "text", log=log)
    client = Redis.from_url(tls_redis.url, decode_responses=True)
    try:
        await wait_workers(JobQueue(client, keys=Keys(prefix)), 1, worker, log)
    finally:
        await client.aclose()
    code, out = await asyncio.to_thread(run_chat, env, "/poem the sea seed:42\n", "chat")
    assert code == 0, out
    assert "— made with tiny-gpt2 (transformers) · seed 42" in out
    # The server really speaks TLS only: a plain connection to its port gets nowhere.
    plain = Redis(host="127.0.0.1", port=tls_redis.port, password=PASSWORD, socket_timeout=2)
    with pytest.raises(Exception):  # noqa: B017 (reset, timeout or protocol error: any)
        await plain.ping()
    await plain.aclose()
    assert PASSWORD not in log.read_text() and PASSWORD not in out


async def test_a_wrong_password_stops_the_worker_with_a_clear_error(
    tls_redis: PrivateRedis, prefix: str, tiny_gpt2: Path
) -> None:
    wrong = "not-the-Pa55word-91"
    env = atelier_env(tls_redis.url.replace(PASSWORD, wrong), prefix, tiny_gpt2)
    code, out = await asyncio.to_thread(run_chat, env, "", "worker", timeout=60)
    assert code == 2, out
    assert f"Redis at 127.0.0.1:{tls_redis.port} refused the password in ATELIER_REDIS_URL" in out
    assert wrong not in out and PASSWORD not in out and "Traceback" not in out


async def test_an_untrusted_certificate_is_a_clear_tls_error(
    tls_redis: PrivateRedis, prefix: str, tiny_gpt2: Path
) -> None:
    """Without the CA, the server's certificate does not verify: the error says what to add."""
    url = tls_redis.url.split("?", 1)[0]
    env = atelier_env(url, prefix, tiny_gpt2)
    code, out = await asyncio.to_thread(run_chat, env, "", "chat", timeout=150)
    assert code == 2, out
    assert "TLS to Redis at 127.0.0.1" in out and "ssl_ca_certs" in out
    assert PASSWORD not in out and "Traceback" not in out
