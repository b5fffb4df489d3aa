"""Slack's Block Kit limits, applied to the text as sent: after escaping, `&` is five
characters (`&amp;`), so a prompt well under our own limits can still make a section Slack
refuses. Pure functions: `clip` fits a text to a limit, `problems` says what Slack would
refuse in a message (slack_sdk's own validators, plus the text lengths they leave out).

The loopback Slack answers `invalid_blocks` when `problems` finds any, as Slack does.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block as SdkBlock

SECTION_TEXT = 3000  # a section's text (slack_sdk's SectionBlock.text_max_length)
TEXT_OBJECT = 3000  # any text object: a context element, a modal's labels
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ALT_TEXT = 2000
MAX_BLOCKS = 50  # per message
MESSAGE_TEXT = 40000  # chat.postMessage's `text`
ELLIPSIS = "…"

# What must not be cut in two: an entity (`&amp;`) or a link or mention (`<@U123>`).
_OPEN_ENTITY = re.compile(r"&[a-z#0-9]{0,6}$")
_OPEN_LINK = re.compile(r"<[^<>]{0,200}$")


def clip(text: str, limit: int) -> str:
    """`text` if it fits, else its start cut at a word (or at least whole entities and
    links) with an ellipsis, in at most `limit` characters."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    cut = safe_cut(text, room)
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    if space > room // 2:
        cut = space
    return text[:cut].rstrip() + ELLIPSIS


def clip_start(text: str, limit: int) -> str:
    """The end of `text` in at most `limit` characters: an ellipsis, then whole entities."""
    if len(text) <= limit:
        return text
    start = len(text) - (limit - len(ELLIPSIS))
    semi, amp = text.rfind(";", 0, start), text.rfind("&", 0, start)
    if amp > semi and start - amp < 8:  # `start` is inside `&amp;`: skip past it
        start = text.find(";", start) + 1
    return ELLIPSIS + text[start:]


def safe_cut(text: str, cut: int) -> int:
    """`cut`, or an earlier index, so that `text[:cut]` ends neither inside an entity nor
    inside a `<...>` link."""
    head = text[:cut]
    for pattern in (_OPEN_ENTITY, _OPEN_LINK):
        found = pattern.search(head)
        if found and found.start() > 0:
            head = head[: found.start()]
    return len(head)


def problems(blocks: list[dict[str, Any]]) -> list[str]:
    """What Slack would refuse in these blocks (empty: nothing). slack_sdk's validators run at
    every level (`to_dict` validates each object it converts)."""
    found = [f"{len(blocks)} blocks, over {MAX_BLOCKS}"] if len(blocks) > MAX_BLOCKS else []
    for n, raw in enumerate(blocks):
        try:
            block = SdkBlock.parse(raw)
            if block is None:
                found.append(f"block {n}: unknown type {raw.get('type')!r}")
                continue
            block.to_dict()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            found.append(f"block {n}: {exc}")
        found += [f"block {n}: {p}" for p in _text_problems(raw)]
    return found


def _text_problems(node: Any) -> list[str]:
    """Text objects Slack refuses that slack_sdk does not check: empty, or over 3,000."""
    out: list[str] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            size = len(node["text"])
            if size == 0 or size > TEXT_OBJECT:
                out.append(f"a {node['type']} text of {size} characters")
        for value in node.values():
            out += _text_problems(value)
    elif isinstance(node, list):
        for item in node:
            out += _text_problems(item)
    return out
