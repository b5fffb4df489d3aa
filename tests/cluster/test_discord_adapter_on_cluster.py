"""tests/adapters/discord/test_discord_adapter.py, run again unchanged on a Redis Cluster (the
fixtures in this folder's conftest): every slash command and button, through a real
`atelier discord` and a real `atelier worker` whose keys spread over the masters."""

from tests.adapters.discord.test_discord_adapter import *  # noqa: F403
