"""The queue, fairness lines and rate limits, results and dead letters: the single-Redis
tests run again, unchanged, on a Redis Cluster (the fixtures in this folder's conftest)."""

from tests.bot.queue.test_fairness import *  # noqa: F403
from tests.bot.queue.test_queue import *  # noqa: F403
