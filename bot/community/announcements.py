"""What the community commands say: challenge announcements (opened, voting, winners with the
gallery of entries), entry lines and a poem so far. Pure functions, no IO."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.community.challenges import (
    CLOSED,
    OPEN,
    VOTING,
    Challenge,
    Change,
    Entry,
    Standing,
    ranked,
)
from bot.community.collab import Collab, Line, scheme_for
from bot.jobs import Origin
from bot.replies import Button


@dataclass(frozen=True)
class Announcement:
    """Something the scheduler has to say in a challenge's channel."""

    platform: str
    channel: str
    text: str
    buttons: tuple[Button, ...] = ()
    key: str = ""  # the outbox's dedupe key: one announcement per challenge and phase
    images: tuple[tuple[str, str], ...] = ()  # (caption, link) of pictures to show with it


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def place(origin: Origin) -> str:
    """Where a poem lives: a channel, or a thread in it."""
    return f"{origin.channel_id}/{origin.thread_id}" if origin.thread_id else origin.channel_id


def scheme_of(collab: Collab) -> str:
    return scheme_for(collab.form)


def poem_so_far(collab: Collab, lines: list[Line], note: str) -> str:
    body = "\n".join(f"{n}. {line.text}   — {line.by}" for n, line in enumerate(lines, 1))
    left = collab.lines - len(lines)
    tail = f"{left} line{'s' if left != 1 else ''} to go." if left else "All lines are in."
    return f"{body}\n{note + '. ' if note else ''}{tail}"


def opened_text(c: Challenge) -> str:
    lines = [
        f"New challenge #{c.round}: “{c.theme}”",
        f"Entries ({c.kind}) until {when(c.voting_at)}; voting until {when(c.ends_at)}.",
    ]
    if c.rules:
        lines.append(f"Rules: {c.rules}")
    extras = []
    if c.blind:
        extras.append("entries stay hidden until voting opens")
    if c.hide_counts:
        extras.append("vote counts stay hidden until the end")
    if not c.newcomers:
        extras.append("members who join from now on cannot vote")
    if c.per_member > 1:
        extras.append(f"up to {c.per_member} entries each")
    if c.every:
        extras.append(f"a new round opens every {c.every}")
    if extras:
        lines.append("This one: " + "; ".join(extras) + ".")
    lines.append(
        "Enter with /challenge submit (text, a link, or result:<id>) and say how it was made "
        "(made:human, ai-assisted or ai-generated)."
    )
    return "\n".join(lines)


def entry_line(entry: Entry, *, author: bool = True, votes: int | None = None) -> str:
    body = entry.text or entry.url
    body = " / ".join(part.strip() for part in body.splitlines() if part.strip())
    if entry.file_name:  # an uploaded file: its name and link, after any words with it
        upload = f"{entry.file_name} {entry.url}"
        body = f"{body} ({upload})" if entry.text else upload
    who = f" — {entry.by}" if author else ""
    tally = f" ({votes} vote{'s' if votes != 1 else ''})" if votes is not None else ""
    return f"#{entry.number} [{entry.made}, {entry.kind}] {body}{who}{tally}"


def entries_text(challenge: Challenge, entries: list[Entry], *, counts: bool) -> str:
    # While voting, a blind challenge's entries stay anonymous too; authors show at the end.
    author = not challenge.blind or challenge.state == CLOSED
    head = f"Entries for “{challenge.theme}”:"
    return "\n".join(
        [head, *(entry_line(e, author=author, votes=e.votes if counts else None) for e in entries)]
    )


def leaderboard_text(standings: list[Standing]) -> str:
    lines = ["Challenge leaderboard (points · wins · streak):"]
    for i, s in enumerate(standings, 1):
        streak = f"{s.streak} in a row" if s.streak else "no streak"
        lines.append(f"{i}. {s.name}: {s.points} pts · {s.wins} wins · {streak}")
    return "\n".join(lines)


def vote_buttons(challenge: Challenge, entries: list[Entry]) -> tuple[Button, ...]:
    return tuple(Button(f"Vote #{e.number}", f"cvote:{challenge.id}:{e.number}") for e in entries)


def pictures(entries: list[Entry]) -> tuple[tuple[str, str], ...]:
    """The entries that are pictures, to show as images: (caption, link)."""
    return tuple((f"#{e.number}", e.image) for e in entries if e.image)


def announce(change: Change) -> Announcement:
    note = _announce(change)
    key = f"{change.challenge.id}:{change.what}"
    images = pictures(change.entries) if change.what != OPEN else ()
    return Announcement(note.platform, note.channel, note.text, note.buttons, key, images)


def _announce(change: Change) -> Announcement:
    c = change.challenge
    if change.what == OPEN:
        return Announcement(c.platform, c.channel, opened_text(c))
    if change.what == VOTING:
        if not change.entries:
            text = f"Entries for “{c.theme}” are closed, and none came in."
            return Announcement(c.platform, c.channel, text)
        text = (
            f"Voting is open for “{c.theme}” until {when(c.ends_at)}: one vote per entry, "
            f"anonymous, not for your own.\n{entries_text(c, change.entries, counts=False)}"
        )
        return Announcement(c.platform, c.channel, text, vote_buttons(c, change.entries))
    lines = [f"Challenge #{c.round} “{c.theme}” has ended."]
    if change.winners:
        names = ", ".join(f"#{w.number} by {w.by}" for w in change.winners)
        votes = change.winners[0].votes
        lines.append(
            f"Winner{'s' if len(change.winners) > 1 else ''}: {names} "
            f"with {votes} vote{'s' if votes != 1 else ''}!"
        )
    else:
        lines.append("No votes were cast, so there is no winner.")
    if change.entries:
        lines.append("Gallery of entries:")
        for place, entry in ranked(change.entries):
            lines.append(f"{place}. {entry_line(entry, votes=entry.votes)}")
    if change.next is not None:
        lines.append(f"The next round opens {when(change.next.opened_at)}.")
    lines.append("See the standings with /challenge leaderboard.")
    return Announcement(c.platform, c.channel, "\n".join(lines))
