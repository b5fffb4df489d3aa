"""Stream entries read as bytes and decoded one by one.

Every client decodes replies (`decode_responses=True`), and a decoding client fails the
whole reply when one entry holds bytes that are not UTF-8: the read raises
UnicodeDecodeError after Redis has already handed the entries over, so the same read, the
re-read of pending entries and XAUTOCLAIM fail again on every try and nothing near that
entry is ever run or delivered. These reads ask for the raw reply instead (`NEVER_DECODE`)
and decode each entry alone: an entry that cannot be decoded comes back marked
`unreadable`, with its fields shown with backslash escapes, for its reader to dead-letter
by id and ack, while the entries around it go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.client import NEVER_DECODE

_RAW = {NEVER_DECODE: True}


@dataclass(frozen=True)
class Decoded:
    entry_id: str
    fields: dict[str, str]  # empty: the entry was deleted while pending
    unreadable: str = ""  # why the entry could not be read; '' when it could


def text(value: object) -> str:
    """A stream name, entry id or field name of a raw reply (always ASCII in practice)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return "" if value is None else str(value)


def decode_entry(entry_id: object, fields: Mapping[Any, Any] | None) -> Decoded:
    """One raw entry: its fields as text, or escaped and marked unreadable."""
    try:
        decoded = {_strict(k): _strict(v) for k, v in (fields or {}).items()}
    except UnicodeDecodeError as exc:
        shown = {text(k): text(v) for k, v in (fields or {}).items()}
        why = (
            f"unreadable entry {text(entry_id)}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        )
        return Decoded(text(entry_id), shown, why)
    return Decoded(text(entry_id), decoded)


def _strict(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _entries(items: Iterable[Any] | None) -> list[Decoded]:
    return [decode_entry(entry_id, fields) for entry_id, fields in items or [] if entry_id]


async def xreadgroup(
    redis: Any,
    group: str,
    consumer: str,
    streams: Mapping[str, str],
    *,
    count: int | None = None,
    block: int | None = None,
) -> list[tuple[str, list[Decoded]]]:
    """XREADGROUP: (stream, entries) per stream that had any."""
    args: list[Any] = ["XREADGROUP", "GROUP", group, consumer]
    if count is not None:
        args += ["COUNT", count]
    if block is not None:
        args += ["BLOCK", block]
    args += ["STREAMS", *streams.keys(), *streams.values()]
    reply = await redis.execute_command(*args, keys=list(streams), **_RAW)
    if isinstance(reply, Mapping):  # RESP3: {stream: [entries]}
        pairs = [(stream, value[0] if value else []) for stream, value in reply.items()]
    else:
        pairs = [(stream, items) for stream, items in reply or []]
    return [(text(stream), _entries(items)) for stream, items in pairs]


async def xautoclaim(
    redis: Any, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int
) -> list[Decoded]:
    """XAUTOCLAIM from the start of the stream: the entries taken over."""
    reply = await redis.execute_command(
        "XAUTOCLAIM", stream, group, consumer, min_idle_ms, "0-0", "COUNT", count, **_RAW
    )
    return _entries(reply[1])


async def xrange(
    redis: Any, stream: str, *, start: str = "-", end: str = "+", count: int | None = None
) -> list[Decoded]:
    args: list[Any] = ["XRANGE", stream, start, end]
    if count is not None:
        args += ["COUNT", count]
    return _entries(await redis.execute_command(*args, keys=[stream], **_RAW))
