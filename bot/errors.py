"""A small exception hierarchy, so every layer knows what to retry and what to show."""

from __future__ import annotations


class AtelierError(Exception):
    """Base of every error Atelier raises on purpose."""


class UserError(AtelierError):
    """Something the user can fix (bad option, empty prompt). Shown as is; never retried."""


class ConfigError(AtelierError):
    """The deployment is missing or misconfigures a setting. Says which setting to fix."""


class RedisUnavailable(AtelierError):
    """Redis did not answer within ATELIER_REDIS_RECONNECT at start (exit 1: it may come back;
    a setting that cannot work is a ConfigError, exit 2)."""


class PoisonJob(AtelierError):
    """A stream entry that can never be processed (malformed, wrong schema). Dead-lettered."""
