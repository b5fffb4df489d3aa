"""JSON log lines: one object per line, the job a line is about, secrets blanked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from adapters.discord.logs import RedactSecrets
from bot.logs import JobFields, JsonFormatter, job_scope


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(JobFields())
    handler.addFilter(RedactSecrets("s3cret-token"))
    logger = logging.getLogger("atelier.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_inside_a_job_scope_names_the_job(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    logger.info("before")
    with job_scope("job-123", kind="text", worker="w1"):
        logger.warning("posting %s", "now")
    logger.info("after")
    before, inside, after = lines(out)
    assert set(before) == {"time", "level", "logger", "message"}
    assert inside["message"] == "posting now" and inside["level"] == "WARNING"
    assert (inside["job_id"], inside["kind"], inside["worker"]) == ("job-123", "text", "w1")
    assert inside["logger"] == "atelier.test.logs" and inside["time"].endswith("+00:00")
    assert "job_id" not in after


def test_secrets_are_blanked_in_messages_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    try:
        raise RuntimeError("refused s3cret-token")
    except RuntimeError:
        logger.exception("login with s3cret-token failed")
    [line] = lines(out)
    assert "s3cret-token" not in out.getvalue()
    assert "<hidden>" in line["message"] and "RuntimeError" in line["exc"]


async def test_concurrent_jobs_keep_their_own_ids(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured

    async def work(job_id: str) -> None:
        with job_scope(job_id):
            await asyncio.sleep(0.01)
            logger.info("done %s", job_id)

    await asyncio.gather(*(work(f"job-{n}") for n in range(5)))
    assert all(line["message"] == f"done {line['job_id']}" for line in lines(out))
    assert len(lines(out)) == 5
