"""tests/adapters/slack/test_slack.py, run again unchanged on a Redis Cluster (the fixtures in
this folder's conftest): every slash command, button, brainstorm and Socket Mode, through a
real `atelier slack` and a real `atelier worker` whose keys spread over the masters."""

from tests.adapters.slack.test_slack import *  # noqa: F403

# `atelier up` runs on its embedded store and never reads the Redis URL: on a cluster it would
# test exactly what it tests on one server, so it runs there only.
del test_up_with_slack_tokens_runs_the_slack_adapter_on_the_embedded_store  # noqa: F821
