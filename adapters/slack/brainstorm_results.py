"""A brainstorm's results on Slack: the first result becomes a session (the job's message
turns into the thread's parent and the numbered list is posted in the thread); Expand and
"more like #n" results go back into their session's thread."""

from __future__ import annotations

from adapters.slack.blocks import (
    brainstorm_header,
    expanded_blocks,
    fallback,
    idea_list_blocks,
    more_ideas_blocks,
)
from adapters.slack.brainstorm import refresh_list
from adapters.slack.context import PLATFORM, Posted, SlackDeps
from bot.commands.render import render_result
from bot.community.brainstorm import (
    EXPAND,
    MODEL_AUTHOR,
    MORE_IDEAS,
    Session,
    parse_ref,
    split_ideas,
)
from bot.jobs import Result


class BrainstormResults:
    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps

    async def deliver(self, result: Result, where: Posted | None) -> None:
        """A successful /brainstorm result: a follow-up of a session, or a new session."""
        ref = parse_ref(result.origin.reply_ref)
        if ref is not None:
            await self._follow_up(result, where, *ref)
        else:
            await self._start(result, where)

    async def _start(self, result: Result, where: Posted | None) -> None:
        count = int(result.options.get("count", 8))
        ideas, note = split_ideas(result.text, count)
        footer = render_result(result).footer
        parent = await self.deps.show(
            where, result.origin, brainstorm_header(result.prompt, footer), fallback(result.prompt)
        )
        origin = result.origin
        session = Session(
            id=result.job_id,
            topic=result.prompt,
            platform=PLATFORM,
            channel_id=parent.channel,
            thread_id=parent.ts,
            list_ref="",
            owner_id=origin.user_id,
            asked=count,
        )
        session = await self.deps.store.create(session, ideas)
        if session.list_ref:
            return  # a second delivery of the same result found the list already posted
        stored = await self.deps.store.ideas(session)
        listed = await self.deps.post(
            parent.channel,
            idea_list_blocks(session, stored, note),
            fallback(session.topic),
            parent.ts,
        )
        await self.deps.store.set_list_ref(session.id, listed.ts)

    async def _follow_up(
        self, result: Result, where: Posted | None, what: str, session_id: str, number: int
    ) -> None:
        session = await self.deps.store.get(session_id)
        footer = render_result(result).footer
        if session is None:
            return
        if what == EXPAND:
            idea = await self.deps.store.idea(session, number)
            blocks = expanded_blocks(number, idea.text if idea else "", result.text, footer)
            await self.deps.show(
                where, result.origin, blocks, fallback(f"Idea #{number}", result.text)
            )
            return
        ideas, _ = split_ideas(result.text, MORE_IDEAS)
        added = []
        for text in ideas:
            n = await self.deps.store.add_idea(session, text, "", MODEL_AUTHOR)
            if n:
                added.append(n)
        like = f" like #{number}" if number else ""
        if added:
            line = (
                f"Added {len(added)} more idea{'s' if len(added) != 1 else ''}{like}: "
                + ", ".join(f"#{n}" for n in added)
            )
        else:
            line = f"The model gave no usable ideas{like} this time; try again or add your own."
        blocks = more_ideas_blocks(line, footer)
        await self.deps.show(where, result.origin, blocks, fallback(line))
        await refresh_list(self.deps, session)
