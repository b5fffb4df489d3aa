"""An uploaded file entered in a challenge: where it is, its name, type and size. Pure.

Adapters hand the file over as the `file` option's value: Discord's uploaded attachment as
JSON (`{url, filename, content_type, size}`, from `data.resolved.attachments`), the text
forms a plain link. Only images and audio are taken, up to `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bot.errors import UserError

MAX_FILE_BYTES = 25 * 1024 * 1024  # Discord's upload limit without boosts
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
}


@dataclass(frozen=True)
class Media:
    url: str
    filename: str
    content_type: str
    size: int = 0  # 0: not known (a link)

    @property
    def kind(self) -> str:
        """What a challenge calls it: an image or a melody."""
        return "image" if self.content_type.startswith("image/") else "melody"

    def dumps(self) -> str:
        return json.dumps(asdict(self))


def guess_type(filename: str) -> str:
    name = filename.lower()
    return next((t for ext, t in EXTENSIONS.items() if name.endswith(ext)), "")


def media_of(value: str) -> Media:
    """The `file` option's value as a checked file: images and audio only, not too big."""
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
            media = Media(
                str(data["url"]),
                str(data["filename"]),
                str(data.get("content_type") or "").split(";")[0].strip().lower(),
                int(data.get("size") or 0),
            )
        except (ValueError, KeyError, TypeError):
            raise UserError("That upload could not be read; attach the file again.") from None
    else:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError("Attach a file, or give a link to it that starts with https://.")
        filename = parts.path.rsplit("/", 1)[-1] or parts.netloc
        media = Media(value, filename, guess_type(filename))
    content_type = media.content_type or guess_type(media.filename)
    if not content_type.startswith(("image/", "audio/")):
        raise UserError(
            f"{media.filename} is not an image or audio file; enter a PNG, JPEG, GIF or WebP "
            "image, or an MP3, WAV, OGG, FLAC, M4A or MIDI file (or text, or result:<id>)."
        )
    if media.size > MAX_FILE_BYTES:
        raise UserError(
            f"{media.filename} is {media.size / 1024 / 1024:.1f} MB; entries are at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB. Make it smaller and submit it again."
        )
    return Media(media.url, media.filename, content_type, media.size)
