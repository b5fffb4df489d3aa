"""The offline sketch renderer: deterministic per seed, different across seeds and styles,
the size asked for, palettes that follow the prompt's words, PNGs that say how they were
made. Pictures are small here to keep the suite quick; timings at 768x768 are measured
separately (docs/images.md), not asserted."""

from __future__ import annotations

import colorsys
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, JobKind, Origin
from worker.generators.image_output import read_png_record
from worker.generators.image_sketch import SKETCH_MODEL_ID, STEPS_NOTE, SketchGenerator
from worker.sketch import COMPOSITIONS, composition_for, render
from worker.sketch.palette import palette_for

SMALL = (160, 128)  # width, height: not square, so a swapped axis would show


def image_job(text: str, n: int = 0) -> Job:
    origin = Origin(platform="console", route="console:sketch", delivery_id=f"s-{n}")
    return build_job(parse(text), origin)


@pytest.mark.parametrize("style", sorted(COMPOSITIONS))
def test_same_seed_same_picture_other_seed_another(style: str) -> None:
    first = render("a lantern on the river", 7, style=style, size=SMALL)
    again = render("a lantern on the river", 7, style=style, size=SMALL)
    other = render("a lantern on the river", 8, style=style, size=SMALL)
    assert first.composition == style
    assert first.pixels.shape == (SMALL[1], SMALL[0], 3) and first.pixels.dtype == np.uint8
    assert np.array_equal(first.pixels, again.pixels)
    assert np.abs(first.pixels.astype(int) - other.pixels.astype(int)).mean() > 3
    # A real picture, not a flat field: tones vary across it.
    assert first.pixels.std() > 8


def test_styles_are_distinct_compositions() -> None:
    pictures = {s: render("harbour at dawn", 3, style=s, size=SMALL).pixels for s in COMPOSITIONS}
    styles = sorted(pictures)
    for i, a in enumerate(styles):
        for b in styles[i + 1 :]:
            diff = np.abs(pictures[a].astype(int) - pictures[b].astype(int)).mean()
            assert diff > 5, f"{a} and {b} look alike"


@pytest.mark.parametrize("size", [(768, 512), (512, 768), (64, 64)])
def test_size_is_respected(size: tuple[int, int]) -> None:
    assert render("fog", 1, style="mosaic", size=size).pixels.shape == (size[1], size[0], 3)


def mean_hue_share(pixels: np.ndarray, lo: float, hi: float) -> float:
    """The share of clearly coloured pixels whose hue lies in [lo, hi) degrees."""
    rgb = pixels.reshape(-1, 3).astype(np.float32) / 255
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in rgb[::7]])
    coloured = hsv[(hsv[:, 1] > 0.25) & (hsv[:, 2] > 0.15)]
    hue = coloured[:, 0] * 360
    inside = (hue >= lo) & (hue < hi) if lo < hi else (hue >= lo) | (hue < hi)
    return float(inside.mean()) if len(coloured) else 0.0


@pytest.mark.parametrize("style", sorted(COMPOSITIONS))
def test_colour_words_lead_the_palette(style: str) -> None:
    red = render("a crimson field", 5, style=style, size=SMALL).pixels
    green = render("an emerald field", 5, style=style, size=SMALL).pixels
    r, g, b = red.reshape(-1, 3).mean(axis=0)
    assert r > g + 10 and r > b + 5, f"crimson: mean colour {(r, g, b)}"
    gr, gg, gb = green.reshape(-1, 3).mean(axis=0)
    assert gg > gr + 5, f"emerald: mean colour {(gr, gg, gb)}"
    assert mean_hue_share(red, 330, 20) > 0.5
    assert mean_hue_share(green, 100, 180) > 0.5


def test_palette_words_and_moods() -> None:
    rng = np.random.default_rng(0)
    pal = palette_for("a crimson sea, melancholy", rng)
    assert pal.colours[0] == pytest.approx((0xB0 / 255, 0x12 / 255, 0x2B / 255))
    assert pal.words == ("crimson", "sea", "melancholy") and pal.mood == "melancholy"
    assert not pal.dark and sum(pal.ground) / 3 > 0.85  # paper
    night = palette_for("a lighthouse at midnight", np.random.default_rng(0))
    assert night.dark and sum(night.ground) / 3 < 0.3

    def saturation(prompt: str) -> float:
        colours = palette_for(prompt, np.random.default_rng(1)).colours
        return float(np.mean([colorsys.rgb_to_hsv(*c)[1] for c in colours]))

    assert saturation("a gloomy harbour") < saturation("a vibrant harbour") - 0.2


