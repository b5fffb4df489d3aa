"""Buttons on every result and the Remix form. Stateless by design: a button's custom id
carries its action and job id, everything else lives in Redis, so a click works after the
adapter restarted (discord.py routes it through `DynamicItem`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, cast

import discord

from bot.commands.catalogue import MAX_PROMPT_CHARS
from bot.replies import Action, Button, result_actions

PREFIX = "atelier"
REMIX_FORM = f"{PREFIX}:remix-form:"
PROMPT_FIELD = "prompt"
_LOOK: dict[Action, tuple[str, discord.ButtonStyle]] = {
    Action.REGENERATE: ("Regenerate", discord.ButtonStyle.primary),
    Action.VARIATIONS: ("Variations", discord.ButtonStyle.secondary),
    Action.REMIX: ("Remix", discord.ButtonStyle.secondary),
    Action.DELETE: ("Delete", discord.ButtonStyle.danger),
    Action.ILLUSTRATE: ("Illustrate", discord.ButtonStyle.secondary),
    Action.SCORE: ("Score it", discord.ButtonStyle.secondary),
    Action.WRITE: ("Write about it", discord.ButtonStyle.secondary),
}
_ACTIONS = "|".join(a.value for a in Action)


class Clicks(Protocol):
    async def button(
        self, interaction: discord.Interaction, action: Action, job_id: str
    ) -> None: ...

    async def community(self, interaction: discord.Interaction, button_id: str) -> None: ...


def clicks_of(client: discord.Client) -> Clicks:
    """The adapter's handlers, attached to the client it built."""
    return cast(Clicks, cast(Any, client).atelier_handlers)


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{PREFIX}:(?P<action>{_ACTIONS}):(?P<job>[0-9a-f]{{8,64}})",
):
    def __init__(self, action: Action, job_id: str) -> None:
        label, style = _LOOK[action]
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=f"{PREFIX}:{action.value}:{job_id}"
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[discord.ui.View],
        match: Any,
        /,
    ) -> ActionButton:
        return cls(Action(match["action"]), match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await clicks_of(interaction.client).button(interaction, self.action, self.job_id)


class CommunityButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{PREFIX}:(?P<id>(?:cvote|gpage):.{{0,90}})",
):
    """A vote for a challenge entry or a gallery page; the id says everything."""

    def __init__(self, label: str, button_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"{PREFIX}:{button_id}"[:100],
            )
        )
        self.button_id = button_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[discord.ui.View],
        match: Any,
        /,
    ) -> CommunityButton:
        return cls(item.label or "", match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await clicks_of(interaction.client).community(interaction, self.button_id)


def community_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons[:25]:
        view.add_item(CommunityButton(button.label, button.id))
    return view


def result_view(job_id: str, command: str) -> discord.ui.View:
    """The buttons under a result of `command`: the base four, then the chain actions
    (Illustrate, Score it, Write about it) its deployment offers."""
    view = discord.ui.View(timeout=None)
    for action in result_actions(command):
        view.add_item(ActionButton(action, job_id))
    return view


def remix_modal(job_id: str, command: str, prompt: str) -> discord.ui.Modal:
    """The Remix form, prefilled with the piece's prompt. Options may be typed too."""
    modal = discord.ui.Modal(title=f"Remix this /{command}"[:45], custom_id=REMIX_FORM + job_id)
    modal.add_item(
        discord.ui.TextInput(
            label="Prompt (options such as form:haiku allowed)",
            style=discord.TextStyle.paragraph,
            custom_id=PROMPT_FIELD,
            default=prompt[:MAX_PROMPT_CHARS],
            max_length=MAX_PROMPT_CHARS + 200,
        )
    )
    # Stopped before it is sent: discord.py keeps no copy, and every submit is handled from
    # its custom id (also one sent before a restart).
    modal.stop()
    return modal


def remix_submit(data: Any) -> tuple[str, str] | None:
    """(job id, text) from a modal submit's data, or None if it is not a Remix form."""
    if not isinstance(data, dict):
        return None
    custom_id = str(data.get("custom_id", ""))
    job_id = custom_id.removeprefix(REMIX_FORM)
    if job_id == custom_id or not job_id:
        return None
    for field in _inputs(data.get("components", [])):
        if field.get("custom_id") == PROMPT_FIELD:
            return job_id, str(field.get("value", ""))
    return job_id, ""


def _inputs(components: Any) -> Iterator[dict[str, Any]]:
    """Text inputs at any depth: inside action rows (`components`) or labels (`component`)."""
    for comp in components if isinstance(components, list) else []:
        if not isinstance(comp, dict):
            continue
        if comp.get("type") == discord.ComponentType.text_input.value:
            yield comp
        yield from _inputs(comp.get("components", []))
        if isinstance(comp.get("component"), dict):
            yield from _inputs([comp["component"]])
