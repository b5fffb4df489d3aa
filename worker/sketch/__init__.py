"""The offline sketch renderer: generative art from a prompt and a seed, in numpy and Pillow.

No model and no download: the prompt's colour, thing and mood words choose the palette
(`palette`), the style chooses the composition, and the seed drives every random choice, so
the same prompt, seed, style and size always give the same picture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worker.sketch.canvas import Canvas, finish
from worker.sketch.geometric import mosaic, shapes
from worker.sketch.landscape import landscape
from worker.sketch.painterly import flow, washes
from worker.sketch.palette import Palette, palette_for, words_of
from worker.sketch.scene import Placed, compose, sky_colour
from worker.sketch.subjects import SUBJECTS, read_prompt

Composition = Callable[[Canvas], np.ndarray]


def _ink(canvas: Canvas) -> np.ndarray:
    return landscape(canvas, ink=True)


COMPOSITIONS: dict[str, Composition] = {
    "flow": flow,
    "watercolour": washes,
    "mosaic": mosaic,
    "shapes": shapes,
    "landscape": landscape,
    "ink": _ink,
}
# Catalogue styles that name a look rather than a composition.
STYLE_ALIASES = {"painting": "watercolour", "photo": "landscape"}
# Words that suggest a composition when the style is "any".
HINTS: dict[str, str] = {
    **dict.fromkeys(
        ("mountain", "mountains", "hills", "valley", "sea", "ocean", "lake", "horizon", "dunes"),
        "landscape",
    ),
    **dict.fromkeys(("wind", "river", "wave", "waves", "smoke", "hair", "current"), "flow"),
    **dict.fromkeys(("city", "tile", "tiles", "glass", "window", "cathedral", "pixel"), "mosaic"),
    **dict.fromkeys(("flower", "flowers", "bloom", "garden", "rain", "petals"), "watercolour"),
    **dict.fromkeys(("bauhaus", "geometry", "poster", "circle", "circles"), "shapes"),
}


@dataclass(frozen=True)
class Sketch:
    pixels: np.ndarray  # (height, width, 3) uint8
    composition: str
    palette: Palette
    placed: tuple[Placed, ...] = ()  # what the scene drew, in the prompt's order
    not_drawn: tuple[str, ...] = ()  # nouns in the prompt the renderer does not know

    def drawn(self) -> list[str]:
        """The things drawn, as a reader would name them: "a red boat", "3 birds"."""
        counts: dict[tuple[str, str], int] = {}
        for thing in self.placed:
            if thing.word:
                key = (thing.name, thing.colour_word)
                counts[key] = counts.get(key, 0) + 1
        out = []
        for (name, colour), n in counts.items():
            named = f"{colour} {name}" if colour else name
            article = "the" if name in _ONE else "an" if named[0] in "aeiou" else "a"
            out.append(f"{n} {named}s" if n > 1 else f"{article} {named}")
        return out


_ONE = frozenset({"sky", "sea", "sun", "moon", "river", "lake", "road", "field", "forest"})
# A colour bound to these still leads the palette: the land and hills are drawn from it.
_PALETTE_SUBJECTS = frozenset({"field", "mountain", "forest"})


def composition_for(style: str, prompt: str, seed: int) -> str:
    style = STYLE_ALIASES.get(style, style)
    if style in COMPOSITIONS:
        return style
    for word in words_of(prompt):
        if word in HINTS:
            return HINTS[word]
    names = sorted(COMPOSITIONS)
    return names[seed % len(names)]


def render(prompt: str, seed: int, *, style: str = "any", size: tuple[int, int]) -> Sketch:
    """A picture `size` = (width, height) pixels for the prompt, reproducible per seed."""
    width, height = size
    name = composition_for(style, prompt, seed)
    digest = hashlib.sha256(f"{prompt.strip().lower()}\x1f{name}".encode()).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
    asked, unknown = read_prompt(prompt)
    # A colour bound to a thing paints that thing, not the whole picture.
    bound = {a.colour_word for a in asked if a.colour_word and a.name not in _PALETTE_SUBJECTS}
    pal = palette_for(" ".join(w for w in words_of(prompt) if w not in bound), rng)
    words = frozenset(words_of(prompt)) | {a.name for a in asked}
    if any(SUBJECTS[a.name].place == "water" for a in asked):
        words |= {"sea"}  # boats float: the landscapes mirror a sea under them
    canvas = Canvas(width, height, pal, rng, words, sky=sky_colour(asked))
    img = COMPOSITIONS[name](canvas).astype(np.float32, copy=False)
    placed: list[Placed] = []
    if asked:
        # Its own random stream, so a prompt without things draws as it always did.
        scene_rng = np.random.default_rng([seed, int.from_bytes(digest[8:16], "little"), 2])
        placed = compose(canvas, img, asked, name, scene_rng)
    return Sketch(finish(canvas, img), name, pal, tuple(placed), tuple(unknown))
