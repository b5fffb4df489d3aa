"""Files that come with results: the worker stores their bytes in Redis next to the result,
adapters read them back to upload. Base64 keeps them readable through the same decoding
Redis client every process uses."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Any

from bot.jobs import Attachment
from bot.keys import Keys

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 24 * 1024 * 1024  # under Discord's and Slack's upload limits for bots


async def store(
    redis: Any,
    keys: Keys,
    job_id: str,
    files: Sequence[tuple[str, str, bytes, str]],  # filename, content type, bytes, alt text
    *,
    ttl_s: int,
) -> tuple[Attachment, ...]:
    attachments = []
    async with redis.pipeline(transaction=False) as pipe:
        for n, (filename, content_type, data, description) in enumerate(files):
            if len(data) > MAX_FILE_BYTES:
                raise ValueError(f"{filename} is {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
            key = keys.artifact(job_id, n)
            pipe.set(key, base64.b64encode(data).decode("ascii"), ex=ttl_s)
            attachments.append(
                Attachment(
                    filename=filename,
                    content_type=content_type,
                    size=len(data),
                    key=key,
                    description=description,
                )
            )
        await pipe.execute()
    return tuple(attachments)


async def fetch(redis: Any, attachment: Attachment) -> bytes | None:
    """The file's bytes, or None once it expired (or was never stored)."""
    raw = await redis.get(attachment.key)
    if raw is None:
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == attachment.size else None


async def fetch_all(
    redis: Any, attachments: Sequence[Attachment]
) -> list[tuple[Attachment, bytes]]:
    """The files still there, in order; an expired one is left out (and logged)."""
    found = []
    for attachment in attachments:
        data = await fetch(redis, attachment)
        if data is None:
            log.warning("file %s (%s) has expired", attachment.filename, attachment.key)
            continue
        found.append((attachment, data))
    return found
