"""tests/adapters/slack/test_community_slack.py, run again unchanged on a Redis Cluster
(the fixtures in this folder's conftest)."""

from tests.adapters.slack.test_community_slack import *  # noqa: F403
