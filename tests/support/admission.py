"""Jobs into the queue the way the front desk puts them there (`Fairness.admit`, under the
job's server's stored settings), for tests that start below the front desk."""

from __future__ import annotations

from bot.jobs import Job
from bot.queue.fairness import Admitted, Fairness
from bot.queue.streams import JobQueue


async def admit(queue: JobQueue, job: Job) -> Admitted:
    """Admit one job as a follow-up part would be (`first=False`: no rate limit, the server's
    running cap applies)."""
    return await Fairness(queue).admit_stored(job, first=False)
