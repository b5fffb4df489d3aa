"""tests/adapters/discord/test_community_discord.py, run again unchanged on a Redis Cluster
(the fixtures in this folder's conftest)."""

from tests.adapters.discord.test_community_discord import *  # noqa: F403
