"""`atelier web` and `atelier up` as real processes: each prints the gallery's address, the
pages answer there (a signed link made with the deployment's key opens the server's
gallery), requests are counted in /metrics, and SIGTERM stops `atelier web` cleanly."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.queue.streams import JobQueue
from bot.web.links import Links
from tests.conftest import _free_port, atelier_cmd, atelier_env
from tests.support.web_gallery import PLATFORM, SERVER, make_gallery
from tests.system.test_operations import eventually, get, sample

pytestmark = pytest.mark.timeout(180)
ADDRESS = re.compile(r"web gallery is at (http://127\.0\.0\.1:(\d+))")


def address_in(log: Path) -> re.Match[str] | None:
    return ADDRESS.search(log.read_text()) if log.exists() else None


async def test_atelier_web_serves_signed_pages_health_and_metrics(
    redis_server: str, prefix: str, queue: JobQueue, tmp_path: Path
) -> None:
    made = await make_gallery(queue)
    web_port, health_port = _free_port(), _free_port()
    env = atelier_env(
        redis_server,
        prefix,
        None,
        ATELIER_WEB_PORT=str(web_port),
        ATELIER_METRICS_PORT=str(health_port),
        ATELIER_WEB_SECRET="deployment key",
        ATELIER_WEB_URL="https://gallery.example",
    )
    log = tmp_path / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            atelier_cmd("web"), env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        await eventually(lambda: address_in(log) is not None, "the address printed", 60)
        found = address_in(log)
        assert found is not None and int(found.group(2)) == web_port
        links = Links(
            queue.redis,
            keys=queue.keys,
            secret=SecretStr("deployment key"),
            base_url="https://gallery.example",
        )
        path = (await links.signed_url(PLATFORM, SERVER)).removeprefix(links.base_url)
        status, html = await asyncio.to_thread(get, web_port, path)
        assert status == 200 and made.poem.id in html, html[:300]
        forged = Links(queue.redis, keys=queue.keys, secret=SecretStr("not the key"))
        bad = (await forged.signed_url(PLATFORM, SERVER)).removeprefix(forged.base_url)
        assert (await asyncio.to_thread(get, web_port, bad))[0] == 403
        assert await asyncio.to_thread(get, health_port, "/readyz") == (200, "ok\n")
        metrics = (await asyncio.to_thread(get, health_port, "/metrics"))[1]
        assert sample(metrics, "atelier_web_requests_total", status="200") == 1
        assert sample(metrics, "atelier_web_requests_total", status="403") == 1
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()
        assert path not in log.read_text()  # signed links stay out of the log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def test_atelier_up_starts_the_web_gallery_and_prints_its_address(
    prefix: str, tiny_gpt2: Path, tmp_path: Path
) -> None:
    web_port = _free_port()
    env = atelier_env(None, prefix, tiny_gpt2, ATELIER_WEB_PORT=str(web_port))
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
        await eventually(lambda: address_in(log) is not None, "the address printed", 90)
        status, html = await asyncio.to_thread(get, web_port, "/")
        assert status == 200 and "/gallery web" in html
        assert (await asyncio.to_thread(get, web_port, "/s/forged.1.x/"))[0] == 404
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the console ends, then everything else
        assert await asyncio.to_thread(proc.wait, 60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
