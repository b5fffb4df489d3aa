"""What every image generator shares: the size option, PNG files with their settings in
text chunks, and the output checks a picture passes before it is posted.

Output checks are pluggable: any callable `(job, image) -> reason or None`, the reason a
short phrase ("the nudity detector flagged it"). The diffusers generator adds the model's
own safety checker where the pipeline has one. What happens to a flagged image is the
server's policy, carried by the job (`Job.image_safety`, see `finish_image`): `strict`
withholds it with the reason, `blur` posts it heavily blurred as a spoiler with a note,
`off` posts it as made with a note. Every flagged image is also noted for the server's
moderators (`Output.flag`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence

from PIL import Image, ImageFilter
from PIL.PngImagePlugin import PngInfo

from bot.desk.moderation import (
    IMAGE_CHECK,
    Flag,
    image_blurred_note,
    image_shown_note,
    image_withheld_text,
)
from bot.jobs import Job, OptionValue
from worker.generators.base import File, Output

DEFAULT_SIZE = "768x768"
MAX_SIDE = 2048
PNG_KEY = "atelier"  # the text chunk with the full settings as JSON
SPOILER_PREFIX = "SPOILER_"  # Discord shows a file named so behind a spoiler cover
BLUR_FRACTION = 0.08  # blur radius as a share of the longer side: shapes gone, colours left

ImageCheck = Callable[[Job, Image.Image], str | None]


def size_of(job: Job) -> tuple[int, int]:
    """(width, height) from the job's `size` option, e.g. "768x512"."""
    raw = str(job.options.get("size", DEFAULT_SIZE)).lower()
    try:
        width, height = (int(part) for part in raw.split("x"))
    except ValueError:
        raise ValueError(f"size {raw!r} is not WIDTHxHEIGHT") from None
    if not (64 <= width <= MAX_SIDE and 64 <= height <= MAX_SIDE):
        raise ValueError(f"size {raw!r} is outside 64..{MAX_SIDE} pixels")
    return width, height


def withheld(checks: Sequence[ImageCheck], job: Job, image: Image.Image) -> str:
    """The first check's reason to withhold the image, or "" when every check passes."""
    for check in checks:
        reason = check(job, image)
        if reason:
            return reason
    return ""


def finish_image(
    job: Job,
    image: Image.Image,
    reason: str,
    *,
    model: str,
    generator: str,
    settings: dict[str, OptionValue],
    note: str = "",
    description: str = "",
) -> Output:
    """The output for one image: as made when nothing flagged it (`reason` empty), else what
    the job's server policy says. The provenance settings say what was done. `description`
    is the alt text when the generator knows better than the prompt what it drew."""
    kw = {"model": model, "generator": generator, "description": description}
    if not reason:
        file = png_file(job, image, settings=settings, **kw)
        return Output(settings=settings, note=note, files=[file])
    flag = Flag(IMAGE_CHECK, detail=reason)
    policy = job.image_safety
    if policy == "strict":
        error = image_withheld_text(reason)
        return Output(settings=settings, error=error, flag=flag, action="withheld an image")
    if policy == "blur":
        settings = {**settings, "safety": "flagged, blurred"}
        radius = max(image.size) * BLUR_FRACTION
        shown = image.convert("RGB").filter(ImageFilter.GaussianBlur(radius))
        file = png_file(job, shown, settings=settings, **kw)
        file = File(SPOILER_PREFIX + file.filename, file.content_type, file.data, file.description)
        return Output(
            settings=settings,
            note=image_blurred_note(reason),
            files=[file],
            flag=flag,
            action="posted a flagged image, blurred",
        )
    settings = {**settings, "safety": "flagged, shown (policy off)"}
    file = png_file(job, image, settings=settings, **kw)
    return Output(
        settings=settings,
        note=image_shown_note(reason),
        files=[file],
        flag=flag,
        action="posted a flagged image as made (image_safety: off)",
    )


def png_file(
    job: Job,
    image: Image.Image,
    *,
    model: str,
    generator: str,
    settings: Mapping[str, OptionValue],
    description: str = "",
) -> File:
    """The image as a PNG whose text chunks say how it was made."""
    record = {
        "prompt": job.prompt,
        "seed": job.seed,
        "model": model,
        "generator": generator,
        "settings": dict(settings),
        "job": job.id,
    }
    info = PngInfo()
    info.add_text("Title", job.prompt[:200])
    info.add_text("Software", "Atelier")
    info.add_text("Source", f"{model} ({generator})")
    info.add_text("Description", job.prompt)
    # The one-line form other image tools read: prompt, then "Key: value" settings.
    parts = [f"Seed: {job.seed}", f"Model: {model}"]
    parts += [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in settings.items()]
    info.add_text("parameters", f"{job.prompt}\n{', '.join(parts)}")
    info.add_text(PNG_KEY, json.dumps(record, ensure_ascii=False, sort_keys=True))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", pnginfo=info, optimize=False)
    return File(
        filename=f"atelier-{job.id[:8]}-{job.seed}.png",
        content_type="image/png",
        data=buffer.getvalue(),
        description=alt_text(job, description),
    )


def alt_text(job: Job, description: str = "") -> str:
    """Alt text for the posted image: what the generator says it drew, else the prompt (a
    captioning model could do better)."""
    text = " ".join((description or job.prompt).split())
    return text if len(text) <= 1000 else text[:999] + "…"


def read_png_record(data: bytes) -> dict[str, object]:
    """The settings a PNG made here carries (empty when it has none)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        raw = img.info.get(PNG_KEY, "")
    loaded = json.loads(raw) if raw else {}
    return loaded if isinstance(loaded, dict) else {}