def test_style_any_follows_the_prompt_then_the_seed() -> None:
    assert composition_for("photo", "x", 0) == "landscape"
    assert composition_for("painting", "x", 0) == "watercolour"
    assert composition_for("any", "mountains at dusk", 0) == "landscape"
    assert composition_for("any", "a garden after rain", 0) == "watercolour"
    picked = {composition_for("any", "a thought", seed) for seed in range(12)}
    assert picked == set(COMPOSITIONS)


def test_generator_makes_pngs_that_say_how_they_were_made() -> None:
    jobs = [
        image_job("/image a crimson kite style:flow size:768x512 seed:42", 1),
        image_job("/image a quiet pond style:watercolour seed:43 steps:4", 2),
    ]
    events: list[float] = []
    outputs = SketchGenerator().generate(jobs, lambda fraction, _: events.append(fraction))
    assert events == [0.5, 1.0]
    first, second = outputs
    assert not first.error and len(first.files) == 1
    file = first.files[0]
    assert file.content_type == "image/png" and file.filename.endswith(".png")
    assert (
        file.description
        == "A sketch of colours and shapes only; not drawn: kite (asked: a crimson kite)"
    )
    with Image.open(io.BytesIO(file.data)) as img:
        assert img.format == "PNG" and img.size == (768, 512)
        assert img.info["Source"] == f"{SKETCH_MODEL_ID} (offline sketch renderer)"
        assert "Seed: 42" in img.info["parameters"]
    record = read_png_record(file.data)
    assert record["generator"] == "offline sketch renderer"
    assert record["model"] == SKETCH_MODEL_ID and record["seed"] == 42
    assert record["prompt"] == "a crimson kite"
    assert record["settings"] == {
        "style": "flow",
        "size": "768x512",
        "composition": "flow",
        "palette": "crimson",
        "not_drawn": "kite",
    }
    assert first.settings == record["settings"]
    # Steps mean nothing to the renderer: it says so instead of pretending.
    assert second.note == STEPS_NOTE and "steps" not in second.settings
    assert read_png_record(second.files[0].data)["settings"]["size"] == "768x768"  # type: ignore[index]


def test_an_output_check_withholds_one_picture() -> None:
    def no_kites(job: Job, image: Image.Image) -> str | None:
        assert image.size == (512, 512)
        return "kites are not allowed here" if "kite" in job.prompt else None

    gen = SketchGenerator(checks=[no_kites])
    kite, pond = gen.generate(
        [
            image_job("/image a kite size:512x512 seed:1", 1),
            image_job("/image a pond size:512x512 seed:1", 2),
        ]
    )
    assert "withheld: kites are not allowed here" in kite.error and not kite.files
    assert not pond.error and len(pond.files) == 1


def test_image_jobs_batch_by_size_and_steps() -> None:
    a = image_job("/image a cat size:512x512 steps:4", 1)
    b = image_job("/image a dog style:ink size:512x512 steps:4", 2)
    c = image_job("/image a cat size:768x768 steps:4", 3)
    d = image_job("/image a cat size:512x512 steps:8", 4)
    assert a.kind is JobKind.IMAGE
    assert a.batch_key() == b.batch_key()  # style only changes the prompt
    assert len({a.batch_key(), c.batch_key(), d.batch_key()}) == 3


def test_the_examples_in_the_docs_are_what_their_commands_make() -> None:
    root = Path(__file__).resolve().parents[3]
    doc = (root / "docs" / "images.md").read_text()
    pattern = (
        r'python -m worker\.sketch "([^"]+)" --seed (\d+) --style (\w+) '
        r"--size (\d+)x(\d+) --out (docs/images/\w+\.png)"
    )
    examples = re.findall(pattern, doc)
    assert len(examples) == 10
    for prompt, seed, style, width, height, out in examples:
        made = render(prompt, int(seed), style=style, size=(int(width), int(height))).pixels
        with Image.open(root / out) as img:
            shown = np.asarray(img.convert("RGB"))
        assert shown.shape == made.shape
        assert np.abs(shown.astype(int) - made.astype(int)).mean() < 0.5, out
