"""Block Kit rendering for Slack. Pure functions: messages in, blocks (dicts) out.

Everything that did not come from Atelier itself (generated text, prompts, names) goes
through `escape`, so a model that writes `<!channel>` or `<@U123>` shows those characters
instead of pinging anyone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from adapters.slack.limits import (
    BUTTON_TEXT,
    MAX_BLOCKS,
    SECTION_TEXT,
    TEXT_OBJECT,
    clip,
    clip_start,
    safe_cut,
)
from bot.commands.render import Message
from bot.community.brainstorm import Idea, Session, ranking
from bot.replies import Action, result_actions

Block = dict[str, Any]
SECTION_CHARS = 2900  # a body's chunks: Slack allows 3,000 characters in a section's text
FALLBACK_CHARS = 3000  # the notification text beside the blocks
TOPIC_CHARS = 2000  # a topic or title inside a heading, as sent (escaped)

# Button action ids: `atelier_<action>` carries a job id; `bs_<what>` a brainstorm.
RESULT_ACTION = "atelier_{}"
VOTE, EXPAND, ADD_IDEA, WRAP_UP = "bs_vote", "bs_expand", "bs_add", "bs_wrap"
ADD_IDEA_VIEW, REMIX_VIEW = "bs_add_idea", "atelier_remix_view"
TEXT_INPUT = "text"
CHAIN_LABELS = {
    Action.ILLUSTRATE: "Illustrate",
    Action.SCORE: "Score it",
    Action.WRITE: "Write about it",
}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_CHANNEL_REF = re.compile(r"&lt;#([CG][A-Z0-9]+)&gt;")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape(text: str) -> str:
    """Slack's three control characters for mrkdwn and plain message text (and no ASCII
    control characters, which a small model can emit)."""
    text = _CONTROL.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def reply_text(text: str) -> str:
    """A front-desk reply (our words around the person's): escaped, but the channel
    references it names (`<#C123>`) shown as links."""
    return _CHANNEL_REF.sub(r"<#\1>", escape(text))


def plain_reply(text: str) -> str:
    """A reply as a message's `text` (beside its blocks), within the notification's limit."""
    return clip(reply_text(text), FALLBACK_CHARS)


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Chunks of at most `limit` characters, cut at line breaks where possible, else at
    spaces, else anywhere. Nothing is dropped: joined back they hold all of `text`."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = safe_cut(rest, limit) or limit
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def section(text: str) -> Block:
    """A section of mrkdwn as sent (escaped already), cut to Slack's 3,000 if need be."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}


def bold_section(text: str) -> Block:
    """A heading: `text` (not escaped yet) in bold, cut so the closing `*` stays."""
    return section(f"*{clip(escape(text), SECTION_TEXT - 2)}*")


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, TEXT_OBJECT)}]}


def footer_context(text: str) -> list[Block]:
    """A context line of `text` (not escaped yet), or nothing when it would be empty."""
    shown = escape(text)
    return [context(shown)] if shown.strip() else []


def button(
    label: str, action_id: str, value: str, *, style: str = "", confirm: Block | None = None
) -> Block:
    item: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        item["style"] = style
    if confirm:
        item["confirm"] = confirm
    return item


def body_sections(body: str, room: int) -> list[Block]:
    """The text as sections (escaped), at most `room` of them; if it would need more, the
    last one says how much is not shown rather than cutting it silently."""
    text = escape(body)
    if not text.strip():
        return []  # Slack refuses a section with no text (control characters are dropped)
    chunks = split_text(text)
    if len(chunks) > room:
        hidden = sum(len(c) for c in chunks[room - 1 :])
        chunks = [*chunks[: room - 1], f"_… {hidden} more characters did not fit in one message._"]
    return [section(c) for c in chunks]


def fallback(title: str, body: str = "") -> str:
    return clip(escape(f"{title}\n{body}".strip()), FALLBACK_CHARS)


# Jobs ----------------------------------------------------------------------------------
def status_blocks(title: str, status: str, partial: str = "") -> list[Block]:
    """A job's message while it waits or runs: its title, the status, the text so far."""
    blocks = [bold_section(title), context(escape(status))]
    if partial.strip():
        tail = clip_start(escape(partial.strip()[-1500:]), SECTION_CHARS)
        blocks.insert(1, section(f"_{tail}_" if "\n" not in tail else tail))
    return blocks


def result_blocks(
    message: Message, job_id: str, requester: str = "", *, command: str = "", credit: str = ""
) -> list[Block]:
    """A finished piece: title, text section(s), provenance, and its buttons (those a
    result of `command` offers). `credit`: a chain piece's credit line (`bot.commands.chain`), which
    names the requester itself."""
    if message.error:
        return [bold_section(message.title), section(f":warning: {escape(message.body)}")]
    asked = credit or (f"asked by {requester}" if requester else "")
    footer = message.footer + (f" · {asked}" if asked else "")
    blocks = [bold_section(message.title)]
    blocks += body_sections(message.body, MAX_BLOCKS - 3)
    blocks += footer_context(footer)
    elements = result_buttons(job_id, command)
    blocks.append({"type": "actions", "block_id": "result", "elements": elements})
    return blocks


