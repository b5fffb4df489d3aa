"""/challenge, /collab, /gallery and /style: the community commands, platform-neutral.

The front desk hands these invocations here; the answers are `Reply`s (public ones for the
channel, buttons for votes and gallery pages), so every adapter presents them the same way.
What the scheduler has to post (challenge phase changes, weekly digests) is made here too
(`announcements`), for the adapter process that polls it; the wording is in
`bot.community.announcements`.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any, Protocol

from bot.commands.build import build_job
from bot.commands.catalogue import MAX_PROMPT_CHARS
from bot.commands.parse import Invocation, from_options, parse
from bot.community.announcements import (
    Announcement,
    announce,
    entries_text,
    entry_line,
    leaderboard_text,
    opened_text,
    place,
    poem_so_far,
    scheme_of,
    vote_buttons,
    when,
)
from bot.community.brainstorm import split_ideas
from bot.community.challenges import (
    OPEN,
    VOTING,
    Challenge,
    ChallengeStore,
    Change,
    Entry,
    entry_kind,
    parse_duration,
)
from bot.community.collab import (
    Collab,
    CollabStore,
    Line,
    compiled,
    credits,
    imagery,
    lines_for,
    rhyme_note,
)
from bot.community.gallery import GalleryStore, describe_page
from bot.community.outbox import Outbox
from bot.community.styles import Style, StyleStore, split_name
from bot.community.uploads import media_of
from bot.desk.moderation import ModLog
from bot.desk.server_settings import ServerSettings, SettingsStore
from bot.errors import UserError
from bot.jobs import Job, Origin, job_id_for, load_job, load_result
from bot.keys import Keys
from bot.replies import Button, Reply
from bot.web.links import Links
from bot.web.words import web_reply


class Desk(Protocol):
    """What the community commands need of the front desk (`bot.desk.front_desk.FrontDesk`):
    its stores, and `submit_job` so a community piece meets the server's rules like any other."""

    redis: Any
    keys: Keys
    settings: SettingsStore
    modlog: ModLog
    web: Links

    async def submit_job(self, job: Job) -> Reply: ...


_SEEDS = random.SystemRandom()
THEMES_TTL_S = 86_400
THEME_COUNT = 3
MAX_ENTRY_CHARS = 1000
DIGEST_EVERY_S = 7 * 86_400
DIGEST_TOP = 5
ONCE_TTL_S = 86_400


