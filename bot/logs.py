"""Process logging: plain lines for a terminal, or one JSON object per line for a log
pipeline (`ATELIER_LOG_FORMAT=json`), with the job a line is about.

Code that works on a job wraps the work in `job_scope(job_id, kind=..., worker=...)`; every
line logged inside it (by Atelier or a library) carries those fields. The scope lives in a
context variable, so concurrent tasks never see each other's job.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_FIELDS = ("job_id", "kind", "worker")
_scope: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "atelier_job_scope", default=None
)


@contextmanager
def job_scope(job_id: str, *, kind: str = "", worker: str = "") -> Iterator[None]:
    """Lines logged inside this block are about this job."""
    fields = {"job_id": job_id}
    if kind:
        fields["kind"] = kind
    if worker:
        fields["worker"] = worker
    token = _scope.set(fields)
    try:
        yield
    finally:
        _scope.reset(token)


class JobFields(logging.Filter):
    """Copies the current job scope onto a record (fields passed with `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_scope.get() or {}).items():
            if not getattr(record, name, None):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the job
    fields when there are any, and the traceback as `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # a secret filter may have redacted it already
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: str = "plain") -> None:
    """Configure the root logger once per process: stderr, the chosen format, job fields."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(PLAIN))
    handler.addFilter(JobFields())
    handler.setLevel(level)  # here too: a logger may be opened below the level for counting
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python warnings (a library's deprecation notice) become records too, so a JSON log
    # stays one object per line.
    logging.captureWarnings(fmt == "json")
