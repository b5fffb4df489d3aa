"""`atelier` as real processes: chat + worker on a real Redis, `atelier up` on the embedded
store, a worker killed with SIGKILL mid-job, SIGTERM, and the missing-model error."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import JobKind, Origin, load_result
from bot.keys import Keys
from bot.queue.streams import JobQueue
from tests.conftest import atelier_cmd, atelier_env
from tests.support.admission import admit

pytestmark = pytest.mark.timeout(180)


def spawn(
    procs: list[subprocess.Popen[str]], env: dict[str, str], *args: str, log: Path
) -> subprocess.Popen[str]:
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            atelier_cmd(*args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    procs.append(proc)
    return proc


async def wait_workers(queue: JobQueue, n: int, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while await queue.workers_alive(JobKind.TEXT) < n:
        assert proc.poll() is None, f"worker exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"worker never became ready:\n{log.read_text()}"
        await asyncio.sleep(0.1)


def run_chat(
    env: dict[str, str], lines: str, *args: str, timeout: float = 120, cwd: Path | None = None
) -> tuple[int, str]:
    done = subprocess.run(
        atelier_cmd(*args),
        env=env,
        input=lines,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return done.returncode, done.stdout + done.stderr


async def test_chat_and_worker_processes_on_a_real_redis(
    redis_server: str,
    redis_client: Redis,
    prefix: str,
    tiny_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    env = atelier_env(redis_server, prefix, tiny_gpt2)
    log = tmp_path / "worker.log"
    worker = spawn(procs, env, "worker", "--kinds", "text", "--batch-size", "8", log=log)
    await wait_workers(JobQueue(redis_client, keys=Keys(prefix)), 1, worker, log)
    code, out = await asyncio.to_thread(
        run_chat, env, "/poem the sea seed:42 form:haiku\n/poem colour:red\n/help poem\n", "chat"
    )
    assert code == 0, out
    assert "[1] generating now, 1 worker online" in out or "[1] queued, #1 in line" in out
    assert "[1] /poem the sea" in out
    assert "— made with tiny-gpt2 (transformers) · seed 42 · form=haiku" in out
    assert "error: Unknown option 'colour' for /poem" in out
    assert "/poem: Write a poem" in out  # /help poem
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, log.read_text()
    assert "stopped" in log.read_text()


async def test_up_runs_on_the_embedded_store_without_redis(
    prefix: str, tiny_gpt2: Path, tmp_path: Path
) -> None:
    env = atelier_env(None, prefix, tiny_gpt2)
    code, out = await asyncio.to_thread(
        run_chat,
        env,
        "/story a fox finds a key length:short seed:3\n/image a cat size:512x512 seed:5\n",
        "up",
        cwd=tmp_path,
    )
    assert code == 0, out
    assert "[1] /story a fox finds a key" in out
    assert "— made with tiny-gpt2 (transformers) · seed 3 · genre=any" in out
    # Images too, from the offline sketch renderer, saved where the terminal says.
    assert "[2] /image a cat" in out
    assert "made with atelier-sketch (offline sketch renderer) · seed 5" in out
    saved = list((tmp_path / "atelier-output").glob("*.png"))
    assert len(saved) == 1 and f"saved atelier-output/{saved[0].name}" in out


async def test_up_with_no_settings_at_all_runs_the_cento_poet(prefix: str) -> None:
    """The README's first command: no Redis, no tokens, no model setting, no network."""
    code, out = await asyncio.to_thread(
        run_chat,
        atelier_env(None, prefix, None),
        "/poem the sea at dusk form:haiku seed:42\n",
        "up",
    )
    assert code == 0, out
    assert "[1] /poem the sea at dusk" in out
    assert "— made with cento (Gutenberg Poetry Corpus lines) · seed 42 · form=haiku" in out
    assert "haiku form" in out  # the result says whether the form was met
    assert "Gutenberg Poetry Corpus, line " in out  # and where each line comes from


def test_without_any_text_model_the_error_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import worker.models
    from bot.cli.run import MISSING_TEXT_MODEL
    from bot.cli.run import text_model as _text_model
    from bot.config import Settings
    from bot.errors import ConfigError

    monkeypatch.setattr(worker.models, "BUNDLED_POET", tmp_path / "not-installed")
    with pytest.raises(ConfigError) as err:
        _text_model(Settings(ATELIER_TEXT_MODEL=None))
    assert str(err.value) == MISSING_TEXT_MODEL and "ATELIER_TEXT_MODEL" in MISSING_TEXT_MODEL
    assert _text_model(Settings(ATELIER_TEXT_MODEL="./mine")) == "./mine"


async def test_up_with_a_model_that_does_not_load_says_so(prefix: str, tmp_path: Path) -> None:
    env = atelier_env(None, prefix, tmp_path / "no-such-model")
    code, out = await asyncio.to_thread(run_chat, env, "/poem x\n", "up")
    assert code == 2, out
    assert "Could not load the text model" in out and "no-such-model" in out
    assert "Traceback" not in out


async def test_worker_without_redis_url_explains(prefix: str, tiny_gpt2: Path) -> None:
    code, out = await asyncio.to_thread(
        run_chat, atelier_env(None, prefix, tiny_gpt2), "", "worker"
    )
    assert code == 2 and "ATELIER_REDIS_URL" in out and "Traceback" not in out


async def test_job_of_a_worker_killed_mid_job_is_reclaimed_and_answered_once(
    redis_server: str,
    redis_client: Redis,
    prefix: str,
    endless_gpt2: Path,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    env = atelier_env(
        redis_server, prefix, endless_gpt2, ATELIER_VISIBILITY_TIMEOUT="2", ATELIER_HEARTBEAT="0.5"
    )
    queue = JobQueue(redis_client, keys=Keys(prefix))
    route = "console:kill-test"
    job = build_job(
        parse("/story a long road length:long seed:11"),
        Origin(platform="console", route=route, delivery_id="kill-1"),
    )
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = spawn(procs, env, "worker", "--worker-id", "first", log=first_log)
    await wait_workers(queue, 1, first, first_log)
    await admit(queue, job)
    # Mid-job for sure: the job reports progress and the model never stops before its budget.
    deadline = time.monotonic() + 60
    while not await redis_client.xlen(queue.keys.results(route)):
        assert time.monotonic() < deadline, first_log.read_text()
        await asyncio.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert (await queue.state(job.id))["state"] == "running"

    second = spawn(procs, env, "worker", "--worker-id", "second", log=second_log)
    deadline = time.monotonic() + 120
    results: list[dict[str, str]] = []
    while not results:
        assert second.poll() is None, second_log.read_text()
        assert time.monotonic() < deadline, second_log.read_text()
        await asyncio.sleep(0.2)
        entries = await redis_client.xrange(queue.keys.results(route))
        results = [f for _, f in entries if f["type"] == "result"]
    await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
    entries = await redis_client.xrange(queue.keys.results(route))
    results = [f for _, f in entries if f["type"] == "result"]
    assert len(results) == 1
    result = load_result(results[0]["data"])
    assert result.ok and result.attempts == 2
    assert result.provenance is not None and result.provenance.worker == "second"
    assert "reclaimed 1 text job" in second_log.read_text()
