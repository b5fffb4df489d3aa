"""Small pieces of the community leftovers: uploaded entries (`bot.community.uploads`), the
illustration prompt of a finished poem (`bot.community.collab`), and the announcement outbox
(`bot.community.outbox`, the last test against a real Redis)."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from bot.community.announcements import Announcement, entry_line
from bot.community.challenges import Entry
from bot.community.collab import Collab, Line, credits, imagery
from bot.community.outbox import NONCE_CHARS, Outbox, dumps, loads, nonce
from bot.community.uploads import MAX_FILE_BYTES, media_of
from bot.errors import UserError
from bot.keys import Keys
from bot.replies import Button


def upload(name: str, content_type: str, size: int) -> str:
    url = f"https://cdn.example/{name}"
    return json.dumps({"url": url, "filename": name, "content_type": content_type, "size": size})


def test_an_upload_is_read_with_its_type_and_size() -> None:
    media = media_of(upload("sea.png", "image/png", 1234))
    assert (media.filename, media.content_type, media.size, media.kind) == (
        "sea.png",
        "image/png",
        1234,
        "image",
    )
    song = media_of(upload("tide.ogg", "audio/ogg; codecs=opus", 10))
    assert song.content_type == "audio/ogg" and song.kind == "melody"
    untyped = media_of(upload("sketch.JPG", "", 10))  # Discord may leave the type out
    assert untyped.content_type == "image/jpeg"


def test_a_slack_file_permalink_is_taken_by_its_name() -> None:
    link = "https://team.slack.com/files/U0ALICE/F0123/harbour.webp"
    media = media_of(link)
    assert (media.url, media.filename, media.content_type, media.size) == (
        link,
        "harbour.webp",
        "image/webp",
        0,
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (upload("notes.pdf", "application/pdf", 10), "notes.pdf is not an image or audio file"),
        (upload("clip.mp4", "video/mp4", 10), "clip.mp4 is not an image or audio file"),
        (upload("big.wav", "audio/wav", MAX_FILE_BYTES + 1), "entries are at most 25 MB"),
        ("{not json", "That upload could not be read; attach the file again."),
        ("ftp://files.example/a.png", "Attach a file, or give a link to it"),
        ("https://files.example/page", "page is not an image or audio file"),
    ],
)
def test_other_files_are_refused_with_what_to_do(value: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        media_of(value)


def test_an_uploaded_entry_shows_its_file_and_only_pictures_show_as_images() -> None:
    base = {"number": 1, "author_id": "u1", "author_name": "Ann", "made": "human"}
    picture = Entry(**base, kind="image", text="dusk", url="https://c/x.png",
                    file_name="x.png", file_type="image/png", file_size=9)  # fmt: skip
    assert entry_line(picture) == "#1 [human, image] dusk (x.png https://c/x.png) — Ann"
    assert picture.image == "https://c/x.png"
    song = Entry(**base, kind="melody", url="https://c/t.mp3", file_name="t.mp3",
                 file_type="audio/mpeg")  # fmt: skip
    assert entry_line(song) == "#1 [human, melody] t.mp3 https://c/t.mp3 — Ann"
    assert song.image == ""
    linked = Entry(**base, kind="image", url="https://c/y.gif")
    assert linked.image == "https://c/y.gif"
    result = Entry(**base, kind="image", text="y.png", job_id="j1")
    assert result.image == ""


def test_the_illustration_prompt_is_the_theme_then_the_poems_picture_words() -> None:
    collab = Collab("c1", "discord", "g", "ch", "winter", "quatrain", 4, "u1")
    lines = [
        Line("The snow lies deep upon the hill", "u1", "Ann"),
        Line("And all the world is white and still", "", "atelier"),
        Line("The snow, the snow!", "u2", "Bo"),
    ]
    assert imagery(collab, lines) == "winter: snow, lies, deep, hill, world, white"
    assert credits(lines) == "Ann, atelier and Bo"
    assert credits(lines[:1]) == "Ann"
    untitled = Collab("c2", "discord", "g", "ch", "", "free", 4, "u1")
    assert imagery(untitled, lines[:1]) == "snow, lies, deep, hill"
    assert imagery(untitled, [Line("and so it is", "u1", "Ann")]) == "a poem"


def test_an_outbox_entry_keeps_everything_a_post_needs() -> None:
    note = Announcement(
        "discord", "123", "Voting is open", (Button("Vote #1", "cvote:c1:1"),), "c1:voting",
        (("#1", "https://c/x.png"),),
    )  # fmt: skip
    assert loads("discord", "c1:voting", dumps(note)) == note
    assert len(nonce(note.key)) == NONCE_CHARS and nonce(note.key) == nonce("c1:voting")
    assert nonce("c1:closed") != nonce("c1:voting")


async def test_the_outbox_gives_announcements_oldest_first_and_keeps_them_until_posted(
    redis_client: Redis, prefix: str
) -> None:
    outbox = Outbox(redis_client, keys=Keys(prefix))
    voting = Announcement("discord", "1", "Voting is open", key="c1:voting")
    closed = Announcement("discord", "1", "It has ended", key="c1:closed")
    await outbox.put(voting)
    await outbox.put(closed)
    await outbox.put(Announcement("discord", "1", "a repeat", key="c1:voting"))
    assert await outbox.take("discord") == [voting, closed]
    assert await outbox.take("discord") == []  # leased to the first taker
    await redis_client.delete(Keys(prefix).outbox_lease("discord", "c1:closed"))
    assert await outbox.take("discord") == []  # the close waits while voting is held
    await outbox.posted(voting)
    assert await outbox.take("discord") == [closed]  # a lapsed lease: posted again
    await outbox.posted(closed)
    assert await redis_client.hlen(Keys(prefix).outbox("discord")) == 0
