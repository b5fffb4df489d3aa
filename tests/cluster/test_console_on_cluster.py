"""tests/adapters/console/test_console.py, run again unchanged on a Redis Cluster
(the fixtures in this folder's conftest)."""

from tests.adapters.console.test_console import *  # noqa: F403
