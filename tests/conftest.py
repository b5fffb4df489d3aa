"""Shared fixtures: a real Redis server, a fresh key prefix per test, tiny real models, and
helpers to run `atelier` as real processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from bot.keys import Keys
from bot.queue.streams import JobQueue

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
TEST_DB = 9  # a database of its own on the shared server, flushed per test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server(single_redis: str) -> str:
    """The Redis the tests run on (tests/cluster/ makes it a cluster)."""
    return single_redis


@pytest.fixture(scope="session")
def single_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single Redis: ATELIER_TEST_REDIS_URL, else 127.0.0.1:6379, else one we start."""
    url = os.environ.get("ATELIER_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{TEST_DB}")
    if _answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "No Redis server answers and redis-server is not installed "
            "(the README's test command installs it)."
        )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/{TEST_DB}"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def prefix() -> str:
    return f"atelier-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def redis_client(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def queue(redis_client: Redis, prefix: str) -> JobQueue:
    return JobQueue(redis_client, keys=Keys(prefix), visibility_timeout_s=2.0)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


@pytest.fixture(scope="session")
def endless_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that never emits end-of-text: every job runs to its token budget, so a test
    can kill a worker while it is surely mid-job."""
    from tests.support.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(
        tmp_path_factory.mktemp("models") / "endless-gpt2",
        layers=4,
        width=256,
        heads=4,
        n_positions=2048,
        stops=False,
    )


@pytest.fixture(scope="session")
def tiny_llama_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_models import build_tiny_llama_chat

    return build_tiny_llama_chat(tmp_path_factory.mktemp("models") / "tiny-llama-chat")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable Diffusion pipeline saved to a directory (diffusers, random weights)."""
    from tests.support.tiny_diffusion import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


def atelier_env(
    redis_url: str | None, prefix: str, model: Path | None, **extra: str
) -> dict[str, str]:
    """The environment for an `atelier` child process: no proxies, offline, our settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ATELIER_", "DISCORD_", "SLACK_")) and "PROXY" not in k.upper()
    }
    env.update(
        HF_HUB_OFFLINE="1",
        ATELIER_REDIS_PREFIX=prefix,
        ATELIER_LOG_LEVEL="INFO",
        ATELIER_METRICS_PORT="0",  # tests that probe /healthz or /metrics pick a free port
        ATELIER_WEB_PORT="0",  # and those of the web gallery too
        PYTHONUNBUFFERED="1",
        # The cento poet (the default) indexes only the corpus's first rows, cached apart.
        ATELIER_CENTO_LINES="20000",
        ATELIER_CACHE_DIR=str(Path(tempfile.gettempdir()) / "atelier-test-cache"),
    )
    if redis_url:
        env["ATELIER_REDIS_URL"] = redis_url
    if model is not None:
        env["ATELIER_TEXT_MODEL"] = str(model)
    env.update(extra)
    return env


def atelier_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed (by PID)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
