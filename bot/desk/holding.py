"""Commands that arrive while Redis does not answer (a restart, a failover) are held in the
process, not dropped: the adapter tells the member at once that the queue is reconnecting,
and the command is tried again with backoff until Redis answers or the reconnect window
(ATELIER_REDIS_RECONNECT, 60 s) has passed; past it the member is told to try again.

Trying again is safe: a job's id comes from the platform's delivery id, so an attempt that
reached Redis before its answer was lost finds its job again instead of adding a second one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.commands.parse import parse
from bot.errors import UserError
from bot.outage import is_down, reason

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_TRY_S = 2.0  # a command that has not reached Redis in this long is held
ATTEMPT_S = 5.0  # each later try is cut off after this long (a connection hung mid-restart)
BACKOFF_S = (0.25, 5.0)  # first pause between tries, doubling up to the second


async def hold(
    attempt: Callable[[], Awaitable[T]],
    *,
    window_s: float,
    on_hold: Callable[[], Awaitable[object]],
    first_try_s: float = FIRST_TRY_S,
) -> T | None:
    """`attempt()`'s answer. When Redis does not answer, `on_hold()` runs once (the member
    is told) and the attempt is repeated until it succeeds (its answer) or `window_s` has
    passed (None). Errors other than Redis being down are raised as they are."""
    deadline: float | None = None
    pause = BACKOFF_S[0]
    while True:
        budget = first_try_s if deadline is None else max(0.1, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(attempt(), min(budget, ATTEMPT_S))
        except Exception as exc:
            if not (is_down(exc) or isinstance(exc, TimeoutError)):
                raise
            if deadline is None:
                deadline = time.monotonic() + window_s
                why = reason(exc) if str(exc) else "no answer"
                log.warning("a command is held up to %.0f s: Redis (%s)", window_s, why)
                await on_hold()
            elif time.monotonic() >= deadline:
                log.warning("a held command gave up: Redis did not answer in %.0f s", window_s)
                return None
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, BACKOFF_S[1])


def makes_a_job(text: str) -> bool:
    """Whether command text would queue a job (its message shows the job), as far as it
    can be told without Redis."""
    try:
        inv = parse(text)
    except UserError:
        return False
    return inv.command.kind is not None or inv.command.name == "inspire"