def result_buttons(job_id: str, command: str = "") -> list[Block]:
    confirm = {
        "title": {"type": "plain_text", "text": "Delete this piece?"},
        "text": {"type": "plain_text", "text": "It is removed from the channel for everyone."},
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep"},
    }
    return [
        button("Regenerate", RESULT_ACTION.format(Action.REGENERATE), job_id),
        button("Variations", RESULT_ACTION.format(Action.VARIATIONS), job_id),
        button("Remix", RESULT_ACTION.format(Action.REMIX), job_id),
        button(
            "Delete", RESULT_ACTION.format(Action.DELETE), job_id, style="danger", confirm=confirm
        ),
        *(
            button(CHAIN_LABELS[action], RESULT_ACTION.format(action), job_id)
            for action in result_actions(command)
            if action in CHAIN_LABELS
        ),
    ]


def text_modal(
    callback_id: str, title: str, label: str, *, initial: str = "", hint: str = "", meta: Any
) -> Block:
    """A modal with one multi-line text input; `meta` travels back as private_metadata."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": TEXT_INPUT,
        "multiline": True,
        "max_length": 1000,
    }
    if initial:
        element["initial_value"] = initial[:1000]
    block: Block = {
        "type": "input",
        "block_id": TEXT_INPUT,
        "label": _plain(label),
        "element": element,
    }
    if hint:
        block["hint"] = _plain(hint)
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(clip(title, 24)),
        "submit": _plain("Submit"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(meta),
        "blocks": [block],
    }


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text}


# Brainstorm ----------------------------------------------------------------------------
def who(idea: Idea) -> str:
    """The idea's author: a Slack mention built from their user id, else the name, escaped."""
    if _USER_ID.match(idea.author_id):
        return f"<@{idea.author_id}>"
    return escape(idea.by)


def brainstorm_header(topic: str, footer: str) -> list[Block]:
    """The thread's parent message."""
    head = section(
        f":bulb: *Brainstorm: {clip(escape(topic), TOPIC_CHARS)}*\nIdeas are in the thread: "
        "vote, add your own by replying there, or mention me (`@atelier more like #3`)."
    )
    return [head, *footer_context(footer)]


def idea_list_blocks(session: Session, ideas: list[Idea], note: str = "") -> list[Block]:
    """The numbered list with a vote button (count from Redis) and Expand per idea."""
    head = f"*Ideas for {clip(escape(session.topic), TOPIC_CHARS)}*"
    if note:
        head += f"\n_{clip(escape(note), SECTION_TEXT - TOPIC_CHARS - 20)}_"
    blocks = [section(head)]
    for idea in ideas:
        blocks.append(section(f"*{idea.number}.* {escape(idea.text)}  _by {who(idea)}_"))
        value = f"{session.id}:{idea.number}"
        blocks.append(
            {
                "type": "actions",
                "block_id": f"idea-{idea.number}",
                "elements": [
                    button(f"👍 {idea.votes}", VOTE, value),
                    button("Expand", EXPAND, value),
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": "brainstorm",
            "elements": [
                button("Add idea", ADD_IDEA, session.id),
                button("Wrap up", WRAP_UP, session.id, style="primary"),
            ],
        }
    )
    return blocks


def expanded_blocks(number: int, idea: str, text: str, footer: str) -> list[Block]:
    """An Expand result in the session's thread: the idea, the text it grew into."""
    title = f"*Idea #{number}, expanded:* {escape(idea)}"
    blocks = [section(title), *body_sections(text.strip(), MAX_BLOCKS - 5)]
    return blocks + footer_context(footer)


def more_ideas_blocks(line: str, footer: str) -> list[Block]:
    """A "more like #n" result: which ideas it added (the list itself is redrawn)."""
    return [section(escape(line)), *footer_context(footer)]


def wrap_up_blocks(session: Session, ideas: list[Idea]) -> list[Block]:
    top = ranking(ideas)
    if not top:
        lines = ["No votes yet: click 👍 on the ideas you like, then wrap up again."]
    else:
        lines = [
            f"{rank}. *{escape(i.text)}*: {i.votes} vote{'s' if i.votes != 1 else ''}, "
            f"proposed by {who(i)} (#{i.number})"
            for rank, i in enumerate(top, start=1)
        ]
    people = len({i.author_id for i in ideas if i.author_id})
    summary = f"{len(ideas)} ideas, {people} from teammates"
    head = f":trophy: *Top ideas for {clip(escape(session.topic), TOPIC_CHARS)}*"
    return [*(section(c) for c in split_text("\n".join([head, *lines]))), context(summary)]
