"""tests/worker/generators/test_music_worker.py, run again unchanged on a Redis Cluster
(the fixtures in this folder's conftest)."""

from tests.worker.generators.test_music_worker import *  # noqa: F403
