"""Discord's documented limits on a message payload (the JSON a bot sends), as a checker:
`problems(payload)` lists every limit the payload breaks. The loopback fake answers such a
payload as Discord does (400, code 50035), and the property tests check payloads with it.

From discord.com/developers/docs: resources/message (content), resources/message#embed-object
(embed limits), interactions/message-components (rows, buttons, selects, custom ids).
"""

from __future__ import annotations

from typing import Any

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
ROWS = 5
PER_ROW = 5
CUSTOM_ID = 100
BUTTON_LABEL = 80
SELECT_OPTIONS = 25
OPTION_TEXT = 100  # a select option's label, value and description
ALT_TEXT = 1024  # an attachment's description
INVALID_FORM_BODY = 50035


def problems(payload: dict[str, Any]) -> list[str]:
    """Every limit `payload` breaks, in words ("" never: an empty list means it is valid)."""
    found: list[str] = []
    content = payload.get("content")
    if isinstance(content, str) and len(content) > CONTENT:
        found.append(f"content is {len(content)} characters (limit {CONTENT})")
    embeds = payload.get("embeds") or []
    if len(embeds) > EMBEDS:
        found.append(f"{len(embeds)} embeds (limit {EMBEDS})")
    total = 0
    for i, embed in enumerate(embeds):
        total += _embed(embed, f"embed {i}", found)
    if total > EMBED_TOTAL:
        found.append(f"embeds hold {total} characters together (limit {EMBED_TOTAL})")
    _components(payload.get("components") or [], found)
    for attachment in payload.get("attachments") or []:
        alt = attachment.get("description") or ""
        if len(alt) > ALT_TEXT:
            found.append(f"alt text of {attachment.get('filename')} is {len(alt)} characters")
    return found


def _embed(embed: dict[str, Any], where: str, found: list[str]) -> int:
    """Checks one embed; returns the characters it counts towards the 6,000."""
    texts = {
        "title": (embed.get("title") or "", TITLE),
        "description": (embed.get("description") or "", DESCRIPTION),
        "footer": ((embed.get("footer") or {}).get("text") or "", FOOTER),
        "author": ((embed.get("author") or {}).get("name") or "", AUTHOR),
    }
    fields = embed.get("fields") or []
    if len(fields) > FIELDS:
        found.append(f"{where} has {len(fields)} fields (limit {FIELDS})")
    for n, f in enumerate(fields):
        texts[f"field {n} name"] = (f.get("name") or "", FIELD_NAME)
        texts[f"field {n} value"] = (f.get("value") or "", FIELD_VALUE)
    for name, (text, limit) in texts.items():
        if len(text) > limit:
            found.append(f"{where} {name} is {len(text)} characters (limit {limit})")
    return sum(len(text) for text, _ in texts.values())


def _components(rows: list[dict[str, Any]], found: list[str]) -> None:
    if len(rows) > ROWS:
        found.append(f"{len(rows)} action rows (limit {ROWS})")
    for r, row in enumerate(rows):
        items = row.get("components") or []
        if len(items) > PER_ROW:
            found.append(f"row {r} has {len(items)} components (limit {PER_ROW})")
        for item in items:
            custom_id = item.get("custom_id") or ""
            if len(custom_id) > CUSTOM_ID:
                found.append(f"custom_id {custom_id[:20]}… is {len(custom_id)} characters")
            label = item.get("label") or ""
            if item.get("type") == 2 and len(label) > BUTTON_LABEL:
                found.append(f"button label {label[:20]}… is {len(label)} characters")
            options = item.get("options") or []
            if len(options) > SELECT_OPTIONS:
                found.append(f"a select has {len(options)} options (limit {SELECT_OPTIONS})")
            for option in options:
                for key in ("label", "value", "description"):
                    if len(option.get(key) or "") > OPTION_TEXT:
                        found.append(f"a select option's {key} is over {OPTION_TEXT}")
