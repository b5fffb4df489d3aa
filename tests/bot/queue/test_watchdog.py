"""The adapters' watchdog against a real Redis: with no worker online, a waiting job's
requester is told once that the job is kept; with a worker online, or for another route,
nothing is said. Jobs waiting in a server's own line are told too."""

from __future__ import annotations

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.commands.render import progress_text
from bot.desk.front_desk import FrontDesk
from bot.desk.server_settings import SettingsStore
from bot.jobs import JobKind, Origin
from bot.queue.inbox import ResultInbox
from bot.queue.streams import JobQueue
from bot.queue.watchdog import NO_WORKER, Watchdog
from tests.support.admission import admit


def origin(n: int, route: str = "slack") -> Origin:
    return Origin(platform="slack", route=route, channel_id="C1", user_id="U1", delivery_id=f"{n}")


async def test_waiting_jobs_are_told_once_that_no_worker_is_online(queue: JobQueue) -> None:
    jobs = [build_job(parse(f"/poem wait {n}"), origin(n)) for n in range(3)]
    other = build_job(parse("/poem elsewhere"), origin(9, route="discord"))
    for job in [*jobs, other]:
        await admit(queue, job)
    fresh = build_job(parse("/poem just now"), origin(5))
    watchdog = Watchdog(queue, "slack", notice_after_s=0.0)
    assert await watchdog.sweep() == 3
    await admit(queue, fresh)
    assert await Watchdog(queue, "slack", notice_after_s=60.0).sweep() == 0  # too recent
    assert await watchdog.sweep() == 1  # the fresh one, once old enough; the rest not again

    inbox = ResultInbox(queue.redis, "slack", "c", keys=queue.keys)
    await inbox.ensure_group()
    events = await inbox.read(block_ms=100)
    assert sorted(e.job_id for e in events) == sorted(j.id for j in [*jobs, fresh])
    assert all(e.progress is not None and e.progress.stage == NO_WORKER for e in events)
    shown = progress_text(events[0].progress)  # type: ignore[arg-type]
    assert shown == "waiting: no worker is online; your job is kept and will run when one starts"


async def test_nothing_is_said_while_a_worker_is_online(queue: JobQueue) -> None:
    await admit(queue, build_job(parse("/poem busy"), origin(1)))
    await queue.heartbeat([JobKind.TEXT], "w1", {"host": "h"}, interval_s=5)
    assert await Watchdog(queue, "slack", notice_after_s=0.0).sweep() == 0
    await queue.retire([JobKind.TEXT], "w1")
    assert await Watchdog(queue, "slack", notice_after_s=0.0).sweep() == 1


async def test_jobs_waiting_in_a_servers_line_are_told_too(queue: JobQueue) -> None:
    store = SettingsStore(queue.redis, keys=queue.keys)
    await store.set("slack", "T1", "server_max_running", "1")
    desk = FrontDesk(queue, store)
    for n in range(2):
        at = origin(n).model_copy(update={"guild_id": "T1", "user_id": f"U{n}"})
        await desk.handle(f"/poem wait {n}", at)
    assert await queue.redis.zcard(queue.keys.lines(JobKind.TEXT)) == 1  # one in the line
    assert await Watchdog(queue, "slack", notice_after_s=0.0).sweep() == 2
