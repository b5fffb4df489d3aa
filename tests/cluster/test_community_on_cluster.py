"""Challenges, collabs and the gallery: the single-Redis tests run again, unchanged, on a
Redis Cluster (the fixtures in this folder's conftest)."""

from tests.bot.community.test_challenges import *  # noqa: F403
from tests.bot.community.test_collab_gallery import *  # noqa: F403
