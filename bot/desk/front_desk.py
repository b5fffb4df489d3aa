"""The front desk every adapter uses: a command in, a reply (and maybe a queued job) out.

Validation, server settings (channels, moderation words, rate limits) and prompt building
happen here, at the edge, so a bad request never reaches a worker. Adapters only translate
platform events to `handle(...)` / `submit(...)` / `follow_up(...)` and replies back.
"""

from __future__ import annotations

import time
from typing import Any

from bot.commands import chain
from bot.commands.build import build_job, new_seed
from bot.commands.catalogue import Command, command
from bot.commands.parse import Invocation, check_prompt, from_options, parse
from bot.commands.render import help_text, line_text, queued_text
from bot.community.commands import Community
from bot.desk.moderation import ModLog, refusal_text, screen_prompt
from bot.desk.server_settings import ServerSettings, SettingsStore, describe
from bot.errors import UserError
from bot.jobs import Job, JobKind, OptionValue, Origin, load_job, load_result
from bot.queue.fairness import Admitted, Fairness
from bot.queue.streams import JobQueue
from bot.replies import Action, Reply
from bot.web.links import Links

VARIATIONS = 3
PACK = ("poem", "image", "melody")  # what /inspire makes, in this order
RECENT_JOBS = 10


class FrontDesk:
    def __init__(
        self, queue: JobQueue, settings: SettingsStore | None = None, *, web: Links | None = None
    ) -> None:
        self.queue = queue
        self.redis: Any = queue.redis
        self.keys = queue.keys
        self.settings = settings or SettingsStore(queue.redis, keys=queue.keys)
        self.web = web or Links(queue.redis, keys=queue.keys)  # `/gallery web` links
        self.fairness = Fairness(queue, self.settings)
        self.modlog = ModLog(queue.redis, keys=queue.keys)
        self.community = Community(self)

    async def handle(
        self, text: str, origin: Origin, *, admin: bool = False, joined_at: float | None = None
    ) -> Reply:
        """Command text (Slack, the console): parse, then submit."""
        try:
            inv = parse(text)
        except UserError as exc:
            return Reply(str(exc), error=True)
        return await self.submit(inv, origin, admin=admin, joined_at=joined_at)

    async def submit(
        self,
        inv: Invocation,
        origin: Origin,
        *,
        admin: bool = False,
        joined_at: float | None = None,
    ) -> Reply:
        """A validated invocation (Discord builds it from typed options). `joined_at`: when
        the member joined the server, where the platform says (challenge votes use it)."""
        try:
            if inv.path[0] == "atelier":
                return await self._atelier(inv, origin, admin=admin)
            if inv.path[0] in self.community.COMMANDS:
                return await self.community.handle(inv, origin, admin=admin, joined_at=joined_at)
            name = inv.command.name
            makes_image = inv.command.kind is JobKind.IMAGE or name == "inspire"
            server = await self._admit(origin, inv.prompt, name, image=makes_image)
            if name == "inspire":
                return await self._inspire(inv, origin, server)
            job = build_job(
                inv,
                origin,
                model=_model_for(server, inv.command.kind),
                image_safety=server.image_safety,
            )
            return await self._enqueue(job, server)
        except UserError as exc:
            return Reply(str(exc), error=True)

    async def follow_up(
        self, action: Action, parent_id: str, origin: Origin, *, text: str = ""
    ) -> list[Reply]:
        """Regenerate (same settings, new seed), Variations (three new seeds) or Remix (the
        text edits the prompt and may change options) of a stored job, or a piece in another
        medium made from it (`bot.commands.chain`). The origin's delivery id is the button click's,
        so a repeated click enqueues nothing new."""
        try:
            parent = await self.stored_job(parent_id)
            if parent is None:
                raise UserError(
                    "That piece is too old to regenerate (jobs are kept 7 days). "
                    "Run the command again."
                )
            if action.value in chain.LINKS:
                return [await self._chain(action, parent, origin)]
            prompt, options = parent.prompt, dict(parent.options)
            if action is Action.REMIX:
                inv = parse(f"/{parent.command} {text}")
                prompt = inv.prompt
                options.update({k: inv.options[k] for k in inv.given if k != "seed"})
            cmd = _command_of(parent)
            check_prompt(cmd, f"/{cmd.name}", prompt)
            server = await self._admit(origin, prompt, cmd.name, image=cmd.kind is JobKind.IMAGE)
            count = VARIATIONS if action is Action.VARIATIONS else 1
            replies = []
            for i in range(count):
                delivery = origin.delivery_id if count == 1 else f"{origin.delivery_id}:{i}"
                job = build_job(
                    Invocation(
                        _command_of(parent), (parent.command,), prompt, options, frozenset()
                    ),
                    origin.model_copy(update={"delivery_id": delivery}),
                    model=parent.model,
                    parent_id=parent.id,
                    image_safety=server.image_safety,
                )
                replies.append(await self._enqueue(job, server, first=i == 0))
            return replies
        except UserError as exc:
            return [Reply(str(exc), error=True)]

    async def _chain(self, action: Action, parent: Job, origin: Origin) -> Reply:
        """A piece in another medium from `parent`: the server's model for that kind and
        the same rules as any new command (channel, moderation, limits)."""
        if action.value not in chain.offered(parent.command):
            raise UserError(
                f"That button is not offered on a /{parent.command} here; run the command you "
                "want yourself, e.g. /image or /melody with your own words."
            )
        raw = await self.redis.get(self.keys.result(parent.id))
        made = chain.derive(action.value, parent, load_result(raw) if raw else None)
        inv = from_options((made.command,), made.prompt, made.options)
        cmd = inv.command
        server = await self._admit(origin, inv.prompt, cmd.name, image=cmd.kind is JobKind.IMAGE)
        job = build_job(
            inv,
            origin,
            model=_model_for(server, cmd.kind),
            parent_id=parent.id,
            image_safety=server.image_safety,
        )
        return await self._enqueue(job, server)

    async def click(
        self, button_id: str, origin: Origin, *, admin: bool = False, joined_at: float | None = None
    ) -> Reply:
        """A community button (a vote, a gallery page)."""
        try:
            return await self.community.click(button_id, origin, admin=admin, joined_at=joined_at)
        except UserError as exc:
            return Reply(str(exc), error=True)

    async def submit_job(self, job: Job) -> Reply:
        """A job an adapter built itself (a brainstorm's Expand): the server's rules apply."""
        try:
            server = await self._admit(
                job.origin, job.prompt, job.command, image=job.kind is JobKind.IMAGE
            )
            return await self._enqueue(
                job.model_copy(update={"image_safety": server.image_safety}), server
            )
        except UserError as exc:
            return Reply(str(exc), error=True)

    async def _inspire(self, inv: Invocation, origin: Origin, server: ServerSettings) -> Reply:
        """A cross-domain pack: a poem, an image and a melody on one theme, one seed, as
        three jobs (one delivery each, so a repeated delivery adds none)."""
        theme, mood = inv.prompt, str(inv.options.get("mood", "") or "")
        given = inv.options.get("seed")
        seed = int(given) if given is not None else new_seed()
        replies: list[Reply] = []
        for name in PACK:
            cmd = command(name)
            if cmd is None or not cmd.available:
                continue
            options: dict[str, OptionValue] = {"seed": seed}
            prompt = theme
            if mood and cmd.option("mood") is not None:
                options["mood"] = mood
            elif mood:
                prompt = f"{theme}, {mood}"  # the image palette reads mood words
            part = from_options((name,), prompt, options)
            job = build_job(
                part,
                origin.model_copy(update={"delivery_id": f"{origin.delivery_id}:{name}"}),
                model=_model_for(server, cmd.kind),
                image_safety=server.image_safety,
            )
            replies.append(await self._enqueue(job, server, first=not replies))
        if not replies:
            raise UserError("No part of an inspiration pack is available on this deployment.")
        first = replies[0]
        parts = ", ".join(PACK[: len(replies)])
        return Reply(
            f"An inspiration pack on “{theme}” ({parts}, seed {seed}): {first.text}",
            first.job_id,
            first.kind,
            duplicate=all(r.duplicate for r in replies),
            more_jobs=tuple(r.job_id for r in replies[1:] if r.job_id),
            command=first.command,
            prompt=first.prompt,
        )

    async def stored_job(self, job_id: str) -> Job | None:
        raw = await self.redis.hget(self.keys.job(job_id), "job")
        return load_job(raw) if raw else None

    async def may_delete(self, job_id: str, user_id: str, *, moderator: bool) -> bool:
        """The requester may delete their piece; so may the server's moderators."""
        if moderator:
            return True
        job = await self.stored_job(job_id)
        return job is not None and bool(user_id) and job.origin.user_id == user_id

    async def status_text(self, origin: Origin | None = None) -> str:
        lines = ["Atelier status:"]
        for kind in JobKind:
            depth = await self.queue.depth(kind) + await self.fairness.waiting(kind)
            workers = await self.queue.workers_alive(kind)
            lines.append(
                f"  {kind.value:<6} {depth} waiting, {workers} worker"
                f"{'s' if workers != 1 else ''} online"
            )
        if origin is not None and origin.user_id:
            lines.extend(await self._your_jobs(origin))
        return "\n".join(lines)

    async def _your_jobs(self, origin: Origin) -> list[str]:
        key = self.keys.user_jobs(origin.platform, origin.user_id)
        ids: list[str] = await self.redis.zrevrange(key, 0, RECENT_JOBS - 1)
        if not ids:
            return ["Your jobs: none recently."]
        lines = ["Your recent jobs:"]
        for job_id in ids:
            state = await self.queue.state(job_id)
            if not state:
                continue
            job = load_job(state["job"])
            where = state.get("state", "?")
            if where == "waiting":
                where = await self._line_text(job)
            elif where == "queued":
                position = await self.queue.position(job.kind, job_id)
                where = queued_text(position, await self.queue.workers_alive(job.kind))
            lines.append(f"  /{job.command} {_clip(job.prompt)} ({job_id[:8]}): {where}")
        return lines

    async def _enqueue(self, job: Job, server: ServerSettings, *, first: bool = True) -> Reply:
        """Admit a job (`bot.queue.fairness`: rate limits, caps, the stream or the server's line)
        and say where it stands. `first`: the command's first job, the one that is limited."""
        admitted: Admitted = await self.fairness.admit(job, server, first=first)
        if admitted.created and job.origin.user_id:
            key = self.keys.user_jobs(job.origin.platform, job.origin.user_id)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {job.id: time.time()})
                pipe.zremrangebyrank(key, 0, -RECENT_JOBS - 1)
                pipe.expire(key, 24 * 3600)
                await pipe.execute()
        duplicate = not admitted.created
        if admitted.state == "waiting":
            text = await self._line_text(job)
        else:
            position = await self.queue.position(job.kind, job.id)
            text = queued_text(position, await self.queue.workers_alive(job.kind))
        return Reply(
            text, job.id, job.kind, duplicate=duplicate, command=job.command, prompt=job.prompt
        )

    async def _line_text(self, job: Job) -> str:
        server = await self.settings.get(job.origin.platform, job.origin.guild_id)
        return line_text(await self.fairness.place(job), server.server_max_running)

    async def _admit(
        self, origin: Origin, prompt: str, command: str, *, image: bool = False
    ) -> ServerSettings:
        """The server's rules for a new job: channel and moderation (the built-in list, the
        server's words, sexual words for images under the strict policy). Rate limits and
        caps are checked as the job is admitted (`bot.queue.fairness`), in one script."""
        server = await self.settings.get(origin.platform, origin.guild_id)
        if origin.channel_id and not server.allows_channel(origin.channel_id):
            raise UserError(
                "Atelier is not enabled in this channel; the server's admins chose "
                f"{_channels(server)}."
            )
        strict = image and server.image_safety == "strict"
        flag = screen_prompt(prompt, server.moderation_words, image_strict=strict)
        if flag is not None:
            await self.modlog.record(
                origin, server.moderation_log_channel, command, "refused a prompt", flag, prompt
            )
            raise UserError(refusal_text(flag))
        return server

    async def _atelier(self, inv: Invocation, origin: Origin, *, admin: bool) -> Reply:
        leaf = inv.path[-1]
        if leaf == "status":
            return Reply(await self.status_text(origin))
        if leaf == "settings":
            return Reply(await self._settings(inv, origin, admin=admin))
        return Reply(help_text(inv.prompt))

    async def _settings(self, inv: Invocation, origin: Origin, *, admin: bool) -> str:
        key, value = inv.options.get("key"), inv.options.get("value")
        if not origin.guild_id:
            raise UserError("Settings belong to a server; use this command in one.")
        if value is not None:
            if not admin:
                raise UserError("Only server admins can change Atelier's settings.")
            if key is None:
                raise UserError("Say which setting to change: key:<name> value:<value>.")
            updated = await self.settings.set(
                origin.platform, origin.guild_id, str(key), str(value)
            )
            await self.community.digest_changed(origin.platform, origin.guild_id, updated)
        return describe(await self.settings.get(origin.platform, origin.guild_id))


def _model_for(server: ServerSettings, kind: JobKind | None) -> str | None:
    if kind is None:
        return None
    return getattr(server, f"{kind.value}_model") or None


def _command_of(job: Job) -> Command:
    cmd = command(job.command)
    if cmd is None:  # a job stored by a newer version with a command this one lacks
        raise UserError(f"/{job.command} is not available on this deployment.")
    return cmd


def _channels(server: ServerSettings) -> str:
    return ", ".join(f"<#{c}>" for c in server.allowed_channels)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
