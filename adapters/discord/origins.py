"""Who the adapter is to the core: its platform name, its results route, and where an
interaction's jobs come from. Handlers, threads and the scheduler all need these; keeping
them here lets each import them without importing one another."""

from __future__ import annotations

import discord

from bot.jobs import Origin

PLATFORM = "discord"
ROUTE = "discord"


def origin_of(interaction: discord.Interaction) -> Origin:
    """Where the jobs of an interaction come from; its id is the delivery id (a repeated
    delivery maps to the same job) and the reply to edit."""
    return Origin(
        platform=PLATFORM,
        route=ROUTE,
        channel_id=str(interaction.channel_id or ""),
        user_id=str(interaction.user.id),
        user_name=interaction.user.display_name,
        guild_id=str(interaction.guild_id or ""),
        delivery_id=str(interaction.id),
        reply_ref=str(interaction.id),
    )
