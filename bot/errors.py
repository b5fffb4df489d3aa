"""A small exception hierarchy, so every layer knows what to retry and what to show."""

from __future__ import annotations


class AtelierError(Exception):
    """Base of every error Atelier raises on purpose."""


class UserError(AtelierError):
    """Something the user can fix (bad option, empty prompt). Shown as is; never retried."""


class ConfigError(AtelierError):
    """The deployment is missing or misconfigures a setting. Says which setting to fix."""


class PoisonJob(AtelierError):
    """A stream entry that can never be processed (malformed, wrong schema). Dead-lettered."""