class Community:
    COMMANDS = ("challenge", "collab", "gallery", "style")

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.redis = desk.redis
        self.keys = desk.keys
        self.challenges = ChallengeStore(desk.redis, keys=desk.keys)
        self.collabs = CollabStore(desk.redis, keys=desk.keys)
        self.gallery = GalleryStore(desk.redis, keys=desk.keys)
        self.styles = StyleStore(desk.redis, keys=desk.keys)
        self.outbox = Outbox(desk.redis, keys=desk.keys)

    async def handle(
        self, inv: Invocation, origin: Origin, *, admin: bool, joined_at: float | None
    ) -> Reply:
        if not origin.guild_id:
            raise UserError(f"/{inv.path[0]} belongs to a server; use it in one.")
        name = inv.name
        if name == "challenge new":
            return await self.new_challenge(inv, origin, admin=admin)
        if name == "challenge submit":
            return await self.submit_entry(inv, origin)
        if name == "challenge vote":
            entry = inv.options.get("entry")
            if entry is None:
                return await self.entries_reply(origin)
            return await self.vote(origin, None, int(entry), joined_at)
        if name == "challenge leaderboard":
            return await self.leaderboard(origin)
        if name == "challenge end":
            return await self.end_challenge(origin, admin=admin)
        if inv.path[0] == "collab":
            return await self.collab(inv, origin)
        if inv.path[0] == "style":
            return await self.style(inv, origin)
        return await self.gallery_reply(inv, origin, admin=admin)

    async def click(
        self, button_id: str, origin: Origin, *, admin: bool, joined_at: float | None
    ) -> Reply:
        what, _, rest = button_id.partition(":")
        if what == "cvote":
            challenge_id, _, number = rest.rpartition(":")
            if not number.isdigit():
                raise UserError("That button is not a vote.")
            return await self.vote(origin, challenge_id, int(number), joined_at)
        if what == "gpage":
            page, _, rest = rest.partition(":")
            kind, _, user = rest.partition(":")
            inv = parse("/gallery")
            inv.options.update({"page": int(page or 1)})
            if kind:
                inv.options["kind"] = kind
            if user:
                inv.options["user"] = user
            return await self.gallery_reply(inv, origin, admin=admin)
        raise UserError("That button does nothing any more.")

    # Challenges -------------------------------------------------------------------------
    async def new_challenge(self, inv: Invocation, origin: Origin, *, admin: bool) -> Reply:

        if not admin:
            raise UserError("Only moderators can open a challenge.")
        opts = inv.options
        theme = inv.prompt.strip()
        if not theme and opts.get("pick") is not None:
            theme = await self._picked_theme(origin, int(opts["pick"]))
        if not theme:
            return await self._propose_themes(origin, str(opts.get("kind", "any")))
        entries_s = parse_duration(str(opts.get("duration", "3d")))
        voting_s = parse_duration(str(opts.get("voting", "1d")))
        now = time.time()
        challenge = await self.challenges.open(
            Challenge(
                id=job_id_for(origin.platform, origin.delivery_id),
                platform=origin.platform,
                server=origin.guild_id,
                channel=origin.channel_id,
                theme=theme,
                owner=origin.user_id,
                opened_at=now,
                voting_at=now + entries_s,
                ends_at=now + entries_s + voting_s,
                kind=str(opts.get("kind", "any")),
                rules=str(opts.get("rules", "")),
                blind=bool(opts.get("blind", False)),
                hide_counts=bool(opts.get("hide_counts", False)),
                newcomers=bool(opts.get("newcomers", True)),
                per_member=int(opts.get("entries", 1)),
                every=str(opts.get("every", "")),
                entries_s=entries_s,
                voting_s=voting_s,
            )
        )
        return Reply(opened_text(challenge), public=True)

    async def _propose_themes(self, origin: Origin, kind: str) -> Reply:
        """No theme given: a text job proposes three; the moderator picks one with pick:n."""
        what = "art" if kind == "any" else kind
        inv = parse(f"/brainstorm themes for a community {what} challenge count:{THEME_COUNT}")

        job = build_job(inv, origin)
        reply = await self.desk.submit_job(job)
        if not reply.error:
            key = self.keys.challenge_themes(origin.platform, origin.guild_id)
            await self.redis.set(key, job.id, ex=THEMES_TTL_S)
            return replace(
                reply,
                text=f"The model is proposing {THEME_COUNT} themes ({reply.text}). Then open the "
                "challenge with /challenge new pick:1, pick:2 or pick:3.",
            )
        return reply

    async def _picked_theme(self, origin: Origin, pick: int) -> str:
        job_id = await self.redis.get(self.keys.challenge_themes(origin.platform, origin.guild_id))
        raw = await self.redis.get(self.keys.result(job_id)) if job_id else None
        if raw is None:
            raise UserError(
                "There are no proposed themes to pick from yet; run /challenge new without a "
                "theme and wait for the model's list."
            )
        themes, _ = split_ideas(load_result(raw).text, THEME_COUNT)
        if not 1 <= pick <= len(themes):
            raise UserError(f"The model proposed {len(themes)} usable themes; pick one of those.")
        return themes[pick - 1]

    async def submit_entry(self, inv: Invocation, origin: Origin) -> Reply:

        challenge = await self.challenges.running(origin.platform, origin.guild_id)
        text, url, job_id, job_kind = inv.prompt.strip(), "", "", ""
        result_id = str(inv.options.get("result", "")).strip()
        upload = str(inv.options.get("file", "")).strip()
        media = media_of(upload) if upload else None
        if result_id:
            text, job_kind = await self._own_result(result_id, origin)
            job_id = result_id
        elif media is not None:  # the text, if any, is said about the file
            url, job_kind = media.url, {"image": "image", "melody": "music"}[media.kind]
        elif text.startswith(("http://", "https://")) and " " not in text:
            url, text = text, ""
        if not (text or url):
            raise UserError(
                "Enter text, a link to your file, an uploaded file (file:), or result:<id> of "
                "your result."
            )
        text = text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 1] + "…"
        entry = await self.challenges.submit(
            challenge,
            Entry(
                number=0,
                author_id=origin.user_id,
                author_name=origin.user_name,
                made=str(inv.options.get("made", "human")),
                kind=entry_kind(text, url, job_kind),
                text=text,
                url=url,
                job_id=job_id,
                file_name=media.filename if media else "",
                file_type=media.content_type if media else "",
                file_size=media.size if media else 0,
            ),
        )
        if challenge.blind:
            return Reply(
                f"Your entry #{entry.number} is in. Entries stay hidden until voting opens "
                f"({when(challenge.voting_at)})."
            )
        return Reply(f"New entry for “{challenge.theme}”:\n{entry_line(entry)}", public=True)

    async def _own_result(self, job_id: str, origin: Origin) -> tuple[str, str]:
        raw_job = await self.redis.hget(self.keys.job(job_id), "job")
        raw_result = await self.redis.get(self.keys.result(job_id))
        if not raw_job or not raw_result:
            raise UserError("No result has that id (results are kept 7 days).")
        job = load_job(raw_job)
        if job.origin.user_id != origin.user_id:
            raise UserError("Enter your own results only.")
        result = load_result(raw_result)
        if not result.ok:
            raise UserError("That job failed; it has nothing to enter.")
        files = ", ".join(a.filename for a in result.attachments)
        return (result.text or files or result.prompt), job.kind.value

    async def entries_reply(self, origin: Origin) -> Reply:

        challenge = await self.challenges.running(origin.platform, origin.guild_id)
        phase = challenge.phase(time.time())
        entries = await self.challenges.entries(challenge)
        if phase == OPEN and challenge.blind:
            return Reply(
                f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} so far; they stay "
                f"hidden until voting opens ({when(challenge.voting_at)})."
            )
        if not entries:
            return Reply(f"No entries yet for “{challenge.theme}”.")
        text = entries_text(challenge, entries, counts=not challenge.hide_counts)
        buttons = vote_buttons(challenge, entries) if phase == VOTING else ()
        return Reply(text, buttons=buttons)

    async def vote(
        self, origin: Origin, challenge_id: str | None, number: int, joined_at: float | None
    ) -> Reply:

        if challenge_id is None:
            challenge = await self.challenges.running(origin.platform, origin.guild_id)
        else:
            found = await self.challenges.get(challenge_id)
            if found is None:
                raise UserError("That challenge is gone.")
            challenge = found
        count = await self.challenges.vote(challenge, number, origin.user_id, joined_at=joined_at)
        tally = "" if challenge.hide_counts else f" It has {count} vote{'s' if count != 1 else ''}."
        return Reply(f"Your vote for entry #{number} is counted.{tally}")

    async def leaderboard(self, origin: Origin) -> Reply:

        standings = await self.challenges.leaderboard(origin.platform, origin.guild_id)
        if not standings:
            return Reply("No challenge has been decided on this server yet.", public=True)
        return Reply(leaderboard_text(standings), public=True)

    async def end_challenge(self, origin: Origin, *, admin: bool) -> Reply:

        if not admin:
            raise UserError("Only moderators can end a challenge.")
        challenge = await self.challenges.running(origin.platform, origin.guild_id)
        change = await self.challenges.end_now(challenge)
        if change is None:
            raise UserError("The challenge is closing already.")
        return Reply(announce(change).text, public=True)

    async def announcements(self, platform: str, now: float | None = None) -> list[Announcement]:
        """Phase changes, weekly digests and moderation notes that are due, and any still
        unposted: the adapter's scheduler posts each, then calls `announced` (at least once,
        see `bot.community.outbox`)."""
        now = time.time() if now is None else now
        for challenge_id in await self.challenges.due(platform, now):
            # The announcement is written with the change, in one transaction.
            await self.challenges.advance(challenge_id, now=now, post=self._post)
        key = self.keys.digests(platform)
        for server, due_at in await self.redis.zrangebyscore(key, 0, now, withscores=True):
            # Moving the next time forward is the claim: pollers compute the same next time
            # from the stored one, so only the first one's move changes anything.
            nxt = due_at + DIGEST_EVERY_S * (int((now - due_at) // DIGEST_EVERY_S) + 1)
            claimed = await self.redis.zadd(key, {server: nxt}, xx=True, gt=True, ch=True)
            settings = await self.desk.settings.get(platform, server)
            if not claimed or not settings.digest_channel:
                continue
            text = await self.digest_text(platform, server, now)
            if text:
                where = settings.digest_channel
                note = Announcement(platform, where, text, key=f"digest:{server}:{due_at:.0f}")
                await self.outbox.put(note)
        for i, (channel, text) in enumerate(await self.desk.modlog.take(platform)):
            # Into the outbox too, so a note taken by an adapter that dies is still posted.
            key = f"modlog:{time.time_ns()}:{i}"
            await self.outbox.put(Announcement(platform, channel, text, key=key))
        return await self.outbox.take(platform)

    def _post(self, change: Change) -> tuple[str, str, str]:
        return self.outbox.entry(announce(change))

    async def announced(self, note: Announcement) -> None:
        """The adapter posted it: it leaves the outbox."""
        await self.outbox.posted(note)

    async def digest_changed(self, platform: str, server: str, settings: ServerSettings) -> None:
        """Opted in (a digest a week from now) or out."""
        key = self.keys.digests(platform)
        if settings.digest_channel:
            await self.redis.zadd(key, {server: time.time() + DIGEST_EVERY_S}, nx=True)
        else:
            await self.redis.zrem(key, server)

    async def digest_text(self, platform: str, server: str, now: float) -> str:
        """The week's most-voted challenge entries with credits ("" when there were none)."""
        pieces = []
        for challenge in await self.challenges.closed_since(platform, server, now - DIGEST_EVERY_S):
            for entry in await self.challenges.entries(challenge):
                if entry.votes:
                    pieces.append((entry.votes, challenge, entry))
        if not pieces:
            return ""
        pieces.sort(key=lambda p: (-p[0], p[1].ends_at, p[2].number))
        lines = ["This week's most-voted pieces:"]
        for votes, challenge, entry in pieces[:DIGEST_TOP]:
            body = entry_line(entry, votes=votes).split("] ", 1)[1]
            lines.append(f"  “{challenge.theme}”: {body}")
        return "\n".join(lines)

    # Writing together -------------------------------------------------------------------
    async def collab(self, inv: Invocation, origin: Origin, *, line: str = "") -> Reply:

        where = place(origin)
        leaf = inv.path[-1]
        if leaf == "start":
            form = str(inv.options.get("form", "free"))
            started = await self.collabs.start(
                Collab(
                    id=job_id_for(origin.platform, origin.delivery_id),
                    platform=origin.platform,
                    server=origin.guild_id,
                    channel=where,
                    theme=inv.prompt.strip(),
                    form=form,
                    lines=lines_for(form, int(inv.options.get("turns", 8))),
                    owner=origin.user_id,
                    model_every=int(inv.options.get("model", 0)),
                )
            )
            scheme = f", rhyme scheme {scheme_of(started)}" if scheme_of(started) else ""
            return Reply(
                f"A {started.form} written together: “{started.theme or 'anything'}”, "
                f"{started.lines} lines{scheme}. Add a line with /collab line <your line>; "
                "ask the model for one with /collab model; /collab finish compiles it.",
                public=True,
                thread=started.id,
            )
        found = await self.collabs.here(origin.platform, where)
        if found is None:
            raise UserError("No poem is being written here; start one with /collab start.")
        collab = found
        if leaf == "line":
            text = line or inv.prompt
            lines = await self.collabs.add(collab, text, origin.user_id, origin.user_name)
            note = rhyme_note(collab.form, lines)
            text = poem_so_far(collab, lines, note)
            if self.collabs.model_turn(collab, lines):
                job = await self.collabs.ask_model(collab, origin, _SEEDS.randrange(2**31))
                reply = await self.desk.submit_job(job)
                return replace(
                    reply,
                    text=f"{text}\nThe turn passes to the model: {reply.text}",
                    public=True,
                    duplicate=False,  # the line was added by this command even if the job was not
                )
            return Reply(text, public=True)
        if leaf == "model":
            job = await self.collabs.ask_model(collab, origin, _SEEDS.randrange(2**31))
            reply = await self.desk.submit_job(job)
            if reply.error:
                return reply
            return replace(
                reply,
                text=f"The model is writing line {await self._next_number(collab)}: {reply.text}",
            )
        lines, verdict = await self.collabs.finish(collab)
        poem = compiled(collab, lines, verdict)
        if not inv.options.get("illustrate") or not lines:
            return Reply(poem, public=True)
        return await self._illustrate(collab, lines, poem, origin)

    async def _illustrate(
        self, collab: Collab, lines: list[Line], poem: str, origin: Origin
    ) -> Reply:
        """An /image of the finished poem's imagery, credited to everyone who wrote it; its
        result is posted where the poem was finished."""

        prompt = f"{imagery(collab, lines)} (after the poem by {credits(lines)})"
        try:  # the poem is finished whatever happens to its picture
            image = from_options(("image",), prompt[:MAX_PROMPT_CHARS], {})
        except UserError as exc:
            return Reply(f"{poem}\nNo illustration: {exc}", public=True)
        server = await self.desk.settings.get(origin.platform, origin.guild_id)
        delivery = f"{origin.delivery_id}:illustration"
        job = build_job(
            image,
            origin.model_copy(update={"delivery_id": delivery}),
            model=server.image_model or None,
        )
        reply = await self.desk.submit_job(job)
        if reply.error:
            return Reply(f"{poem}\nNo illustration: {reply.text}", public=True)
        return replace(
            reply,
            text=f"{poem}\nAn illustration from its imagery is on its way: {reply.text}",
            public=True,
        )

    async def thread_opened(self, origin: Origin, collab_id: str, where: str = "") -> None:
        """The adapter posted a poem's start and opened a thread on it: `origin.thread_id`
        in its channel (Slack), or `where`, a thread that is a channel of its own (Discord)."""
        collab = await self.collabs.here(origin.platform, origin.channel_id)
        if collab is not None and collab.id == collab_id:
            await self.collabs.attach_thread(collab, where or place(origin))

    async def reply_in_thread(self, origin: Origin, text: str) -> Reply | None:
        """A member's reply in a poem's thread is their line; None: no poem's thread is
        there (a message in the channel itself is never a line)."""
        found = await self.collabs.here(origin.platform, place(origin))
        if found is None or found.thread != place(origin):
            return None
        once = self.keys.once(origin.platform, f"line:{origin.delivery_id}")
        if not await self.redis.set(once, "1", nx=True, ex=ONCE_TTL_S):
            return None  # the platform delivered this message again
        try:
            return await self.collab(parse("/collab line x"), origin, line=text)
        except UserError as exc:
            return Reply(str(exc), error=True)

    async def _next_number(self, collab: Collab) -> int:
        return len(await self.collabs.lines(collab)) + 1

    # Styles -----------------------------------------------------------------------------
    async def style(self, inv: Invocation, origin: Origin) -> Reply:

        leaf = inv.path[-1]
        if leaf == "list":
            styles = await self.styles.all(origin.platform, origin.guild_id)
            if not styles:
                return Reply("This server has no styles yet; save one with /style save.")
            lines = ["Styles on this server (most used first):"]
            for s in styles:
                model = f", model {s.model}" if s.model else ""
                lines.append(
                    f"  {s.name} (/{s.command}{model}): {s.suffix} — used {s.uses} "
                    f"time{'s' if s.uses != 1 else ''}, saved by {s.author}"
                )
            return Reply("\n".join(lines))
        name, rest = split_name(inv.prompt)
        if leaf == "save":
            style = await self.styles.save(
                origin.platform,
                origin.guild_id,
                Style(
                    name,
                    rest,
                    str(inv.options.get("command", "poem")),
                    str(inv.options.get("model", "")),
                    origin.user_name or origin.user_id,
                ),
            )
            return Reply(f"Saved the style '{style.name}' for /{style.command}: {style.suffix}.")
        style = await self.styles.get(origin.platform, origin.guild_id, name)
        if not rest:
            raise UserError(f"Say what to make in '{name}', e.g. /style use {name} a harbour.")
        piece = parse(f"/{style.command} {rest}, {style.suffix}")
        server = await self.desk.settings.get(origin.platform, origin.guild_id)
        kind = piece.command.kind
        model = style.model or (getattr(server, f"{kind.value}_model") if kind else "")
        reply = await self.desk.submit_job(build_job(piece, origin, model=model or None))
        if not reply.error and not reply.duplicate:
            await self.styles.used(origin.platform, origin.guild_id, name)
        return reply

    # Gallery ----------------------------------------------------------------------------
    async def gallery_reply(self, inv: Invocation, origin: Origin, *, admin: bool) -> Reply:

        if inv.prompt.strip():
            return await self.web_link(inv.prompt, origin)
        delete = str(inv.options.get("delete", "")).strip()
        if delete:
            piece = await self.gallery.delete(
                origin.platform, origin.guild_id, delete, origin.user_id, admin=admin
            )
            return Reply(f"Deleted [{piece.job_id[:8]}] /{piece.command} {piece.prompt}.")
        settings = await self.desk.settings.get(origin.platform, origin.guild_id)
        user, kind = str(inv.options.get("user", "")), str(inv.options.get("kind", ""))
        page = await self.gallery.page(
            origin.platform,
            origin.guild_id,
            user=user,
            kind=kind,
            number=int(inv.options.get("page", 1)),
            keep_days=settings.gallery_days,
        )
        buttons = []
        if page.number > 1:
            buttons.append(Button("Previous", f"gpage:{page.number - 1}:{kind}:{user[:40]}"))
        if page.number < page.pages:
            buttons.append(Button("Next", f"gpage:{page.number + 1}:{kind}:{user[:40]}"))
        return Reply(describe_page(page, user=user, kind=kind), buttons=tuple(buttons))

    async def web_link(self, words: str, origin: Origin) -> Reply:
        """`/gallery web`: a signed, expiring link to the server's web gallery, for the asker."""
        if words.strip().lower() != "web":
            raise UserError("Say /gallery web for the gallery's web page, or use its options.")
        web = self.desk.web
        url = await web.signed_url(origin.platform, origin.guild_id)
        settings = await self.desk.settings.get(origin.platform, origin.guild_id)
        public = await web.public_url(origin.platform, origin.guild_id)
        return Reply(web_reply(url, web.ttl_s, public if settings.gallery_public else ""))
