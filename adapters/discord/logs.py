"""Keep secrets out of the log. discord.py logs request URLs and gateway payloads at DEBUG,
and interaction tokens are part of both; this filter, on every handler, blanks them."""

from __future__ import annotations

import logging
import re

_SECRETS = (
    # /webhooks/{application}/{token}/..., /interactions/{id}/{token}/callback
    re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?'\"]+"),
    # "token": "..." in JSON, 'token': '...' in a dict's repr
    re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+"""),
)
HIDDEN = "<hidden>"


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + HIDDEN, text)
    for secret in extra:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


class RedactSecrets(logging.Filter):
    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def hide_secrets(*secrets: str) -> None:
    """Install the filter on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets(*secrets))
